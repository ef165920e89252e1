"""
What an operator can do to the queue: seed, retry (chosen jobs or every failed one),
send waiting jobs now (chosen ones or all), delete, clear the pending queue. The admin
views, the operations API, the management commands and the django-q2 tasks all call these
functions, so each operation is decided in one place: which jobs it touches, what goes to
Wagtail's audit log, and whether it runs in the request or as a background task.

``audit`` is extra data for the audit-log entry (the API adds ``via`` and its token's
prefix); ``user`` is whoever acted, or None for a command.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import asdict, dataclass

from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django_q.models import Task
from wagtail.log_actions import log

from enterspeed_sync.capture.enqueue import queue_task
from enterspeed_sync.capture.seed_scope import SeedScope, default_kinds
from enterspeed_sync.capture.seeding import SeedResult, seed
from enterspeed_sync.exceptions import ClusterUnreachable
from enterspeed_sync.mapping import get_base_page_model
from enterspeed_sync.models import EnterspeedJob, JobState
from enterspeed_sync.processing.transitions import (
    retry_failed_jobs,
    send_waiting_jobs_now,
    waiting_jobs,
)

#: Retrying more failed jobs than this runs as background tasks, not in the request.
INLINE_RETRY_LIMIT = 200
#: Failed jobs per background retry task, so no task outlives django-q2's timeout.
RETRY_TASK_CHUNK = 1000

SEED_TASK = "enterspeed_sync.tasks.seed_task"
RETRY_TASK = "enterspeed_sync.tasks.retry_failed_task"
TASK_GROUP = "enterspeed_sync.admin"

#: Audit-log entries about the queue as a whole (a seed, "retry all") are logged against
#: this stand-in row: Wagtail's log needs an object, and pk 0 is never a real job.
QUEUE_TITLE = _("Enterspeed queue")


# Audit log ------------------------------------------------------------------------------


def log_queue_action(action: str, user=None, **data) -> None:
    log(
        EnterspeedJob(pk=0, origin_id="queue"),
        action,
        user=user,
        title=str(QUEUE_TITLE),
        data=data,
    )


def log_job_action(job: EnterspeedJob, action: str, user=None, audit=None, **kwargs) -> None:
    data = {"origin_id": job.origin_id, **(audit or {})}
    log(job, action, user=user, title=job.origin_id, data=data, **kwargs)


# Background tasks -----------------------------------------------------------------------


def new_task_name(kind: str) -> str:
    """A unique django-q2 task name, by which a caller finds the task's result."""
    return f"enterspeed_sync.{kind}.{uuid.uuid4().hex}"


def queue_on_commit(func: str, task_name: str, then=None, **kwargs) -> None:
    """
    Queue ``func`` as a django-q2 task once the current transaction commits (at once
    outside one), then call ``then(queued)``: False when the broker could not take it
    (Redis down), which is logged and never raised.
    """

    def enqueue() -> None:
        queued = queue_task(func, task_name=task_name, group=TASK_GROUP, **kwargs)
        if then is not None:
            then(queued)

    transaction.on_commit(enqueue)


def get_task_result(task_name: str):
    """(finished, success, result) of a queued task; (False, None, None) while queued/running."""
    task = Task.objects.filter(name=task_name).order_by("-stopped").first()
    if task is None:
        return False, None, None
    return True, task.success, task.result


# Seeding --------------------------------------------------------------------------------


def start_seed(scope: SeedScope, *, user=None, audit: dict | None = None) -> str:
    """
    Queue one background task that queues the scope's jobs (a seed of a whole site is too
    much for a request); returns the task's name, for ``get_task_result``. Raises
    ``ClusterUnreachable`` when django-q2's broker cannot take the task (Redis down): the
    audit log then says the seed was not started.
    """
    task_name = new_task_name("seed")
    data = {**asdict(scope), "task": task_name, **(audit or {})}
    not_started = []

    def log_outcome(queued: bool) -> None:
        action = "enterspeed_sync.seed" if queued else "enterspeed_sync.seed_not_started"
        log_queue_action(action, user, **data)
        if not queued:
            not_started.append(task_name)

    queue_on_commit(SEED_TASK, task_name, then=log_outcome, seed_id=task_name, **asdict(scope))
    if not_started:
        # Known at once when no transaction is open around this call (a view's request).
        raise ClusterUnreachable(
            "The seed was not started: the cluster's broker could not be reached."
        )
    return task_name


def run_seed(scope: SeedScope, *, seed_id: str = "") -> SeedResult:
    """
    Queue the scope's jobs now (the seed task, and ``manage.py enterspeed_seed``); with
    ``seed_id``, processing counts what became of them against it (``SeedTally``).
    """
    ids = scope.page_ids
    roots = list(get_base_page_model().objects.filter(pk__in=ids))
    if missing := sorted(set(ids) - {root.pk for root in roots}):
        raise LookupError(f"Page {', '.join(map(str, missing))} no longer exists.")
    return seed(
        kinds=scope.kinds or default_kinds(scope),
        root_pages=roots,
        collections=scope.collections or None,
        snippet_models=scope.snippet_models or None,
        locales=scope.locales or None,
        descendants=scope.descendants,
        force=scope.force,
        destination=scope.destination,
        seed_id=seed_id,
    )


# Retry ----------------------------------------------------------------------------------


def retry_jobs(jobs: list[EnterspeedJob], *, user=None, audit: dict | None = None) -> int:
    """Queue the failed ones of ``jobs`` again, each logged; returns how many were queued."""
    failed = [job for job in jobs if job.state == JobState.FAILED]
    if not failed:
        return 0
    with transaction.atomic():
        for job in failed:
            log_job_action(job, "enterspeed_sync.retry", user, audit)
    return retry_failed_jobs([job.pk for job in failed])


@dataclass(frozen=True)
class BulkRetry:
    matched: int
    #: Jobs queued again, or None when background tasks do it.
    queued: int | None
    background: bool


def retry_all_failed(
    failed=None,
    *,
    user=None,
    audit: dict | None = None,
    filters: dict | None = None,
    inline_limit: int | None = INLINE_RETRY_LIMIT,
) -> BulkRetry:
    """
    Queue every failed job again (of the ``failed`` queryset, if given). The jobs are those
    failed now, not any that fail later: up to ``inline_limit`` are retried at once, more
    by background tasks of ``RETRY_TASK_CHUNK`` ids each (``inline_limit=None``: all at once),
    or here too when django-q2's broker cannot take those tasks (Redis down).
    """
    failed = EnterspeedJob.objects.failed() if failed is None else failed
    ids = list(failed.values_list("pk", flat=True))
    background = inline_limit is not None and len(ids) > inline_limit
    data = {"count": len(ids), **({"filters": filters} if filters is not None else {})}
    done_here: list[int] = []
    with transaction.atomic():
        log_queue_action("enterspeed_sync.retry_failed", user, **data, **(audit or {}))
        if background:
            for start in range(0, len(ids), RETRY_TASK_CHUNK):
                chunk = ids[start : start + RETRY_TASK_CHUNK]
                queue_on_commit(
                    RETRY_TASK,
                    new_task_name("retry"),
                    then=functools.partial(_retry_here_unless_queued, chunk, done_here),
                    ids=chunk,
                )
    if background and not done_here:
        return BulkRetry(matched=len(ids), queued=None, background=True)
    if background:
        return BulkRetry(matched=len(ids), queued=sum(done_here), background=False)
    return BulkRetry(
        matched=len(ids), queued=retry_failed_jobs(ids) if ids else 0, background=False
    )


def _retry_here_unless_queued(ids: list[int], done_here: list[int], queued: bool) -> None:
    """The cluster cannot be reached: the chunk's jobs are queued again here instead."""
    if not queued:
        done_here.append(retry_failed_jobs(ids))


# Send now -------------------------------------------------------------------------------


def is_waiting(job: EnterspeedJob) -> bool:
    """A pending job whose next attempt is later than now (``send_jobs_now`` moves it)."""
    return waiting_jobs().filter(pk=job.pk).exists()


def send_jobs_now(jobs: list[EnterspeedJob], *, user=None, audit: dict | None = None) -> int:
    """
    Move the pending ones of ``jobs`` that wait for their next attempt to now, each
    logged; returns how many were moved.
    """
    waiting = [job for job in jobs if is_waiting(job)]
    if not waiting:
        return 0
    with transaction.atomic():
        moved = send_waiting_jobs_now([job.pk for job in waiting])
        for job in waiting:
            log_job_action(job, "enterspeed_sync.send_now", user, audit)
    return moved


def send_all_waiting_now(*, user=None, audit: dict | None = None) -> int:
    """Move every pending job waiting for its next attempt to now; returns how many."""
    with transaction.atomic():
        moved = send_waiting_jobs_now()
        log_queue_action("enterspeed_sync.send_now", user, count=moved, **(audit or {}))
    return moved


# Delete ---------------------------------------------------------------------------------


def delete_jobs(jobs: list[EnterspeedJob], *, user=None, audit: dict | None = None) -> int:
    """
    Delete ``jobs``, each logged; returns how many were deleted. A job being processed is
    never deleted (its worker is sending it): it is deleted when it succeeds, or stays failed.
    """
    pks = [job.pk for job in jobs]
    with transaction.atomic():
        deletable = EnterspeedJob.objects.filter(pk__in=pks).exclude(state=JobState.PROCESSING)
        deletable = list(deletable.select_for_update())
        for job in deletable:
            log_job_action(job, "wagtail.delete", user, audit, deleted=True)
        deleted, _rows = EnterspeedJob.objects.filter(pk__in=[job.pk for job in deletable]).delete()
    return deleted


def delete_all_failed(
    failed=None, *, user=None, audit: dict | None = None, filters: dict | None = None
) -> int:
    """Delete every failed job (of the ``failed`` queryset, if given) in one statement."""
    failed = EnterspeedJob.objects.failed() if failed is None else failed
    data = {"filters": filters} if filters is not None else {}
    with transaction.atomic():
        deleted, _rows = failed.delete()
        log_queue_action(
            "enterspeed_sync.delete_failed", user, count=deleted, **data, **(audit or {})
        )
    return deleted


def clear_pending(*, user=None, audit: dict | None = None) -> int:
    """Delete every pending job in one statement; returns how many."""
    with transaction.atomic():
        deleted, _rows = EnterspeedJob.objects.pending().delete()
        log_queue_action("enterspeed_sync.clear_pending", user, count=deleted, **(audit or {}))
    return deleted
