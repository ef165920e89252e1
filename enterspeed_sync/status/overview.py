"""
The sync at a glance, for the dashboard: a status line in words per destination, the
entities sent, failed and queued per minute and per hour (``models.SyncCounter``, kept by
``processing.counters``), and the failed jobs grouped by reason.

Times are returned as aware datetimes; the admin shows them in the reader's time zone.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from enterspeed_sync import status as sync_status
from enterspeed_sync.delivery.gate import current_source
from enterspeed_sync.models import EnterspeedJob, JobState, LedgerEntry, SyncCounter
from enterspeed_sync.status import DestinationStatus, SyncStatus


@dataclass(frozen=True)
class StatusLine:
    destination: str
    label: str
    #: The destination's state (``status.DestinationStatus.state``): the one verdict.
    kind: str
    #: The status in words, e.g. "Enterspeed unreachable since 14:02:11".
    words: str
    #: When Enterspeed last accepted a change for this destination (the ledger).
    last_accepted_at: datetime | None
    oldest_pending_at: datetime | None
    next_retry_at: datetime | None

    @property
    def http_status(self) -> int:
        """What the health endpoint answers in this state (200, or 503)."""
        return sync_status.http_status(self.kind)


def get_status_lines(status: SyncStatus) -> list[StatusLine]:
    """One line per destination (one ledger query each): the state in a few words."""
    return [
        StatusLine(
            row.destination,
            row.label,
            row.state,
            _words(row, status),
            last_accepted_at=_last_accepted(row.destination),
            oldest_pending_at=row.oldest_pending_at,
            next_retry_at=row.next_retry_at,
        )
        for row in status.destinations
    ]


def _words(row: DestinationStatus, status: SyncStatus) -> str:
    """A few words for ``row.state``; the state itself is decided in ``status``."""
    state = row.state
    if state == sync_status.AUTH_FAILED:
        return _("Key refused: nothing is sent until the API key works")
    if state == sync_status.BREAKER_OPEN:
        words = _("Breaker open, next probe at %(probe)s") % {"probe": clock(row.until)}
        if row.failing_since:
            words = _("Enterspeed unreachable since %(since)s; %(rest)s") % {
                "since": clock(row.failing_since),
                "rest": words[0].lower() + words[1:],
            }
        return words
    if state == sync_status.UNREACHABLE:
        words = ngettext(
            "Enterspeed unreachable since %(since)s (%(n)d failure)",
            "Enterspeed unreachable since %(since)s (%(n)d failures in a row)",
            row.consecutive_failures,
        )
        return words % {"since": clock(row.failing_since), "n": row.consecutive_failures}
    if state == sync_status.NO_API_KEY:
        return _("No API key: jobs wait until one is configured")
    if state == sync_status.DISABLED:
        return _("Sync switched off")
    if state == sync_status.STUCK:
        return ngettext(
            "%(n)d job held by a stopped worker, and no cluster to take it back",
            "%(n)d jobs held by a stopped worker, and no cluster to take them back",
            row.expired,
        ) % {"n": row.expired}
    if state == sync_status.NO_CLUSTER:
        return _("No cluster running: start `manage.py qcluster`")
    if state == sync_status.STALLED:
        return _("Stalled: jobs due since %(since)s") % {"since": clock(row.oldest_due_at)}
    if state == sync_status.RATE_LIMITED:
        return _("Paused by rate limit until %(until)s") % {"until": clock(row.until)}
    if row.active:
        return _("Syncing")
    return _("Idle and in sync")


def _last_accepted(destination: str) -> datetime | None:
    key_hash = current_source(destination).key_hash
    return LedgerEntry.objects.filter(key_hash=key_hash).aggregate(last=Max("sent_at"))["last"]


def clock(value: datetime | None) -> str:
    """A time in the active time zone (the admin user's, else TIME_ZONE)."""
    if value is None:
        return _("an unknown time")
    local = timezone.localtime(value)
    if local.date() == timezone.localdate():
        return local.strftime("%H:%M:%S %Z").strip()
    return local.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


# Activity per minute and per hour --------------------------------------------------------

SERIES = ("sent", "failed", "queued")


@dataclass(frozen=True)
class Bucket:
    start: datetime
    sent: int
    unchanged: int
    retried: int
    failed: int
    #: Jobs waiting in the queue (the highest level seen); None: no batch ran then.
    queued: int | None


def get_activity(span: str, now: datetime | None = None, queued_now: int | None = None):
    """``span`` "hour": 60 one-minute buckets; "day": 24 one-hour buckets, oldest first,
    summed over destinations. ``queued_now`` (the queue's length now) fills the current
    bucket's level, as no batch may have run (an open breaker claims nothing)."""
    now = now or timezone.now()
    step, count = (timedelta(minutes=1), 60) if span == "hour" else (timedelta(hours=1), 24)
    end = now.replace(second=0, microsecond=0)
    if span != "hour":
        end = end.replace(minute=0)
    start = end - step * (count - 1)
    rows = (
        SyncCounter.objects.filter(minute__gte=start)
        .values("minute")
        .annotate(
            sent=Sum("sent"),
            unchanged=Sum("unchanged"),
            retried=Sum("retried"),
            failed=Sum("failed"),
            queued=Sum("queued"),
        )
    )
    sums: dict[int, Counter] = {}
    levels: dict[int, int] = {}
    for row in rows:
        index = int((row["minute"] - start) // step)
        if not 0 <= index < count:
            continue
        sums.setdefault(index, Counter()).update(
            {key: row[key] for key in ("sent", "unchanged", "retried", "failed")}
        )
        levels[index] = max(levels.get(index, 0), row["queued"])
    if queued_now is not None:
        levels[count - 1] = max(levels.get(count - 1, 0), queued_now)
    return [
        Bucket(
            start + step * index,
            *(sums.get(index, Counter())[key] for key in ("sent", "unchanged", "retried")),
            sums.get(index, Counter())["failed"],
            levels.get(index),
        )
        for index in range(count)
    ]


# Failed jobs by reason -------------------------------------------------------------------

#: "(HTTP 422, SomeCode)" or "(HTTP 503)" as the client writes them.
_HTTP = re.compile(r"\(HTTP (?P<status>\d{3})(?:, (?P<code>[^):]+))?\)")
#: What processing puts before the reason itself.
_PREFIXES = re.compile(
    r"^(?:Gave up after \d+ attempts\. Last error: "
    r"|Attempt \d+ of \d+ failed; next attempt at [^.]+\. )+"
)
#: Enterspeed's note on a refusal inside a bulk request, not an error code.
BULK_NOTE = "in a bulk request"


@dataclass(frozen=True)
class Reason:
    label: str
    count: int
    #: Text every error of the group contains: the jobs list's ``?q=``.
    search: str


def normalise_error(text: str) -> tuple[str, str]:
    """(label, search): HTTP status and Enterspeed's error code when the error has them,
    else the error's first line (the exception class, for a bug) with numbers elided."""
    match = _HTTP.search(text or "")
    if match is not None:
        code = (match["code"] or "").strip()
        if code and code != BULK_NOTE:
            return f"HTTP {match['status']} · {code}", f"HTTP {match['status']}, {code})"
        if code:  # the bulk note: no code to tell these refusals apart
            return f"HTTP {match['status']} ({code})", f"HTTP {match['status']}, {code})"
        return f"HTTP {match['status']}", f"HTTP {match['status']})"
    first = _PREFIXES.sub("", (text or "").strip()).split("\n", 1)[0].strip()
    if not first:
        return _("No reason recorded"), ""
    label = re.sub(r"\d+", "…", first)
    lead = re.split(r"[\d'\"(]", first, maxsplit=1)[0].strip()
    return label[:160], (lead if len(lead) >= 8 else first)[:100]


def get_failure_reasons(limit: int = 8) -> list[Reason]:
    """The failed jobs grouped by reason, the most common first."""
    counts: Counter[tuple[str, str]] = Counter()
    failed = EnterspeedJob.objects.filter(state=JobState.FAILED).order_by()
    for error in failed.values_list("error", flat=True).iterator():
        counts[normalise_error(error)] += 1
    return [Reason(label, n, search) for (label, search), n in counts.most_common(limit)]
