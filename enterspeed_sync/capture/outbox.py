"""
The outbox: job rows written in the caller's transaction.

A job row is the instruction "make Enterspeed hold this entity as it is now" (publish) or
"remove it" (delete). It is written in the transaction of the change that caused it, so it
rolls back with that change, and an entity has at most one pending job: a newer instruction
replaces the pending one (newest wins). Processing is requested only after commit
(``enqueue.request_processing``), so a worker never looks for a job, or for content, that is
not visible yet.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from itertools import islice

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest, Least
from django.utils import timezone

from enterspeed_sync.capture.enqueue import request_processing
from enterspeed_sync.conf import conf
from enterspeed_sync.models import (
    ENTITY_KEY_FIELDS,
    Destination,
    EnterspeedJob,
    JobPriority,
    JobState,
)

logger = logging.getLogger(__name__)

#: Rows read or written per statement when many jobs are queued at once.
BULK_CHUNK_SIZE = 500

#: Queueing at least this many jobs at once refreshes the job table's statistics
#: (``refresh_job_statistics``).
STATISTICS_AFTER = 1000

_local = threading.local()


@dataclass(frozen=True)
class JobSpec:
    """What to do with one entity in one Enterspeed source."""

    entity_type: str
    entity_id: str
    job_type: str
    origin_id: str
    locale: str = ""
    destination: str = Destination.PUBLISH
    content_type_id: int | None = None
    #: Seconds a new job waits before its first attempt (a preview's settle time). A job
    #: that is already pending keeps its time, so a burst of changes cannot postpone it.
    delay: float = 0.0
    #: Who waits for it: a person's change (the default) or bulk work (``as_bulk``).
    priority: int = JobPriority.PERSON

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.entity_type, str(self.entity_id), self.locale, self.destination)

    def as_job(self, **fields) -> EnterspeedJob:
        """An unsaved job row for this spec (``fields`` set the rest, e.g. its state)."""
        return EnterspeedJob(
            entity_type=self.entity_type,
            entity_id=str(self.entity_id),
            locale=self.locale,
            destination=self.destination,
            job_type=self.job_type,
            origin_id=self.origin_id,
            content_type_id=self.content_type_id,
            priority=self.priority,
            **fields,
        )


@contextmanager
def pause_sync() -> Iterator[None]:
    """
    Create no jobs inside this block, e.g. during a bulk import::

        with pause_sync():
            import_ten_thousand_pages()
        call_command("enterspeed_seed")

    Pauses only the current thread; nests.
    """
    _local.paused = getattr(_local, "paused", 0) + 1
    try:
        yield
    finally:
        _local.paused -= 1


def is_sync_active() -> bool:
    return conf.ENABLED and not getattr(_local, "paused", 0)


def as_bulk(specs: Iterable[JobSpec]) -> Iterator[JobSpec]:
    """
    The specs as bulk work (a seed, a repair, a fan-out nobody clicked for), lazily: claimed
    after every person's change, in the share of each batch kept for bulk (docs/jobs.md).
    """
    for spec in specs:
        yield replace(spec, priority=JobPriority.BULK)


def queue_job(spec: JobSpec) -> None:
    """
    Record ``spec`` as the pending instruction for its entity: a newer instruction
    replaces the older pending one (newest wins), so an entity has at most one pending job.
    """
    queue_jobs([spec])


def queue_jobs(specs: Iterable[JobSpec]) -> int:
    """Queue many jobs in chunks (for moves, tree deletes and seeding). Returns the count."""
    count = 0
    specs = iter(specs)
    while chunk := list(islice(specs, BULK_CHUNK_SIZE)):
        _upsert_pending(chunk)
        count += len(chunk)
    if count >= STATISTICS_AFTER:
        refresh_job_statistics()
    if count:
        request_processing(parallel=count > conf.BATCH_SIZE)
    return count


def refresh_job_statistics() -> None:
    """
    Let PostgreSQL count the job table again (``ANALYZE``), so the workers' claims are
    planned for the jobs just queued. A seed turns a table of a few rows into one of
    thousands, and autovacuum notices only a minute or more later; until then PostgreSQL
    plans each claim for the small table and walks every pending job against every job in
    flight: 0.5 s a claim at 10,000 pending jobs instead of 10 ms, which made a 10,000-page
    seed take 69 s instead of 14 (docs/performance.md). ANALYZE reads a sample of the table
    and takes tens of milliseconds; it runs in the caller's transaction, which sees the new
    rows. A database user that does not own the table only gets a warning from PostgreSQL,
    and the workers wait for autovacuum as before. Other databases plan without it.
    """
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        return
    table = connection.ops.quote_name(EnterspeedJob._meta.db_table)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")
    except DatabaseError:
        # Statistics are an optimisation: a lock or statement timeout must not fail the seed.
        logger.warning("Could not refresh the statistics of %s", table, exc_info=True)


def _upsert_pending(specs: list[JobSpec]) -> None:
    # Later specs for the same key win, as they would have one at a time.
    by_key = {spec.key: spec for spec in specs}
    if len(by_key) == 1:
        # An editor's change: no read and no transaction of its own (see _write_one).
        (spec,) = by_key.values()
        write, atomic = partial(_write_one, spec), savepoint_if_in_transaction
    else:
        write, atomic = partial(_write_pending, by_key), transaction.atomic
    for _attempt in range(3):
        try:
            with atomic():
                write()
            return
        except IntegrityError:
            # Another transaction inserted a pending job for one of these entities
            # between our read and our insert; the next round updates it instead.
            logger.info("Concurrent job insert for the same entity; retrying the upsert")
    with atomic():
        write()


def savepoint_if_in_transaction():
    """
    A savepoint when the caller is in a transaction, so a failure inside rolls back only
    what was done inside; nothing in autocommit mode, where every statement is atomic.
    """
    return transaction.atomic() if transaction.get_connection().in_atomic_block else nullcontext()


def _write_one(spec: JobSpec) -> None:
    """
    ``_write_pending`` for one entity in at most two statements, each atomic on its own, so
    an editor's change needs no transaction: update the entity's pending job in place,
    else insert one. A worker that claims the pending job first leaves the update nothing
    to change, so the insert makes a new pending job; a concurrent insert makes ours fail
    on the one-pending-job constraint, and the caller's next round updates that one.
    """
    now = timezone.now()
    fields = {
        "job_type": spec.job_type,
        "origin_id": spec.origin_id,
        # A person's change raises a pending bulk job to their priority, never lowers one.
        "priority": Greatest(F("priority"), Value(int(spec.priority))),
    }
    if spec.content_type_id:
        fields["content_type_id"] = spec.content_type_id
    updated = (
        EnterspeedJob.objects.pending()
        .filter(**dict(zip(ENTITY_KEY_FIELDS, spec.key, strict=True)))
        .update(
            **fields,
            updated_at=now,
            # As in _write_pending: due now, or sooner than a retry it replaces, but not
            # before a timed-out request of the old one can no longer land.
            next_attempt_at=Greatest(
                Value(now), Least(F("next_attempt_at"), Value(now + _settle_time()))
            ),
            attempts=0,
        )
    )
    if not updated:
        _new_pending_job(spec, now).save(force_insert=True)


def _new_pending_job(spec: JobSpec, now) -> EnterspeedJob:
    """The unsaved pending job of an entity that has none, due after the spec's delay."""
    due = now + timedelta(seconds=spec.delay) if spec.delay > 0 else now
    return spec.as_job(state=JobState.PENDING, created_at=now, updated_at=now, next_attempt_at=due)


def _write_pending(by_key: dict[tuple[str, str, str, str], JobSpec]) -> None:
    now = timezone.now()
    existing = {
        job.entity_key: job
        for job in EnterspeedJob.objects.pending()
        .filter(
            entity_type__in={key[0] for key in by_key},
            entity_id__in={key[1] for key in by_key},
            destination__in={key[3] for key in by_key},
        )
        .select_for_update()
    }
    to_update, to_create = [], []
    for key, spec in by_key.items():
        job = existing.get(key)
        if job is None:
            to_create.append(_new_pending_job(spec, now))
        else:
            job.job_type = spec.job_type
            job.origin_id = spec.origin_id
            job.content_type_id = spec.content_type_id or job.content_type_id
            job.priority = max(job.priority, spec.priority)
            job.updated_at = now
            # A new instruction is a new job, with every attempt ahead of it. If the old
            # one waits for a retry it is due sooner, but not at once: its last request
            # may have timed out and still be applied by Enterspeed, and must not land
            # after this newer one.
            job.next_attempt_at = max(now, min(job.next_attempt_at, now + _settle_time()))
            job.attempts = 0
            to_update.append(job)
    if to_update:
        EnterspeedJob.objects.bulk_update(
            to_update,
            [
                *("job_type", "origin_id", "content_type_id", "priority", "updated_at"),
                *("next_attempt_at", "attempts"),
            ],
        )
    if to_create:
        EnterspeedJob.objects.bulk_create(to_create)


def _settle_time() -> timedelta:
    """
    How long a timed-out request may still be in flight: the client's whole timeout. Never
    raises in an editor's save: a malformed TIMEOUT reads as its default (conf's rules).
    """
    return timedelta(seconds=conf.TIMEOUT_TOTAL)
