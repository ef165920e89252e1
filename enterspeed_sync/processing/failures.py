"""
Applying the retry policy (``delivery.retries``) to the jobs of a failed request or of a
job whose handler raised: transient errors come back with backoff, a 429 pauses every
worker, 401/403 stop sending, a database fault puts the job back unspent, anything else
fails at once. What the failure means for the source (a pause, an auth stop, a breaker
count) is recorded once, whatever the number of jobs.
"""

from __future__ import annotations

import logging
import traceback

from enterspeed_sync.conf import conf
from enterspeed_sync.delivery import gate as sending
from enterspeed_sync.delivery.client import EnterspeedError
from enterspeed_sync.delivery.retries import (
    Verdict,
    clamp_retry_after,
    classify,
    is_database_fault,
)
from enterspeed_sync.exceptions import EntityValidationError, clip_error
from enterspeed_sync.models import EnterspeedJob
from enterspeed_sync.processing.transitions import (
    Outcome,
    mark_failed,
    put_back_after_database_fault,
    release_job,
    retry_later,
)

logger = logging.getLogger(__name__)


def fail_jobs(
    jobs: list[EnterspeedJob], exc: BaseException, source: sending.Source
) -> dict[int, str]:
    """Apply the retry policy to ``jobs``, which all failed with ``exc``; their outcomes."""
    verdict = classify(exc)
    message = describe_error(exc)
    names = ", ".join(job.origin_id for job in jobs[:5]) + (" …" if len(jobs) > 5 else "")
    if verdict.verdict == Verdict.THROTTLED:
        if verdict.status == 429:
            seconds = clamp_retry_after(
                verdict.retry_after, default=conf.RATE_LIMIT_PAUSE, maximum=conf.RETRY_AFTER_MAX
            )
            until = sending.pause_for_rate_limit(source, seconds, message)
        else:  # SendingPaused: another worker paused sending
            until = getattr(exc, "until", None)
        logger.info("Enterspeed jobs put back (%s): %s", names, exc)
        return {
            job.pk: Outcome.RELEASED if release_job(job, until=until) else Outcome.LOST
            for job in jobs
        }
    if verdict.verdict == Verdict.AUTH:
        sending.record_auth_failure(source, message)
        return {
            job.pk: Outcome.RELEASED
            if release_job(job, error=message, status=verdict.status)
            else Outcome.LOST
            for job in jobs
        }
    if verdict.verdict == Verdict.PERMANENT:
        logger.warning("Enterspeed jobs failed (%s): %s", names, exc)
        for job in jobs:
            mark_failed(job, message, status=verdict.status)
        return {job.pk: Outcome.FAILED for job in jobs}
    if is_database_fault(exc):
        # The database failed while the job was mapped, not the job: back off without
        # spending an attempt or counting against Enterspeed's circuit breaker.
        logger.warning("Enterspeed jobs put back after a database error (%s): %s", names, exc)
        return {job.pk: put_back_after_database_fault(job, message) for job in jobs}
    logger.warning("Enterspeed jobs will be retried (%s): %s", names, exc)
    retry_after = verdict.retry_after
    if verdict.status is None:
        # A timeout or dropped connection: Enterspeed may still be working on the request
        # and apply it later. Waiting one more full TIMEOUT lets it land before the retry,
        # so the retry (the newest state) is what stays.
        retry_after = max(retry_after or 0.0, conf.TIMEOUT_TOTAL)
    outcomes = {
        job.pk: retry_later(job, message, status=verdict.status, retry_after=retry_after)
        for job in jobs
    }
    if sending.record_transient_failure(source, message):
        outcomes = {pk: Outcome.STOP if o == Outcome.RETRY else o for pk, o in outcomes.items()}
    return outcomes


def describe_error(exc: BaseException) -> str:
    """
    The reason stored on a failed job: one readable line, plus a traceback for bugs. An
    entity refused before sending (pre-flight validation) is bad content, not a bug: its
    message names the field, and a traceback would only hide it.
    """
    if isinstance(exc, EnterspeedError | EntityValidationError):
        return clip_error(str(exc))
    trace = "".join(traceback.format_exception(exc))
    return clip_error(f"{type(exc).__name__}: {exc}\n\n{trace}")
