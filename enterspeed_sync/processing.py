"""
Processing the job queue: claim a batch, hand each job to its handler, record the outcome.

Runner-agnostic: the django-q2 tasks in ``tasks.py`` and ``manage.py enterspeed_process``
both call ``process_pending_jobs``.

Claiming is safe with several workers and several clusters at once: a job moves from
pending to processing only through a conditional UPDATE (``WHERE state = 'pending'``), so
exactly one claimer gets it, and every later write is fenced by the claim's lease token.
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from enterspeed_sync.client import EnterspeedClient, EnterspeedError
from enterspeed_sync.conf import conf, get_client
from enterspeed_sync.handlers import find_handler, get_handlers
from enterspeed_sync.jobs import request_processing
from enterspeed_sync.models import ENTITY_KEY_FIELDS, EnterspeedJob, JobState

logger = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 10_000


@dataclass
class ProcessResult:
    succeeded: int = 0
    failed: int = 0
    #: False when the run stopped at its time budget with jobs possibly left.
    drained: bool = True

    @property
    def processed(self) -> int:
        return self.succeeded + self.failed


def claim_jobs(limit: int) -> list[EnterspeedJob]:
    """
    Move up to ``limit`` of the oldest pending jobs to processing and return them.

    An entity whose previous job is still processing is skipped, so an entity's
    instructions are never sent out of order or by two workers at once.
    """
    busy = EnterspeedJob.objects.processing().filter(
        **{field: OuterRef(field) for field in ENTITY_KEY_FIELDS}
    )
    candidates = (
        EnterspeedJob.objects.pending()
        .filter(~Exists(busy))
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )
    token = uuid.uuid4()
    now = timezone.now()
    with transaction.atomic():
        if connection.features.has_select_for_update_skip_locked:
            # PostgreSQL: another worker's candidate rows are skipped, not waited for.
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        ids = list(candidates[:limit])
        if not ids:
            return []
        EnterspeedJob.objects.filter(pk__in=ids, state=JobState.PENDING).update(
            state=JobState.PROCESSING, lease_token=token, claimed_at=now, updated_at=now
        )
    return list(EnterspeedJob.objects.filter(lease_token=token).order_by("created_at", "pk"))


def process_pending_jobs(
    *,
    batch_size: int | None = None,
    max_seconds: float | None = None,
    client: EnterspeedClient | None = None,
) -> ProcessResult:
    """
    Process batches of pending jobs until none is left, or until ``max_seconds`` have
    passed (then ``drained`` is False). Never raises for a failing job: it is recorded.
    """
    batch_size = batch_size or conf.BATCH_SIZE
    result = ProcessResult()
    started = time.monotonic()
    own_client = client is None
    client = client or get_client()
    # Resolve handlers before claiming: a broken JOB_HANDLERS setting must not strand
    # claimed jobs in "processing".
    handlers = get_handlers()
    try:
        while jobs := claim_jobs(batch_size):
            for job in jobs:
                if process_job(job, client, handlers):
                    result.succeeded += 1
                else:
                    result.failed += 1
            if max_seconds is not None and time.monotonic() - started >= max_seconds:
                result.drained = not EnterspeedJob.objects.pending().exists()
                break
    finally:
        if own_client:
            client.close()
    if result.processed:
        logger.info(
            "Processed %d Enterspeed jobs: %d succeeded, %d failed",
            result.processed,
            result.succeeded,
            result.failed,
        )
    return result


def process_job(job: EnterspeedJob, client: EnterspeedClient, handlers=None) -> bool:
    """Run one claimed job through its handler. Returns True on success."""
    handler = find_handler(job, handlers)
    if handler is None:
        mark_failed(
            job,
            f"No handler in ENTERSPEED_SYNC['JOB_HANDLERS'] can handle a {job.job_type!r} job "
            f"for a {job.entity_type!r} entity ({job.origin_id}).",
        )
        return False
    try:
        handler.handle(job, client)
    except Exception as exc:  # noqa: BLE001  (any handler error fails the job, never the batch)
        logger.warning("Enterspeed job %s (%s) failed: %s", job.pk, job.origin_id, exc)
        mark_failed(job, describe_error(exc))
        return False
    mark_succeeded(job)
    return True


def describe_error(exc: BaseException) -> str:
    """The reason stored on a failed job: one readable line, plus a traceback for bugs."""
    if isinstance(exc, EnterspeedError):
        return str(exc)
    trace = "".join(traceback.format_exception(exc))
    return f"{type(exc).__name__}: {exc}\n\n{trace}"[:MAX_ERROR_LENGTH]


def mark_succeeded(job: EnterspeedJob) -> None:
    """Delete the job and the entity's failed row: Enterspeed now has the newest state."""
    with transaction.atomic():
        deleted, _ = EnterspeedJob.objects.filter(pk=job.pk, lease_token=job.lease_token).delete()
        if not deleted:
            logger.warning("Lost the claim on Enterspeed job %s; leaving it alone", job.pk)
            return
        EnterspeedJob.objects.for_entity(*job.entity_key).failed().delete()


def mark_failed(job: EnterspeedJob, error: str) -> None:
    """
    Keep one failed row per entity and destination: merge into an existing failed row
    (newest instruction and error, attempts + 1) or turn the claimed row into it.
    """
    for _attempt in range(3):
        try:
            with transaction.atomic():
                _record_failure(job, error[:MAX_ERROR_LENGTH])
            return
        except IntegrityError:
            # Another worker created the failed row between our read and write.
            continue
    logger.error("Could not record the failure of Enterspeed job %s: %s", job.pk, error)


def _record_failure(job: EnterspeedJob, error: str) -> None:
    now = timezone.now()
    claimed = EnterspeedJob.objects.filter(pk=job.pk, lease_token=job.lease_token)
    if not claimed.select_for_update().exists():
        logger.warning("Lost the claim on Enterspeed job %s; not recording its failure", job.pk)
        return
    existing = (
        EnterspeedJob.objects.for_entity(*job.entity_key)
        .failed()
        .exclude(pk=job.pk)
        .select_for_update()
        .first()
    )
    if existing is None:
        claimed.update(
            state=JobState.FAILED,
            error=error,
            attempts=F("attempts") + 1,
            lease_token=None,
            updated_at=now,
        )
        return
    EnterspeedJob.objects.filter(pk=existing.pk).update(
        job_type=job.job_type,
        origin_id=job.origin_id,
        content_type_id=job.content_type_id,
        error=error,
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    claimed.delete()


def fail_stale_jobs(minutes: int | None = None) -> int:
    """Mark jobs processing for longer than ``minutes`` as failed. Returns how many."""
    minutes = conf.STALE_PROCESSING_MINUTES if minutes is None else minutes
    count = 0
    for job in EnterspeedJob.objects.stale(minutes).iterator():
        mark_failed(
            job,
            f"Processing did not finish within {minutes} minutes; the worker processing it "
            "probably stopped. Retry the job to send it again.",
        )
        count += 1
    if count:
        logger.warning("Marked %d stale Enterspeed jobs as failed", count)
    return count


def retry_failed_jobs(ids: list[int] | None = None) -> int:
    """
    Put failed jobs back in the queue (all, or those with the given ids). A failed job
    whose entity already has a newer pending job is dropped: the pending one supersedes it.
    Returns how many jobs are queued again.
    """
    queued = 0
    failed = EnterspeedJob.objects.failed()
    if ids is not None:
        failed = failed.filter(pk__in=ids)
    for job in failed.iterator():
        with transaction.atomic():
            if EnterspeedJob.objects.for_entity(*job.entity_key).pending().exists():
                EnterspeedJob.objects.filter(pk=job.pk, state=JobState.FAILED).delete()
                continue
            queued += EnterspeedJob.objects.filter(pk=job.pk, state=JobState.FAILED).update(
                state=JobState.PENDING, lease_token=None, claimed_at=None, updated_at=timezone.now()
            )
    if queued:
        request_processing()
    return queued
