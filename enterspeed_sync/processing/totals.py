"""
Running totals for the metrics endpoint (``models.DeliveryTotal``): jobs sent, unchanged,
retried and failed by reason, requests Enterspeed answered with 429, and how long each
request took (a histogram). A batch collects them in memory (``BatchTally``) and adds them
in one statement when it ends, so the metrics cost no query per job or per request.

Counting is bookkeeping: a database error here is logged and never fails a batch.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

from django.db import DatabaseError, connection

from enterspeed_sync.delivery.errors import (
    EnterspeedConnectionError,
    EnterspeedError,
    EnterspeedHTTPError,
)
from enterspeed_sync.delivery.retries import is_database_fault
from enterspeed_sync.exceptions import EntityValidationError
from enterspeed_sync.models import DeliveryTotal
from enterspeed_sync.processing.transitions import Outcome

logger = logging.getLogger(__name__)

#: Upper bounds (seconds) of the request latency histogram's buckets. Enterspeed answers
#: most requests in well under a second; the top buckets show timeouts (``TIMEOUT``).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: The total each job outcome adds to (released and lost jobs count nowhere: they go back
#: to the queue unspent, or another worker has them).
OUTCOME_TOTALS = {
    Outcome.SUCCEEDED: "jobs_sent_total",
    Outcome.UNCHANGED: "jobs_unchanged_total",
    Outcome.RETRY: "job_attempts_failed_total",
    Outcome.STOP: "job_attempts_failed_total",
    Outcome.FAILED: "jobs_failed_total",
}
#: Totals that carry the failure's reason as a label.
BY_REASON = frozenset({"job_attempts_failed_total", "jobs_failed_total"})


def failure_reason(exc: BaseException) -> str:
    """A short, bounded label for why a request or a job failed (``reason="http_503"``)."""
    if isinstance(exc, EnterspeedHTTPError):
        return f"http_{exc.status}"
    if isinstance(exc, EnterspeedConnectionError):
        return "timeout" if exc.timed_out else "connection"
    if isinstance(exc, EnterspeedError):
        return "enterspeed_error"
    if isinstance(exc, EntityValidationError):
        return "invalid_entity"
    if is_database_fault(exc):
        return "database"
    return "handler_error"


def latency_bucket(seconds: float) -> str | None:
    """The ``le`` of the smallest bucket that holds ``seconds``; None above the largest."""
    index = bisect_left(LATENCY_BUCKETS, seconds)
    return f"{LATENCY_BUCKETS[index]:g}" if index < len(LATENCY_BUCKETS) else None


@dataclass
class BatchTally:
    """What one batch adds to the totals, collected in memory while it runs."""

    #: Per job: why it failed (its first failure in the batch).
    reasons: dict[int, str] = field(default_factory=dict)
    #: Seconds each request to Enterspeed took, answered or not.
    durations: list[float] = field(default_factory=list)
    #: Requests Enterspeed answered with 429.
    throttled: int = 0

    def failed(self, pks, reason: str) -> None:
        for pk in pks:
            self.reasons.setdefault(pk, reason)

    def request(self, seconds: float, exc: BaseException | None = None) -> None:
        self.durations.append(seconds)
        if isinstance(exc, EnterspeedHTTPError) and exc.status == 429:
            self.throttled += 1

    def totals(self, outcomes: dict[int, str]) -> Counter[tuple[str, str]]:
        """``{(name, labels): amount}`` to add, from the batch's outcomes and this tally."""
        added: Counter[tuple[str, str]] = Counter()
        for pk, outcome in outcomes.items():
            name = OUTCOME_TOTALS.get(outcome)
            if name is None:
                continue
            labels = ""
            if name in BY_REASON:
                labels = f'reason="{self.reasons.get(pk, "unknown")}"'
            added[name, labels] += 1
        if self.throttled:
            added["requests_throttled_total", ""] += self.throttled
        for seconds in self.durations:
            bucket = latency_bucket(seconds)
            if bucket is not None:
                added["request_duration_seconds_bucket", f'le="{bucket}"'] += 1
            added["request_duration_seconds_sum", ""] += seconds
            added["request_duration_seconds_count", ""] += 1
        return added


def record_totals(destination: str, outcomes: dict[int, str], tally: BatchTally) -> None:
    """Add a batch's totals to their rows: one INSERT … ON CONFLICT DO UPDATE (PostgreSQL
    and SQLite both have it), so concurrent workers add up and never overwrite."""
    added = tally.totals(outcomes)
    if not added:
        return
    table = connection.ops.quote_name(DeliveryTotal._meta.db_table)
    rows = ", ".join(["(%s, %s, %s, %s)"] * len(added))
    sql = (
        f"INSERT INTO {table} (destination, name, labels, value) VALUES {rows} "  # noqa: S608 - the table name is ours; values are parameters
        f"ON CONFLICT (destination, name, labels) DO UPDATE "
        f"SET value = {table}.value + excluded.value"
    )
    params = [
        value
        for (name, labels), amount in sorted(added.items())
        for value in (destination, name, labels, float(amount))
    ]
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError:
        logger.warning("Could not update the Enterspeed delivery totals", exc_info=True)
