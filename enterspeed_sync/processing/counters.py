"""
The per-minute counters behind the dashboard's charts (``models.SyncCounter``): each
batch adds its outcomes to its minute's row, in one query, and records how many jobs are
still queued; the stale-job sweep deletes rows older than ``KEEP_COUNTERS``.

Counting is bookkeeping: a database error here is logged and never fails a batch.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Count, F, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from enterspeed_sync.models import EnterspeedJob, JobState, SyncCounter
from enterspeed_sync.processing.transitions import Outcome

logger = logging.getLogger(__name__)

#: Counter rows older than this are deleted (the charts show the last day).
KEEP_COUNTERS = timedelta(days=2)

#: Which counter each batch outcome adds to (released and lost jobs count nowhere).
COUNTED = {
    Outcome.SUCCEEDED: "sent",
    Outcome.UNCHANGED: "unchanged",
    Outcome.RETRY: "retried",
    Outcome.STOP: "retried",
    Outcome.FAILED: "failed",
}
FIELDS = ("sent", "unchanged", "retried", "failed")


def minute_of(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


def record_outcomes(destination: str, outcomes: dict[int, str]) -> None:
    """Add a batch's outcomes to this minute's row: one UPDATE with F() increments (plus
    an INSERT for the minute's first batch), the queue's length read in the same UPDATE."""
    tally = Counter(COUNTED[o] for o in outcomes.values() if o in COUNTED)
    minute = minute_of(timezone.now())
    queued = Subquery(
        EnterspeedJob.objects.filter(state=JobState.PENDING, destination=OuterRef("destination"))
        .order_by()
        .values("destination")
        .annotate(n=Count("pk"))
        .values("n"),
        output_field=IntegerField(),
    )
    changes = {name: F(name) + tally[name] for name in FIELDS if tally[name]}
    row = SyncCounter.objects.filter(minute=minute, destination=destination)
    try:
        if row.update(**changes, queued=Coalesce(queued, 0)):
            return
        try:
            with transaction.atomic():
                SyncCounter.objects.create(
                    minute=minute,
                    destination=destination,
                    queued=EnterspeedJob.objects.filter(
                        state=JobState.PENDING, destination=destination
                    ).count(),
                    **{name: tally[name] for name in FIELDS},
                )
        except IntegrityError:  # another worker created the minute's row first
            row.update(**changes, queued=Coalesce(queued, 0))
    except DatabaseError:
        logger.warning("Could not update the Enterspeed sync counters", exc_info=True)


def prune_counters(now: datetime | None = None) -> int:
    """Delete counter rows older than ``KEEP_COUNTERS``. Returns how many."""
    now = now or timezone.now()
    deleted, _by_model = SyncCounter.objects.filter(minute__lt=now - KEEP_COUNTERS).delete()
    return deleted
