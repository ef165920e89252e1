"""
Every change of a job's state after it was claimed, each one fenced by the claim's lease
token (``claimed``), so a worker that lost its lease cannot overwrite a newer outcome:

- succeeded: the job and the entity's failed row are deleted (``mark_succeeded_many``);
- retry later: an attempt is spent, and the job waits for its backoff (``retry_later``);
- put back unspent: sending is paused, or the run stopped (``release_job``), or a database
  fault stopped the attempt (``put_back_after_database_fault``);
- failed: one failed row per entity, locale and destination (``mark_failed``).

Plus the changes to jobs nobody holds: the sweep ``fail_stale_jobs``, the manual
``retry_failed_jobs`` and ``send_waiting_jobs_now``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from enterspeed_sync.capture.enqueue import request_processing
from enterspeed_sync.conf import conf
from enterspeed_sync.delivery.retries import backoff_delay, stamp
from enterspeed_sync.exceptions import clip_error
from enterspeed_sync.models import ENTITY_KEY_FIELDS, EnterspeedJob, JobPriority, JobState
from enterspeed_sync.processing.database_faults import (
    atomic_retrying_conflicts,
    retry_database_faults,
)

logger = logging.getLogger(__name__)


class Outcome:
    """What became of one claimed job in a batch."""

    SUCCEEDED = "succeeded"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    RETRY = "retry"
    #: Put back without spending an attempt; sending is paused, stop the batch.
    RELEASED = "released"
    #: Retried, and the failure opened the circuit breaker: stop the batch.
    STOP = "stop"
    #: Another worker holds the job now (our lease ran out); nothing recorded.
    LOST = "lost"


def claimed(*jobs: EnterspeedJob) -> QuerySet[EnterspeedJob]:
    """The rows of ``jobs`` still held under the lease token each was claimed with."""
    if not jobs:
        return EnterspeedJob.objects.none()
    # One condition per token (a batch has one), not per job: Django compiles a condition
    # per job slowly, and the database reads one ``IN`` faster too.
    pks_by_token: dict[uuid.UUID | None, list[int]] = {}
    for job in jobs:
        pks_by_token.setdefault(job.lease_token, []).append(job.pk)
    fence = Q()
    for token, pks in pks_by_token.items():
        fence |= Q(lease_token=token, pk__in=pks)
    return EnterspeedJob.objects.filter(fence)


def held(*tokens: uuid.UUID) -> QuerySet[EnterspeedJob]:
    """The jobs still processing under any of the lease ``tokens``."""
    return EnterspeedJob.objects.filter(lease_token__in=tokens, state=JobState.PROCESSING)


def _lost(job: EnterspeedJob, what: str = "leaving it alone") -> None:
    logger.warning("Lost the claim on Enterspeed job %s; %s", job.pk, what)


@retry_database_faults
def mark_succeeded_many(jobs: list[EnterspeedJob]) -> list[EnterspeedJob]:
    """
    Delete the claimed ``jobs`` and their entities' failed rows: Enterspeed now has the
    newest state. Returns the jobs that were still ours (the others are left alone).
    """
    if not jobs:
        return []
    with transaction.atomic():
        deleted = set(claimed(*jobs).values_list("pk", flat=True))
        EnterspeedJob.objects.filter(pk__in=deleted).delete()
        for job in jobs:
            if job.pk not in deleted:
                _lost(job)
        done = [job for job in jobs if job.pk in deleted]
        if done and EnterspeedJob.objects.failed().exists():
            failed = Q()
            for job in done:
                failed |= Q(**dict(zip(ENTITY_KEY_FIELDS, job.entity_key, strict=True)))
            EnterspeedJob.objects.failed().filter(failed).delete()
    return done


@retry_database_faults
def retry_later(
    job: EnterspeedJob,
    error: str,
    *,
    status: int | None = None,
    retry_after: float | None = None,
    backoff: bool = True,
    extra_filter: Q | None = None,
) -> str:
    """
    A transient failure: spend an attempt and put the job back in the queue after a
    backoff, or fail it when it has used ``MAX_ATTEMPTS``. A newer pending instruction for
    the entity supersedes the job instead, so a retry never reorders instructions.
    Returns an ``Outcome``.
    """
    fenced = claimed(job) if extra_filter is None else claimed(job).filter(extra_filter)
    attempts = (fenced.values_list("attempts", flat=True).first() or 0) + 1
    if attempts >= conf.MAX_ATTEMPTS:
        mark_failed(
            job,
            f"Gave up after {attempts} attempts. Last error: {error}",
            status=status,
            attempts=attempts,
            extra_filter=extra_filter,
        )
        return Outcome.FAILED
    delay = 0.0
    if backoff:
        delay = backoff_delay(attempts, base=conf.RETRY_BASE_DELAY, cap=conf.RETRY_MAX_DELAY)
    if retry_after is not None:  # e.g. a 503 that says when to come back
        delay = max(delay, min(retry_after, conf.RETRY_AFTER_MAX))
    when = timezone.now() + timedelta(seconds=delay)
    text = f"Attempt {attempts} of {conf.MAX_ATTEMPTS} failed; next attempt at {stamp(when)}"
    requeued = _return_to_queue(
        job,
        fenced,
        next_attempt_at=when,
        attempts=attempts,
        error=clip_error(f"{text}. {error}"),
        last_status=status,
    )
    return Outcome.RETRY if requeued else Outcome.LOST


@retry_database_faults
def release_job(
    job: EnterspeedJob,
    *,
    until: datetime | None = None,
    error: str | None = None,
    status: int | None = None,
) -> bool:
    """Put a claimed job back without spending an attempt (sending is paused)."""
    fields = {"next_attempt_at": until or timezone.now()}
    if error is not None:
        fields.update(error=clip_error(error), last_status=status)
    return _return_to_queue(job, claimed(job), **fields)


def put_back_after_database_fault(job: EnterspeedJob, error: str) -> str:
    """
    The database failed while the job was mapped, not the job: back off without spending
    an attempt. Returns an ``Outcome``.
    """
    delay = backoff_delay(job.attempts + 1, base=conf.RETRY_BASE_DELAY, cap=conf.RETRY_MAX_DELAY)
    when = timezone.now() + timedelta(seconds=delay)
    text = f"A database error stopped this attempt; next attempt at {stamp(when)}. {error}"
    return Outcome.RETRY if release_job(job, until=when, error=text) else Outcome.LOST


def _return_to_queue(job: EnterspeedJob, fenced: QuerySet, **fields) -> bool:
    """
    Turn the claimed row back into the entity's pending job, or drop it when the entity
    already has a newer pending one. Returns False when the claim was lost.
    """

    def write() -> bool:
        if not fenced.select_for_update().exists():
            _lost(job)
            return False
        newer = EnterspeedJob.objects.for_entity(*job.entity_key).pending()
        if newer.exists():
            # Newest instruction wins: the pending job replaces this one. It waits as long
            # as this one would have: a request that timed out may still be applied, and
            # must not land after the newer one.
            if until := fields.get("next_attempt_at"):
                settle = timezone.now() + timedelta(seconds=conf.TIMEOUT_TOTAL)
                until = min(until, settle)
                newer.filter(next_attempt_at__lt=until).update(next_attempt_at=until)
            # A person's change folded into bulk work still waits as a person's.
            newer.filter(priority__lt=job.priority).update(priority=job.priority)
            fenced.delete()
            return True
        fenced.update(
            state=JobState.PENDING,
            lease_token=None,
            leased_until=None,
            claimed_at=None,
            locked_by="",
            updated_at=timezone.now(),
            **fields,
        )
        return True

    # A conflict: a new pending job for the entity was inserted meanwhile; the next round
    # sees it and drops this one.
    returned = atomic_retrying_conflicts(write)
    if returned is None:
        logger.error("Could not put Enterspeed job %s back in the queue", job.pk)
        return False
    return returned


@retry_database_faults
def mark_failed(
    job: EnterspeedJob,
    error: str,
    *,
    status: int | None = None,
    attempts: int | None = None,
    extra_filter: Q | None = None,
) -> None:
    """
    Keep one failed row per entity and destination: merge into an existing failed row
    (newest instruction and error, attempts + 1) or turn the claimed row into it.
    """
    error = clip_error(error)

    def write() -> bool:
        _record_failure(job, error, status, attempts, extra_filter)
        return True

    # A conflict: another worker created the failed row between our read and write.
    if atomic_retrying_conflicts(write) is None:
        logger.error("Could not record the failure of Enterspeed job %s: %s", job.pk, error)


def _record_failure(
    job: EnterspeedJob,
    error: str,
    status: int | None,
    attempts: int | None,
    extra_filter: Q | None,
) -> None:
    now = timezone.now()
    fenced = claimed(job) if extra_filter is None else claimed(job).filter(extra_filter)
    if not fenced.select_for_update().exists():
        _lost(job, "not recording its failure")
        return
    existing = (
        EnterspeedJob.objects.for_entity(*job.entity_key)
        .failed()
        .exclude(pk=job.pk)
        .select_for_update()
        .first()
    )
    if existing is None:
        fenced.update(
            state=JobState.FAILED,
            error=error,
            last_status=status,
            attempts=F("attempts") + 1 if attempts is None else attempts,
            lease_token=None,
            leased_until=None,
            locked_by="",
            updated_at=now,
        )
        return
    EnterspeedJob.objects.filter(pk=existing.pk).update(
        job_type=job.job_type,
        origin_id=job.origin_id,
        content_type_id=job.content_type_id,
        error=error,
        last_status=status,
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    fenced.delete()


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
    whose entity already has a newer job, pending or in flight, is dropped: that one
    supersedes it (queued again, an old delete would be sent after a newer publish).
    Returns how many jobs are queued again.
    """
    queued = 0
    failed = EnterspeedJob.objects.failed()
    if ids is not None:
        failed = failed.filter(pk__in=ids)
    for job in failed.iterator():
        with transaction.atomic():
            # Locked first: the newer job failing meanwhile merges into this row (mark_failed)
            # before or after this, never between the look-up and the delete.
            this = EnterspeedJob.objects.select_for_update().filter(
                pk=job.pk, state=JobState.FAILED
            )
            if not this.exists():
                continue
            newer = EnterspeedJob.objects.for_entity(*job.entity_key)
            if newer.exclude(state=JobState.FAILED).exists():
                this.delete()
                continue
            # A manual retry gets the whole retry policy again, as a person's change.
            now = timezone.now()
            queued += this.update(
                state=JobState.PENDING,
                priority=JobPriority.PERSON,
                lease_token=None,
                claimed_at=None,
                leased_until=None,
                attempts=0,
                next_attempt_at=now,
                updated_at=now,
            )
    if queued:
        request_processing()
    return queued


def waiting_jobs(now: datetime | None = None) -> QuerySet[EnterspeedJob]:
    """Pending jobs whose next attempt is later than now (plus ``TIMEOUT_TOTAL``)."""
    settle = (now or timezone.now()) + timedelta(seconds=conf.TIMEOUT_TOTAL)
    return EnterspeedJob.objects.pending().filter(next_attempt_at__gt=settle)


def send_waiting_jobs_now(ids: list[int] | None = None) -> int:
    """
    Move pending jobs waiting for their next attempt (a retry's backoff, a pause that put
    them back) to now, and ask for processing: all of them, or those with the given ids.
    Attempts already spent stay spent. Returns how many were moved.

    A job due within ``TIMEOUT_TOTAL`` is left alone: it may be waiting for an earlier
    request of its entity that timed out to settle (``_return_to_queue``), so that an
    older instruction can never land after it; it goes within seconds anyway.
    """
    now = timezone.now()
    waiting = waiting_jobs(now)
    if ids is not None:
        waiting = waiting.filter(pk__in=ids)
    moved = waiting.update(next_attempt_at=now, updated_at=now)
    if moved:
        request_processing()
    return moved
