from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from enterspeed_sync.client import EnterspeedClient
    from enterspeed_sync.models import EnterspeedJob


class BaseJobHandler:
    """
    Turns one kind of job into calls to the Enterspeed ingest client.

    Handlers are listed in ``ENTERSPEED_SYNC["JOB_HANDLERS"]``; for each job the first
    handler whose ``can_handle`` returns True gets it. ``handle`` returns normally when
    Enterspeed accepted the change and raises when it did not: the exception's text becomes
    the job's error. Handlers are instantiated once per worker process, so keep no
    per-job state on ``self``.
    """

    #: A unique, stable name for the handler, used in logs and checks.
    key: str = ""

    def can_handle(self, job: EnterspeedJob) -> bool:
        raise NotImplementedError

    def handle(self, job: EnterspeedJob, client: EnterspeedClient) -> None:
        raise NotImplementedError
