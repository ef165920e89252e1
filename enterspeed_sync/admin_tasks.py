"""
django-q2 entry points for the admin area: work too large for a request (seeding a whole
site, retrying every failed job) runs here, queued after the request's transaction commits.
"""

from __future__ import annotations

import logging
import uuid

from django.db import transaction

logger = logging.getLogger(__name__)

SEED_TASK = "enterspeed_sync.admin_tasks.seed_task"
RETRY_TASK = "enterspeed_sync.admin_tasks.retry_failed_task"
TASK_GROUP = "enterspeed_sync.admin"


def seed_task(
    *,
    kinds: list[str],
    root_page_id: int | None = None,
    locales: list[str] | None = None,
    descendants: bool = True,
    force: bool = False,
    destination: str = "publish",
) -> dict[str, int]:
    """Queue the jobs of one seed; returns the jobs added per kind (the dashboard shows it)."""
    from enterspeed_sync.capture.seeding import seed
    from enterspeed_sync.mapping import get_base_page_model

    root_page = None
    if root_page_id is not None:
        root_page = get_base_page_model().objects.filter(pk=root_page_id).first()
        if root_page is None:
            raise LookupError(f"Page {root_page_id} no longer exists.")
    with transaction.atomic():
        result = seed(
            kinds=kinds,
            root_page=root_page,
            locales=locales or None,
            descendants=descendants,
            force=force,
            destination=destination,
        )
    return dict(result.counts)


def retry_failed_task(ids: list[int] | None = None) -> int:
    from enterspeed_sync.processing.transitions import retry_failed_jobs

    return retry_failed_jobs(ids)


def new_task_name(kind: str) -> str:
    """A unique django-q2 task name, by which the dashboard finds the task's result."""
    return f"enterspeed_sync.{kind}.{uuid.uuid4().hex}"


def queue_on_commit(func: str, task_name: str, **kwargs) -> None:
    """Queue ``func`` as a django-q2 task once the current transaction commits."""
    from django_q.tasks import async_task

    def enqueue() -> None:
        async_task(func, task_name=task_name, group=TASK_GROUP, ack_failure=True, **kwargs)

    transaction.on_commit(enqueue)


def get_task_result(task_name: str):
    """(finished, success, result) of a queued task; (False, None, None) while queued/running."""
    from django_q.models import Task

    task = Task.objects.filter(name=task_name).order_by("-stopped").first()
    if task is None:
        return False, None, None
    return True, task.success, task.result
