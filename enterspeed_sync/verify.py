"""
The consistency check behind ``manage.py enterspeed_verify``: compare what the site has
published with what the ledger says Enterspeed last accepted, and optionally queue the
jobs that repair the difference.

The expected payload of each live page, image, document and snippet is computed by the
configured handlers themselves, through a client that captures instead of sending, so custom
handlers are verified too. Enterspeed has no read API, so an entity removed on Enterspeed's
side behind our back is not visible here; ``enterspeed_seed --force`` re-sends everything.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from enterspeed_sync import sending
from enterspeed_sync.client import IngestResponse
from enterspeed_sync.handlers import find_handler, get_handlers
from enterspeed_sync.jobs import JobSpec, queue_jobs
from enterspeed_sync.ledger import payload_hash
from enterspeed_sync.models import (
    Destination,
    EnterspeedJob,
    EntityType,
    JobState,
    JobType,
    LedgerEntry,
)
from enterspeed_sync.seeding import published_specs

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


def expected_entities(errors: list[tuple[str, str]] | None = None) -> Iterator[tuple]:
    """
    ``(spec, entity)`` for every live page, image, document and snippet, as the configured
    handlers would send it now. Objects the handlers cannot map are added to ``errors``.
    """
    handlers = get_handlers()
    for _kind, spec in published_specs():
        job = spec.as_job()
        handler = find_handler(job, handlers)
        if handler is None:
            continue
        capture = CapturingClient()
        try:
            handler.handle(job, capture)
        except Exception as exc:  # noqa: BLE001  (one broken object must not stop the check)
            if errors is not None:
                errors.append((job.origin_id, f"{type(exc).__name__}: {exc}"))
            continue
        for origin_id, entity in capture.saved.items():
            yield spec, origin_id, entity


def verify(*, repair: bool = False) -> VerifyReport:
    """Compare what the site publishes with the ledger; ``repair`` queues fixes."""
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
    return JobSpec(
        entity_type=item.entity_type,
        entity_id=item.entity_id,
        job_type=JobType.DELETE if item.kind == ORPHAN else JobType.PUBLISH,
        origin_id=item.origin_id,
        locale=item.locale,
    )
