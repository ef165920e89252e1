"""
Writing job rows: the outbox side of the sync.

Jobs are written in the caller's transaction, so they roll back with the content change
that caused them. Processing is only requested after commit (``transaction.on_commit``),
so a worker never looks for a job, or for content, that is not visible yet.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice

from django.db import IntegrityError, transaction
from django.utils import timezone
from wagtail.models import Locale

from enterspeed_sync.conf import conf
from enterspeed_sync.mapping import page_origin_id
from enterspeed_sync.models import Destination, EnterspeedJob, EntityType, JobState, JobType

logger = logging.getLogger(__name__)

BULK_CHUNK_SIZE = 500

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

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.entity_type, str(self.entity_id), self.locale, self.destination)


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
    if count:
        request_processing()
    return count


def _upsert_pending(specs: list[JobSpec]) -> None:
    # Later specs for the same key win, as they would have one at a time.
    by_key = {spec.key: spec for spec in specs}
    for _attempt in range(3):
        try:
            with transaction.atomic():
                _write_pending(by_key)
            return
        except IntegrityError:
            # Another transaction inserted a pending job for one of these entities
            # between our read and our insert; the next round updates it instead.
            logger.info("Concurrent job insert for the same entity; retrying the upsert")
    with transaction.atomic():
        _write_pending(by_key)


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
            to_create.append(
                EnterspeedJob(
                    entity_type=spec.entity_type,
                    entity_id=str(spec.entity_id),
                    locale=spec.locale,
                    destination=spec.destination,
                    job_type=spec.job_type,
                    origin_id=spec.origin_id,
                    content_type_id=spec.content_type_id,
                    state=JobState.PENDING,
                    created_at=now,
                    updated_at=now,
                    next_attempt_at=now,
                )
            )
        else:
            job.job_type = spec.job_type
            job.origin_id = spec.origin_id
            job.content_type_id = spec.content_type_id or job.content_type_id
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
                *("job_type", "origin_id", "content_type_id", "updated_at"),
                *("next_attempt_at", "attempts"),
            ],
        )
    if to_create:
        EnterspeedJob.objects.bulk_create(to_create)


def _settle_time() -> timedelta:
    """How long a timed-out request may still be in flight: the client's whole timeout."""
    try:
        return timedelta(seconds=conf.TIMEOUT_TOTAL)
    except (TypeError, ValueError):  # a malformed TIMEOUT must never fail an editor's save
        return timedelta(seconds=35)


def request_processing() -> None:
    """
    Ask the django-q2 cluster to process the queue once the current transaction commits.
    One request per transaction is enough: the task drains every pending job.
    """
    if not conf.PROCESS_ON_COMMIT:
        return
    connection = transaction.get_connection()
    already_requested = any(
        func is enqueue_processing for _sids, func, _robust in connection.run_on_commit
    )
    if not already_requested:
        transaction.on_commit(enqueue_processing, robust=True)


def enqueue_processing() -> None:
    """Queue one django-q2 task that drains the job queue. Never raises."""
    from django_q.tasks import async_task

    try:
        async_task(
            "enterspeed_sync.tasks.process_pending_jobs",
            task_name="enterspeed_sync.process_pending_jobs",
            group="enterspeed_sync",
            # Retry state lives in our job rows; django-q2 must never re-run a failure.
            ack_failure=True,
        )
    except Exception:
        # The job rows are committed; the minute schedule will pick them up.
        logger.exception("Could not queue Enterspeed processing; the schedule will retry")


# Pages ---------------------------------------------------------------------------------


def page_job_spec(page_id, locale: str, job_type: str, content_type_id=None) -> JobSpec:
    return JobSpec(
        entity_type=EntityType.PAGE,
        entity_id=str(page_id),
        job_type=job_type,
        origin_id=page_origin_id(page_id),
        locale=locale,
        content_type_id=content_type_id,
    )


def queue_page_job(page, job_type: str) -> None:
    queue_job(page_job_spec(page.pk, page.locale.language_code, job_type, page.content_type_id))


def queue_live_subtree_publish(page) -> int:
    """
    Publish jobs for ``page`` and every live descendant: a move or slug change rewrites
    their URLs in bulk, and they get no signal of their own.
    """
    return queue_page_publishes(page.get_descendants(inclusive=True).live())


def queue_page_publishes(pages) -> int:
    """Publish jobs for every page of a queryset, read in chunks. Returns the count."""
    locales = dict(Locale.objects.values_list("pk", "language_code"))
    rows = pages.values_list("pk", "locale_id", "content_type_id").iterator(
        chunk_size=BULK_CHUNK_SIZE
    )
    return queue_jobs(
        page_job_spec(pk, locales.get(locale_id, ""), JobType.PUBLISH, content_type_id)
        for pk, locale_id, content_type_id in rows
    )
