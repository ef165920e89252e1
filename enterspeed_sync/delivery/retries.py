"""
The retry policy: what a failed attempt means for its job, and how long to wait.

Pure functions, no database: ``processing.failures`` applies the verdict. The taxonomy follows
Enterspeed's contract (docs/reliability.md has the table); a database fault is transient.
"""

from __future__ import annotations

import enum
import random
import socket
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from django.db import InterfaceError, OperationalError

from enterspeed_sync.delivery.client import (
    EnterspeedConnectionError,
    EnterspeedError,
    EnterspeedHTTPError,
    InvalidAPIKey,
)

#: Errors of the database, not of the job: a lock another connection held too long
#: (SQLite's "database is locked"), a connection lost in a restart or fail-over.
DATABASE_FAULTS = (OperationalError, InterfaceError)


#: How a time is written into a stored text (a job's error, a pause reason): UTC, and
#: saying so, so the admin can show it in the reader's time zone (``display.local_times``).
STAMP_FORMAT = "%Y-%m-%d %H:%M:%S UTC"


def stamp(when: datetime) -> str:
    """``when`` for a stored text: ``2026-12-02 03:40:05 UTC``."""
    return when.astimezone(UTC).strftime(STAMP_FORMAT)


def is_database_fault(exc: BaseException) -> bool:
    return isinstance(exc, DATABASE_FAULTS)


class Verdict(enum.Enum):
    #: Network error, timeout, 5xx, an unexpected status, a database fault: retry later
    #: with backoff.
    TRANSIENT = "transient"
    #: 429: pause every worker until Retry-After; the job's attempts are not spent.
    THROTTLED = "throttled"
    #: 401/403, or a key that cannot go into a header: the key is wrong; stop sending
    #: until the configuration changes.
    AUTH = "auth"
    #: 400/404/413/422, a handler bug, an unmappable page: fail at once with the reason.
    PERMANENT = "permanent"


class SendingPaused(EnterspeedError):
    """
    Raised before a request when sending is paused (a 429's Retry-After, an open circuit
    breaker, a refused API key). The job goes back to the queue; no attempt is spent.
    """

    retryable = True

    def __init__(self, message: str, *, until=None) -> None:
        super().__init__(message)
        self.until = until


@dataclass(frozen=True)
class Classification:
    verdict: Verdict
    status: int | None = None
    retry_after: float | None = None


def classify(exc: BaseException) -> Classification:
    """What ``exc``, raised by a handler, means for its job."""
    if isinstance(exc, SendingPaused):
        return Classification(Verdict.THROTTLED)
    if isinstance(exc, InvalidAPIKey):
        return Classification(Verdict.AUTH)
    if isinstance(exc, EnterspeedHTTPError):
        if exc.status == 429:
            return Classification(Verdict.THROTTLED, exc.status, exc.retry_after)
        if exc.is_auth_error:
            return Classification(Verdict.AUTH, exc.status)
        verdict = Verdict.TRANSIENT if exc.retryable else Verdict.PERMANENT
        return Classification(verdict, exc.status, exc.retry_after)
    if isinstance(exc, EnterspeedConnectionError):
        return Classification(Verdict.TRANSIENT)
    if isinstance(exc, EnterspeedError):
        return Classification(Verdict.TRANSIENT if exc.retryable else Verdict.PERMANENT)
    # A handler that talks HTTP without our client: its network errors are still transient.
    if isinstance(
        exc, requests.ConnectionError | requests.Timeout | ConnectionError | socket.timeout
    ):
        return Classification(Verdict.TRANSIENT)
    # The database was locked or went away while the job was mapped: the job is fine.
    if is_database_fault(exc):
        return Classification(Verdict.TRANSIENT)
    # Anything else is a bug or bad content: retrying the same input gives the same error.
    return Classification(Verdict.PERMANENT)


def backoff_delay(
    attempts: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """
    Seconds to wait after the ``attempts``-th failed attempt: exponential with "equal
    jitter", uniformly between half and all of ``min(cap, base * 2**(attempts - 1))``. The
    jitter keeps jobs that failed together from coming back together; the lower half-bound
    keeps a retry from coming back at once (full jitter can pick ~0 s).
    """
    ceiling = min(cap, base * 2 ** max(0, min(attempts - 1, 30)))
    return (rng or random).uniform(ceiling / 2, ceiling)


def clamp_retry_after(retry_after: float | None, *, default: float, maximum: float) -> float:
    """A 429's pause: Retry-After when given (capped), else ``default``."""
    if retry_after is None:
        return min(default, maximum)
    return max(0.0, min(retry_after, maximum))
