"""
Deprecated: the task paths of 0.x, kept for one release so that tasks queued before an
upgrade (django-q2 stores a task's function as this dotted path) still run after it.
New tasks name ``enterspeed_sync.tasks``.
"""

from enterspeed_sync.tasks import retry_failed_task
from enterspeed_sync.tasks import seed_task as _seed_task


def seed_task(*, root_page_id=None, **scope) -> dict[str, int]:
    # The old task took ``root_page_id``; the new one takes the scope's ``root_page``.
    return _seed_task(root_page=root_page_id, **scope)


__all__ = ["retry_failed_task", "seed_task"]
