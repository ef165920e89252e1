"""
django-q2 entry points. Each processing task handles whole batches of jobs, never one job
per task, and keeps no retry state of its own: that lives in the job rows. The operator's
tasks (a seed, a large "retry all failed") are queued by ``enterspeed_sync.actions``.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django_q.conf import Conf

from enterspeed_sync.actions import SeedScope, run_seed
from enterspeed_sync.capture.enqueue import enqueue_for_idle_workers, enqueue_processing
from enterspeed_sync.conf import conf
from enterspeed_sync.processing import claims, counters, runner, transitions
from enterspeed_sync.processing.schedules import process_at

logger = logging.getLogger(__name__)


def process_pending_jobs() -> dict[str, int | bool | str]:
    """
    Drain the queue within the time budget; queue a follow-up task if jobs are left (and
    one for each live worker without a claim, so a cluster started since joins in), and
    one for the moment a stop this run ran into ends (the cool-down of a circuit breaker it
    opened, a rate-limit pause that put its batch back), not the next minute schedule.
    """
    # In django-q2's sync mode the task runs inside the request that committed: never
    # wait there for retries to come due.
    wait_seconds = 0 if Conf.SYNC else None
    result = runner.process_pending_jobs(
        max_seconds=conf.TASK_TIME_BUDGET_SECONDS, wait_seconds=wait_seconds
    )
    if not result.drained:
        enqueue_processing()
        enqueue_for_idle_workers()
    if result.resume_at is not None and not Conf.SYNC:
        process_at(result.resume_at)
    return {
        "succeeded": result.succeeded,
        "failed": result.failed,
        "retried": result.retried,
        "released": result.released,
        "recovered": result.recovered,
        "drained": result.drained,
        "stopped": result.stopped,
        "worker": claims.worker_name(),
    }


def fail_stale_jobs() -> int:
    """The sweep every few minutes: stale jobs fail, old chart counters go."""
    counters.prune_counters()
    return transitions.fail_stale_jobs()


def seed_task(seed_id: str = "", **scope) -> dict[str, int]:
    """
    Queue the jobs of one seed; returns the jobs added per kind. Processing counts what
    becomes of them against ``seed_id`` (the dashboard shows both).
    """
    with transaction.atomic():
        return dict(run_seed(SeedScope(**scope), seed_id=seed_id).counts)


def retry_failed_task(ids: list[int] | None = None) -> int:
    return transitions.retry_failed_jobs(ids)
