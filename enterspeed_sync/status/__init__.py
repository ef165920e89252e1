"""
How the sync is doing, one verdict for every reader: the admin dashboard's status line and
notices, the homepage panel, the health endpoint (and its HTTP status), the metrics
endpoint, the system check ``enterspeed_sync.W016`` and ``manage.py enterspeed_process
--status``. Each reader words or formats ``DestinationStatus.state``; none decides a state
of its own.

Per destination (published content, preview): the queue (counts, and since when its oldest
due job has waited), whether sending is stopped (no key, a refused key, Enterspeed
unreachable or an open circuit breaker, a 429 pause, each with when it ends) and the last
error. For the whole sync: whether it is switched off, the post-sync hooks that are
failing, and the django-q2 clusters that are running (``clusters``: django-q2's own
``Stat``, seen within seconds).

*Stalled* has one meaning everywhere: a job that could have been sent (a pending job past
its ``next_attempt_at``, or a claimed job whose lease ran out) has waited longer than
``STALLED_AFTER``. A job waiting for its retry or for a pause to end is not due, so it
never makes the queue stalled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from enterspeed_sync.conf import conf, get_api_key, get_destinations
from enterspeed_sync.delivery.gate import current_source
from enterspeed_sync.models import (
    Destination,
    EnterspeedJob,
    JobState,
    PostSyncHookStatus,
    SourceState,
)
from enterspeed_sync.status.clusters import Clusters, get_clusters

#: ``DestinationStatus.state`` values, most serious first.
AUTH_FAILED = "auth_failed"
BREAKER_OPEN = "breaker_open"
UNREACHABLE = "unreachable"
NO_API_KEY = "no_api_key"
DISABLED = "disabled"
STUCK = "stuck"
NO_CLUSTER = "no_cluster"
STALLED = "stalled"
RATE_LIMITED = "rate_limited"
OK = "ok"
SEVERITY = (
    AUTH_FAILED,
    BREAKER_OPEN,
    UNREACHABLE,
    NO_API_KEY,
    DISABLED,
    STUCK,
    NO_CLUSTER,
    STALLED,
    RATE_LIMITED,
    OK,
)
#: States in which no worker sends anything to that destination.
PAUSED_STATES = frozenset({AUTH_FAILED, BREAKER_OPEN, RATE_LIMITED})
#: States in which nothing reaches Enterspeed until someone or something acts: the health
#: endpoint answers 503 ("Service Unavailable") in these, 200 in the others.
FAILING_STATES = frozenset(
    {AUTH_FAILED, BREAKER_OPEN, UNREACHABLE, NO_API_KEY, STUCK, NO_CLUSTER, STALLED}
)


def http_status(state: str) -> int:
    """The HTTP status a monitor reads for ``state``: 503 when nothing gets through."""
    return 503 if state in FAILING_STATES else 200


#: A job due for longer than this means the queue is stalled (the one threshold).
STALLED_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class DestinationStatus:
    destination: str
    label: str
    state: str
    #: One sentence for people: what is happening and what to do.
    message: str
    #: When a pause or an open breaker ends.
    until: datetime | None = None
    pending: int = 0
    due: int = 0
    processing: int = 0
    failed: int = 0
    #: Processing jobs whose lease ran out: their worker stopped (killed, or its machine).
    expired: int = 0
    #: Since when the longest-waiting due job could have been sent (the stall measure): a
    #: pending job's ``next_attempt_at``, or an expired lease's end.
    oldest_due_at: datetime | None = None
    #: When the longest-waiting pending job was created (the queue's age).
    oldest_pending_at: datetime | None = None
    last_error: str = ""
    configured: bool = True
    #: The earliest time a job waiting for its retry is due again.
    next_retry_at: datetime | None = None
    #: Transient failures in a row, and since when (``SourceState``).
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    #: How often in a row the circuit breaker opened; 0 while it is closed.
    breaker_trips: int = 0

    @property
    def ok(self) -> bool:
        return self.state == OK

    @property
    def paused(self) -> bool:
        return self.state in PAUSED_STATES

    @property
    def failing(self) -> bool:
        return self.state in FAILING_STATES

    @property
    def http_status(self) -> int:
        return http_status(self.state)

    @property
    def active(self) -> int:
        return self.pending + self.processing


@dataclass
class SyncStatus:
    """The sync as a whole: one ``DestinationStatus`` per destination, and what they share.

    ``state``, ``message``, ``until`` and ``last_error`` are those of the destination in the
    most serious state; the counts add up every destination's."""

    destinations: list[DestinationStatus]
    enabled: bool
    now: datetime = field(default_factory=timezone.now)

    @cached_property
    def worst(self) -> DestinationStatus:
        return min(self.destinations, key=lambda row: SEVERITY.index(row.state))

    @property
    def state(self) -> str:
        return self.worst.state

    @property
    def message(self) -> str:
        return self.worst.message

    @property
    def until(self) -> datetime | None:
        return self.worst.until

    @property
    def last_error(self) -> str:
        return self.worst.last_error

    @property
    def ok(self) -> bool:
        return self.state == OK

    @property
    def http_status(self) -> int:
        return http_status(self.state)

    @property
    def pending(self) -> int:
        return sum(row.pending for row in self.destinations)

    @property
    def due(self) -> int:
        return sum(row.due for row in self.destinations)

    @property
    def processing(self) -> int:
        return sum(row.processing for row in self.destinations)

    @property
    def failed(self) -> int:
        return sum(row.failed for row in self.destinations)

    @property
    def expired(self) -> int:
        return sum(row.expired for row in self.destinations)

    @property
    def active(self) -> int:
        return self.pending + self.processing

    @property
    def oldest_due_at(self) -> datetime | None:
        return min((r.oldest_due_at for r in self.destinations if r.oldest_due_at), default=None)

    @property
    def oldest_pending_at(self) -> datetime | None:
        found = (r.oldest_pending_at for r in self.destinations if r.oldest_pending_at)
        return min(found, default=None)

    def get(self, destination: str) -> DestinationStatus | None:
        return next((row for row in self.destinations if row.destination == destination), None)

    @cached_property
    def failing_hooks(self) -> list[PostSyncHookStatus]:
        """Post-sync hooks whose last call failed (read on first use: one query)."""
        return list(PostSyncHookStatus.objects.filter(consecutive_failures__gt=0))

    #: The django-q2 clusters running now (``status.clusters``).
    clusters: Clusters = field(default_factory=lambda: Clusters(visible=False, needed=False))


def get_sync_status(now: datetime | None = None) -> SyncStatus:
    """The sync's status: two queries (jobs per destination, sending state) and a read of
    django-q2's cluster statistics from its cache."""
    now = now or timezone.now()
    pending = Q(state=JobState.PENDING)
    due = pending & Q(next_attempt_at__lte=now)
    expired = Q(state=JobState.PROCESSING, leased_until__lt=now)
    rows = (
        EnterspeedJob.objects.order_by()
        .values("destination")
        .annotate(
            pending=Count("pk", filter=pending),
            due=Count("pk", filter=due),
            processing=Count("pk", filter=Q(state=JobState.PROCESSING)),
            failed=Count("pk", filter=Q(state=JobState.FAILED)),
            expired=Count("pk", filter=expired),
            oldest_due_at=Min("next_attempt_at", filter=due),
            oldest_expired_at=Min("leased_until", filter=expired),
            oldest_pending_at=Min("created_at", filter=pending),
            next_retry_at=Min(
                "next_attempt_at", filter=pending & Q(attempts__gt=0, next_attempt_at__gt=now)
            ),
        )
    )
    counts = {row.pop("destination"): row for row in rows}
    configured = get_destinations()
    shown = [
        value
        for value in Destination.values
        if value in configured or any(counts.get(value, {}).values())
    ]
    sources = {value: current_source(value).key_hash for value in shown}
    states = {
        state.key_hash: state
        for state in SourceState.objects.filter(key_hash__in=set(sources.values()))
    }
    status = SyncStatus([], enabled=conf.ENABLED, now=now, clusters=get_clusters(now))
    for value in shown:
        status.destinations.append(
            _destination_status(
                value,
                value in configured,
                counts.get(value, {}),
                states.get(sources[value]),
                status,
            )
        )
    return status


def _destination_status(
    destination: str,
    configured: bool,
    counts: dict,
    state: SourceState | None,
    status: SyncStatus,
) -> DestinationStatus:
    counts = dict(counts)
    oldest_expired_at = counts.pop("oldest_expired_at", None)
    counts = {
        key: counts.get(key) or 0 for key in ("pending", "due", "processing", "failed", "expired")
    } | {key: counts.get(key) for key in ("oldest_due_at", "oldest_pending_at", "next_retry_at")}
    # A job whose lease ran out could have been sent again since then: it counts as due.
    if oldest_expired_at is not None:
        found = [t for t in (counts["oldest_due_at"], oldest_expired_at) if t is not None]
        counts["oldest_due_at"] = min(found)
    if state is not None:
        counts |= {
            "consecutive_failures": state.consecutive_failures,
            "failing_since": state.failing_since,
            "breaker_trips": state.breaker_trips,
        }
    label = str(Destination(destination).label)
    # The published source's sentences are as they always were; others name the source.
    prefix = "" if destination == Destination.PUBLISH else f"{label}: "
    last_error = state.last_error if state else ""

    def make(state_name: str, message: str, **extra) -> DestinationStatus:
        extra.setdefault("last_error", last_error)
        return DestinationStatus(
            destination,
            label,
            state_name,
            prefix + message,
            configured=configured,
            **counts,
            **extra,
        )

    if state is not None and state.auth_error:
        key = "PREVIEW_API_KEY" if destination == Destination.PREVIEW else "API_KEY"
        return make(
            AUTH_FAILED,
            # auth_error already says what Enterspeed answered ("Enterspeed refused the
            # API key (HTTP 401): …"); the advice is docs/troubleshooting.md's.
            f"Nothing is sent: {state.auth_error.rstrip('.')}. Fix "
            f"ENTERSPEED_SYNC['{key}'] and sending resumes by itself; if you fixed the key "
            "in Enterspeed instead, the next processing run tests it and resumes, and "
            "`manage.py enterspeed_process --resume` does it at once.",
            last_error=state.auth_error,
        )
    if state is not None and state.breaker_trips:
        until = state.breaker_open_until
        return make(
            BREAKER_OPEN,
            f"Enterspeed keeps failing ({state.consecutive_failures} failures in a row; "
            f"last: {state.last_error or 'unknown'}). Workers have stopped claiming jobs and "
            f"probe the API again at {_time(until)}; the jobs wait and lose no attempts.",
            until=until,
        )
    if state is not None and state.consecutive_failures and state.failing_since:
        retry = counts["next_retry_at"]
        return make(
            UNREACHABLE,
            f"Enterspeed cannot be reached: {state.consecutive_failures} attempts in a row "
            f"failed since {_time(state.failing_since)} (last: "
            f"{state.last_error or 'unknown'}). The jobs are retried"
            + (f", next at {_time(retry)}" if retry else "")
            + "; if the cause is fixed, `manage.py enterspeed_retry --pending` sends them now.",
        )
    if not get_api_key(destination):
        key = "PREVIEW_API_KEY" if destination == Destination.PREVIEW else "API_KEY"
        return make(
            NO_API_KEY,
            f"No API key is configured (ENTERSPEED_SYNC['{key}']): jobs are queued, but "
            "the cluster sends nothing until it is set.",
        )
    if not status.enabled:
        return make(DISABLED, "ENTERSPEED_SYNC['ENABLED'] is False: no new jobs are created.")
    clusters = status.clusters
    if clusters.missing and counts["expired"]:
        return make(
            STUCK,
            f"{counts['expired']} jobs are held by a worker that stopped (their lease ran "
            "out), and no django-q2 cluster is running to take them back: start "
            "`manage.py qcluster`.",
        )
    if clusters.missing:
        return make(
            NO_CLUSTER,
            "No django-q2 cluster is running: jobs are queued but nothing sends them. "
            "Start `manage.py qcluster`.",
        )
    oldest = counts["oldest_due_at"]
    if oldest is not None and status.now - oldest > STALLED_AFTER:
        waited = int((status.now - oldest).total_seconds() // 60)
        if clusters.alive:
            cause = (
                f"{len(clusters.live)} django-q2 cluster(s) are running, but the queue is "
                "behind: a big seed, too few workers, workers stuck on something else, or a "
                "cluster started without the API key (its log says so)?"
            )
        else:
            cause = (
                "is a django-q2 cluster (`manage.py qcluster`) running? This process cannot "
                "see django-q2's cluster statistics (check enterspeed_sync.W030)."
            )
        return make(
            STALLED,
            f"{counts['due'] + counts['expired']} jobs are due, one of them for {waited} "
            f"minutes (since {_time(oldest)}): {cause}",
        )
    if state is not None and state.paused_until and state.paused_until > status.now:
        return make(
            RATE_LIMITED,
            f"Enterspeed asked us to slow down (HTTP 429); sending resumes at "
            f"{_time(state.paused_until)}.",
            until=state.paused_until,
        )
    return make(OK, "The sync is running.")


def _time(value: datetime | None) -> str:
    if value is None:
        return "an unknown time"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")


# What the admin shows ------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    level: str  # "warning" or "error", as Wagtail's help blocks
    message: str


def get_notices(status: SyncStatus | None = None) -> list[Notice]:
    """What an admin should act on: sync switched off, a failing post-sync hook, and every
    destination that sends nothing, is paused or is stalled (``get_sync_status``)."""
    status = status or get_sync_status()
    notices = []
    if not status.enabled:
        notices.append(
            Notice(
                "warning",
                _("Sync is switched off (ENTERSPEED_SYNC['ENABLED'] is False): no jobs are made."),
            )
        )
    for hook in status.failing_hooks:
        notices.append(
            Notice(
                "error",
                _(
                    "The post-sync hook %(hook)s failed %(count)d times in a row (last at "
                    "%(when)s): %(error)s"
                )
                % {
                    "hook": str(hook),
                    "count": hook.consecutive_failures,
                    "when": timezone.localtime(hook.last_failure_at).strftime("%Y-%m-%d %H:%M")
                    if hook.last_failure_at
                    else "?",
                    "error": hook.last_error,
                },
            )
        )
    for row in status.destinations:
        if row.failing or row.paused:
            notices.append(Notice("error" if row.failing else "warning", row.message))
    return notices
