"""
The consistency check behind ``manage.py enterspeed_verify``: compare what the site has
published with what the ledger says Enterspeed last accepted, and optionally queue the
jobs that repair the difference.

The expected payload of each live page is computed by the configured handlers themselves,
through a client that captures instead of sending, so custom handlers are verified too.
Enterspeed has no read API, so an entity removed on Enterspeed's side behind our back is
not visible here; ``enterspeed_seed --force`` re-sends everything.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from enterspeed_sync import sending
from enterspeed_sync.client import IngestResponse
from enterspeed_sync.handlers import find_handler, get_handlers
from enterspeed_sync.jobs import BULK_CHUNK_SIZE, JobSpec, page_job_spec, queue_jobs
from enterspeed_sync.ledger import payload_hash
from enterspeed_sync.mapping import get_base_page_model, page_origin_id
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


@dataclass(frozen=True)
class Drift:
    kind: str
    origin_id: str
    entity_type: str
    entity_id: str
    locale: str

    def __str__(self) -> str:
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
    #: Pages the handlers could not map: (origin id, error).
    errors: list[tuple[str, str]] = field(default_factory=list)
    repaired: int = 0

    def count(self, kind: str) -> int:
        return sum(1 for item in self.drift if item.kind == kind)


class CapturingClient:
    """Stands in for the ingest client: records what a handler would send."""

    def __init__(self) -> None:
        self.saved: dict[str, Mapping[str, Any]] = {}
        self.deleted: set[str] = set()

    def save(self, origin_id: str, entity: Mapping[str, Any], **kwargs: Any) -> IngestResponse:
        self.saved[origin_id] = entity
        self.deleted.discard(origin_id)
        return IngestResponse(status=200, message="captured")

    def delete(self, origin_id: str, **kwargs: Any) -> IngestResponse:
        self.deleted.add(origin_id)
        self.saved.pop(origin_id, None)
        return IngestResponse(status=200, message="captured")

    def close(self) -> None:
        pass


def expected_page_entities(errors: list[tuple[str, str]] | None = None) -> Iterator[tuple]:
    """
    ``(page pk, locale, origin id, entity)`` for every live page, as the configured
    handlers would send it now. Pages the handlers cannot map are added to ``errors``.
    """
    handlers = get_handlers()
    pages = get_base_page_model().objects.live().filter(depth__gt=1).select_related("locale")
    for page in pages.order_by("path").iterator(chunk_size=BULK_CHUNK_SIZE):
        locale = page.locale.language_code
        job = EnterspeedJob(
            entity_type=EntityType.PAGE,
            entity_id=str(page.pk),
            locale=locale,
            destination=Destination.PUBLISH,
            job_type=JobType.PUBLISH,
            origin_id=page_origin_id(page.pk),
            content_type_id=page.content_type_id,
        )
        handler = find_handler(job, handlers)
        if handler is None:
            continue
        capture = CapturingClient()
        try:
            handler.handle(job, capture)
        except Exception as exc:  # noqa: BLE001  (one broken page must not stop the check)
            if errors is not None:
                errors.append((job.origin_id, f"{type(exc).__name__}: {exc}"))
            continue
        for origin_id, entity in capture.saved.items():
            yield page.pk, locale, origin_id, entity


def verify(*, repair: bool = False) -> VerifyReport:
    """Compare the site's published pages with the ledger; ``repair`` queues fixes."""
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
    for page_id, locale, origin_id, entity in expected_page_entities(report.errors):
        expected.add(origin_id)
        report.checked += 1
        if origin_id in in_flight:
            report.in_flight += 1
            continue
        if origin_id in failed:
            report.failed += 1
            continue
        entry = ledger.get(origin_id)
        if entry is None or not entry.is_present:
            report.drift.append(Drift(MISSING, origin_id, EntityType.PAGE, str(page_id), locale))
        elif entry.payload_hash != payload_hash(entity):
            report.drift.append(Drift(STALE, origin_id, EntityType.PAGE, str(page_id), locale))
        else:
            report.in_sync += 1
    for origin_id, entry in ledger.items():
        # Only pages can be enumerated here; other entity types are verified by their own
        # sources once they have one.
        if entry.entity_type != EntityType.PAGE or not entry.is_present:
            continue
        if origin_id in expected or origin_id in in_flight:
            continue
        report.drift.append(
            Drift(ORPHAN, origin_id, entry.entity_type, entry.entity_id, entry.locale)
        )
    if repair and report.drift:
        report.repaired = queue_jobs(_repair_spec(item) for item in report.drift)
    if report.drift:
        logger.warning(
            "Enterspeed drift: %d missing, %d stale, %d orphaned entities%s",
            report.count(MISSING),
            report.count(STALE),
            report.count(ORPHAN),
            " (repair queued)" if repair else "",
        )
    return report


def _repair_spec(item: Drift) -> JobSpec:
    if item.kind == ORPHAN:
        return JobSpec(
            entity_type=item.entity_type,
            entity_id=item.entity_id,
            job_type=JobType.DELETE,
            origin_id=item.origin_id,
            locale=item.locale,
        )
    return page_job_spec(item.entity_id, item.locale, JobType.PUBLISH)
