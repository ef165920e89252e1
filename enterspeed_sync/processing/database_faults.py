"""
Riding out database faults: a write lock another connection holds too long (SQLite's
"database is locked"), a connection lost in a restart or fail-over (PostgreSQL).

Such an error says nothing about the job, so it never fails one. A write of the job runner
(claiming, recording an outcome, renewing a lease) is tried again a few times, each time on
a fresh connection, with a growing pause; when the database stays away, the error reaches
``processing.runner.process_pending_jobs``, which stops the run, waits for the database to
answer again (``wait_for_database``) and then goes on; a claimed job it could not put back
comes back when its lease runs out.

Inside a transaction nothing is retried or closed: the error belongs to whoever opened the
transaction, and swallowing it there would commit half of their work.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import IntegrityError, connections, router, transaction

from enterspeed_sync.delivery.retries import DATABASE_FAULTS
from enterspeed_sync.models import EnterspeedJob

logger = logging.getLogger(__name__)

#: Pauses between the tries of one write: about 8 s in all, enough to ride out a PostgreSQL
#: restart or a burst of SQLite lock contention without giving up the batch.
RETRY_PAUSES = (0.2, 0.5, 1.0, 2.0, 4.0)

_local = threading.local()
Func = TypeVar("Func", bound=Callable)
Result = TypeVar("Result")

#: How often a run stopped by a database fault looks whether the database answers again.
DATABASE_POLL_SECONDS = 0.5

__all__ = ["atomic_retrying_conflicts", "reconnect", "retry_database_faults", "wait_for_database"]


def _jobs_connection():
    return connections[router.db_for_write(EnterspeedJob)]


def reconnect() -> bool:
    """
    Drop the job table's connection so the next query opens a new one (a lost connection
    is never usable again). Not inside a transaction: returns False there.
    """
    connection = _jobs_connection()
    if connection.in_atomic_block:
        return False
    connection.close()
    return True


def retry_database_faults(func: Func) -> Func:
    """
    Run ``func`` again (on a new connection, after a pause) when it fails with a database
    fault, up to ``len(RETRY_PAUSES)`` times; then the error propagates. ``func`` must be
    safe to run again from the start (every write of the job runner is fenced by its lease
    token, so a write that did commit before the connection broke is not done twice). A
    retried function that calls another one retries only as a whole.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if getattr(_local, "retrying", False):
            return func(*args, **kwargs)
        _local.retrying = True
        try:
            for pause in (*RETRY_PAUSES, None):
                try:
                    return func(*args, **kwargs)
                except DATABASE_FAULTS as exc:
                    if pause is None or not reconnect():
                        raise
                    logger.warning(
                        "Database error in %s (%s); trying again in %.1f s on a new connection",
                        func.__name__,
                        str(exc).strip() or type(exc).__name__,
                        pause,
                    )
                    time.sleep(pause)
        finally:
            _local.retrying = False

    return wrapper  # type: ignore[return-value]


def wait_for_database(seconds: float) -> bool:
    """
    Wait up to ``seconds`` for the job table's database to take a write again (a restart
    over, a lock released), looking every ``DATABASE_POLL_SECONDS`` on a new connection.
    True as soon as it does. The look is a write that changes nothing: under SQLite's
    write lock a read still succeeds.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            with transaction.atomic(using=router.db_for_write(EnterspeedJob)):
                EnterspeedJob.objects.filter(pk=-1).update(attempts=0)
            return True
        except DATABASE_FAULTS:
            reconnect()
        if time.monotonic() + DATABASE_POLL_SECONDS > deadline:
            return False
        time.sleep(DATABASE_POLL_SECONDS)


def atomic_retrying_conflicts(write: Callable[[], Result], *, rounds: int = 3) -> Result | None:
    """
    Run ``write`` in a transaction of its own; when another worker inserted a conflicting
    row meanwhile (an ``IntegrityError`` on a unique constraint) run it again, as the next
    round sees that row. Returns what ``write`` returned, or None after ``rounds`` conflicts.
    """
    for _round in range(rounds):
        try:
            with transaction.atomic():
                return write()
        except IntegrityError:
            continue
    return None
