"""
The consistency check behind ``manage.py enterspeed_verify``: compare what the site has
published with what the ledger says Enterspeed last accepted, and optionally queue the
jobs that repair the difference.

The expected payload of each live page, image, document and snippet is computed by the
configured handlers themselves (their ``operations``, as processing sends them), so custom
handlers are verified too. Enterspeed has no read API, so an entity removed on Enterspeed's
side behind our back is not visible here; ``enterspeed_seed --force`` re-sends everything.

An entity whose payload is older only because something it references (a linked page's
title or URL, e.g. after an ordinary move) was sent after it is not drift but *catch-up*:
reported apart, never failing ``--fail-on-drift``, and re-sent on request (``catch_up``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from django.contrib.contenttypes.models import ContentType
from wagtail.models import ReferenceIndex

from enterspeed_sync.capture.outbox import JobSpec, as_bulk, queue_jobs
from enterspeed_sync.capture.seeding import published_specs
from enterspeed_sync.delivery import gate as sending
from enterspeed_sync.delivery.bulk import Operation
from enterspeed_sync.delivery.ledger import payload_hash
from enterspeed_sync.handlers import find_handler, get_handlers, sendable_operations
from enterspeed_sync.mapping.identity import (
    get_base_page_model,
    get_entity_type,
    get_model_for_origin_id,
    get_object_for_origin_id,
    origin_id_for,
    page_origin_id,
)
from enterspeed_sync.models import (
    Destination,
    EnterspeedJob,
    EntityType,
    JobState,
    JobType,
    LedgerEntry,
)

logger = logging.getLogger(__name__)

MISSING = "missing"  # published on the site, never accepted by Enterspeed (or deleted there)
STALE = "stale"  # Enterspeed has an older payload than the site would send now
ORPHAN = "orphan"  # Enterspeed has it, the site does not publish it any more
#: Stale only because an entity it references changed (title, URL) after it was sent.
CATCH_UP = "catch-up"


@dataclass(frozen=True)
class Drift:
    kind: str
    origin_id: str
    entity_type: str
    entity_id: str
    locale: str
    #: For catch-up: the referenced entity that was sent after this one.
    because_of: str = ""

    def __str__(self) -> str:
        if self.because_of:
            return f"{self.kind}: {self.origin_id} (links to {self.because_of}, sent since)"
        return f"{self.kind}: {self.origin_id}"


@dataclass
class VerifyReport:
    checked: int = 0
    in_sync: int = 0
    #: Entities with a pending or processing job: they are on their way, not drift.
    in_flight: int = 0
    #: Entities with a failed job: already reported there, not counted again as drift.
    failed: int = 0
    drift: list[Drift] = field(default_factory=list)
    #: Stale only because something they reference changed since: normal editing.
    catch_up: list[Drift] = field(default_factory=list)
    #: Pages the handlers could not map: (origin id, error).
    errors: list[tuple[str, str]] = field(default_factory=list)
    repaired: int = 0
    #: Catch-up entities queued to be sent again.
    caught_up: int = 0

    def count(self, kind: str) -> int:
        return sum(1 for item in self.drift if item.kind == kind)


def expected_entities(errors: list[tuple[str, str]] | None = None) -> Iterator[tuple]:
    """
    ``(spec, origin_id, entity)`` for every entity a live page, image, document and
    snippet is saved as, as the configured handlers would send it now. Objects the handlers
    cannot map (or whose entity breaks the ingest contract) are added to ``errors``.
    """
    handlers = get_handlers()
    for _kind, spec in published_specs():
        job = spec.as_job()
        handler = find_handler(job, handlers)
        if handler is None:
            continue
        try:
            operations = sendable_operations(handler, job)
        except Exception as exc:  # noqa: BLE001  (one broken object must not stop the check)
            if errors is not None:
                errors.append((job.origin_id, f"{type(exc).__name__}: {exc}"))
            continue
        final: dict[str, Operation] = {}  # per origin id, its last instruction stays
        for operation in operations:
            final.pop(operation.origin_id, None)
            final[operation.origin_id] = operation
        for origin_id, operation in final.items():
            if operation.action == "save":
                yield spec, origin_id, operation.entity


def verify(*, repair: bool = False, catch_up: bool = False) -> VerifyReport:
    """
    Compare what the site publishes with the ledger; ``repair`` queues fixes for drift,
    ``catch_up`` re-sends the entities that only lag behind something they reference.
    """
    report = VerifyReport()
    source = sending.current_source()
    ledger = {
        entry.origin_id: entry
        for entry in LedgerEntry.objects.filter(
            key_hash=source.key_hash, destination=Destination.PUBLISH
        )
    }
    jobs = EnterspeedJob.objects.filter(destination=Destination.PUBLISH)
    in_flight = set(
        jobs.filter(state__in=[JobState.PENDING, JobState.PROCESSING]).values_list(
            "origin_id", flat=True
        )
    )
    failed = set(jobs.failed().values_list("origin_id", flat=True))
    expected: set[str] = set()
    for spec, origin_id, entity in expected_entities(report.errors):
        expected.add(origin_id)
        report.checked += 1
        if origin_id in in_flight:
            report.in_flight += 1
            continue
        if origin_id in failed:
            report.failed += 1
            continue
        entry = ledger.get(origin_id)
        kind = MISSING if entry is None or not entry.is_present else STALE
        if kind == STALE and entry.payload_hash == payload_hash(entity):
            report.in_sync += 1
            continue
        report.drift.append(Drift(kind, origin_id, spec.entity_type, spec.entity_id, spec.locale))
    report.drift, report.catch_up = _split_catch_up(report.drift, ledger)
    for origin_id, entry in ledger.items():
        # Pages, images, documents and snippets are all enumerated above; a custom entity
        # type has no enumeration here, so it cannot be called an orphan.
        if entry.entity_type == EntityType.CUSTOM or not entry.is_present:
            continue
        if origin_id in expected or origin_id in in_flight:
            continue
        report.drift.append(
            Drift(ORPHAN, origin_id, entry.entity_type, entry.entity_id, entry.locale)
        )
    if repair and report.drift:
        report.repaired = queue_jobs(as_bulk(_repair_spec(item) for item in report.drift))
    if catch_up and report.catch_up:
        report.caught_up = queue_jobs(as_bulk(_repair_spec(item) for item in report.catch_up))
    if report.drift:
        logger.warning(
            "Enterspeed drift: %d missing, %d stale, %d orphaned entities%s",
            report.count(MISSING),
            report.count(STALE),
            report.count(ORPHAN),
            " (repair queued)" if repair else "",
        )
    if report.catch_up:
        logger.info(
            "Enterspeed catch-up: %d entities link to something sent after them%s",
            len(report.catch_up),
            " (re-sending them)" if catch_up else "",
        )
    return report


def _split_catch_up(drift: list[Drift], ledger: dict[str, LedgerEntry]) -> tuple[list, list]:
    """
    Set apart the stale entities that are explained by a reference: an entity they
    reference (Wagtail's reference index: rich-text links, choosers, blocks) was sent after
    them, so its title or URL in their payload is older, while they were not published
    since they were sent. ``(drift, catch_up)``.
    """
    stale = [item for item in drift if item.kind == STALE]
    references = _references_of([item.origin_id for item in stale])
    explained: dict[str, str] = {}
    for item in stale:
        sent_at = ledger[item.origin_id].sent_at
        if _published_since(item.origin_id, sent_at):
            continue  # its own change was missed: real drift
        newer = [
            target
            for target in sorted(references.get(item.origin_id, ()))
            if target in ledger and ledger[target].sent_at > sent_at
        ]
        if newer:
            explained[item.origin_id] = newer[0]
    return (
        [item for item in drift if item.origin_id not in explained],
        [
            replace(item, kind=CATCH_UP, because_of=explained[item.origin_id])
            for item in stale
            if item.origin_id in explained
        ],
    )


def _references_of(origin_ids: list[str]) -> dict[str, set[str]]:
    """``{origin id: origin ids it references}``, from Wagtail's reference index."""
    by_model: dict[type, dict[str, str]] = {}
    for origin_id in origin_ids:
        try:
            model, pk = get_model_for_origin_id(origin_id)
        except LookupError:
            continue
        by_model.setdefault(model, {})[str(pk)] = origin_id
    found: dict[str, set[str]] = {}
    page_model = get_base_page_model()
    linked_pages: dict[str, set[str]] = {}  # referrer's origin id -> page pks it links to
    for model, ids in by_model.items():
        for pk, obj in model._default_manager.in_bulk(list(ids)).items():
            targets = found.setdefault(ids[str(pk)], set())
            rows = ReferenceIndex.get_references_for_object(obj)
            for to_type, to_id in rows.values_list("to_content_type_id", "to_object_id"):
                target = ContentType.objects.get_for_id(to_type).model_class()
                if target is not None and get_entity_type(target) is not None:
                    targets.add(origin_id_for(target, to_id))
                    if issubclass(target, page_model):
                        linked_pages.setdefault(ids[str(pk)], set()).add(to_id)
    # A link to a page shows its variant in the linking object's locale (a translation,
    # a synced alias): any variant sent since explains a stale link.
    variants = _page_variants({pk for pks in linked_pages.values() for pk in pks})
    for origin_id, pks in linked_pages.items():
        found[origin_id].update(
            page_origin_id(pk) for to_id in pks for pk in variants.get(to_id, ())
        )
    return found


def _page_variants(page_ids: set[str]) -> dict[str, list[int]]:
    """``{page id: pks of every page with its translation key}`` (itself included)."""
    page_ids = {page_id for page_id in page_ids if page_id.isdigit()}
    page_model = get_base_page_model()
    key_of = dict(page_model.objects.filter(pk__in=page_ids).values_list("pk", "translation_key"))
    by_key: dict[Any, list[int]] = {}
    rows = page_model.objects.filter(translation_key__in=set(key_of.values()))
    for pk, translation_key in rows.values_list("pk", "translation_key"):
        by_key.setdefault(translation_key, []).append(pk)
    return {page_id: by_key.get(key_of.get(int(page_id)), []) for page_id in page_ids}


def _published_since(origin_id: str, sent_at) -> bool:
    """Whether the object was published after ``sent_at`` (for models that record it)."""
    try:
        obj = get_object_for_origin_id(origin_id)
    except LookupError:
        return False
    when = getattr(obj, "last_published_at", None)
    return when is not None and when > sent_at


def _repair_spec(item: Drift) -> JobSpec:
    return JobSpec(
        entity_type=item.entity_type,
        entity_id=item.entity_id,
        job_type=JobType.DELETE if item.kind == ORPHAN else JobType.PUBLISH,
        origin_id=item.origin_id,
        locale=item.locale,
    )
