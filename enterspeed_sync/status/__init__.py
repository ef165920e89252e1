"""
How the sync is doing, one model for every reader: the admin dashboard's notices, the
homepage panel, the health endpoint, the system check ``enterspeed_sync.W016`` and
``manage.py enterspeed_process --status``.

Per destination (published content, preview): the queue (counts, and since when its oldest
due job has waited), whether sending is stopped (a refused key, an open circuit breaker, a
429 pause, each with when it ends) and the last error. For the whole sync: whether it is
switched off, the post-sync hooks that are failing, and the cluster heartbeat.

*Stalled* has one meaning everywhere: a pending job that has been due (``next_attempt_at``)
for longer than ``STALLED_AFTER``. A job waiting for its retry or for a pause to end is not
due, so it never makes the queue stalled.

The cluster heartbeat is django-q2's own: its scheduler, which runs inside every cluster's
sentinel about every 30 seconds, moves our minute schedule's ``next_run`` on each time it
queues the processing task (and records that task's id). A ``next_run`` more than
``HEARTBEAT_GRACE`` in the past, or no task recorded yet, means no cluster's scheduler has
run since. It is in the database, so every process sees it
(django-q2's ``Stat`` lives in the cache, which by default is per process), it costs no
write of ours, and it is read only when a queue is stalled: then it tells "no cluster is
running" from "a cluster is running but the queue is behind".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from django.apps import apps
from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from enterspeed_sync.conf import conf, get_destinations
from enterspeed_sync.delivery.gate import current_source
from enterspeed_sync.models import (
    Destination,
    EnterspeedJob,
    JobState,
    PostSyncHookStatus,
    SourceState,
)

#: ``DestinationStatus.state`` values, most serious first.
AUTH_FAILED = "auth_failed"
BREAKER_OPEN = "breaker_open"
RATE_LIMITED = "rate_limited"
DISABLED = "disabled"
STALLED = "stalled"
OK = "ok"
SEVERITY = (AUTH_FAILED, BREAKER_OPEN, RATE_LIMITED, DISABLED, STALLED, OK)
#: States in which no worker sends anything to that destination.
PAUSED_STATES = frozenset({AUTH_FAILED, BREAKER_OPEN, RATE_LIMITED})

#: A job due for longer than this means the queue is stalled (the one threshold).
STALLED_AFTER = timedelta(minutes=5)
#: Our minute schedule's ``next_run`` this far in the past: no cluster's scheduler runs.
HEARTBEAT_GRACE = timedelta(minutes=2)
#: The minute schedule (``processing.schedules.SCHEDULES``) whose ``next_run`` is watched.
PROCESS_SCHEDULE = "enterspeed_sync.process_pending_jobs"


@dataclass(frozen=True)
class Heartbeat:
    """Whether a django-q2 cluster is running (its scheduler moved our schedule on)."""

    #: When the processing schedule is next due; None: no cluster ever ran it (or there is
    #: no schedule: django_q is not installed, or migrate has not run).
    next_run: datetime | None
    alive: bool


def get_heartbeat(now: datetime | None = None) -> Heartbeat:
    if not apps.is_installed("django_q"):
        return Heartbeat(None, False)
    # Function-level import: django_q is an optional app here (check E005 says when it is
    # missing), and its models cannot be imported then.
    from django_q.models import Schedule

    now = now or timezone.now()
    # ``task`` is set by the scheduler only: a schedule no cluster has run yet has none.
    rows = Schedule.objects.filter(name=PROCESS_SCHEDULE, task__isnull=False).exclude(repeats=0)
    next_run = rows.values_list("next_run", flat=True).first()
    return Heartbeat(next_run, next_run is not None and next_run > now - HEARTBEAT_GRACE)


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
    #: Since when the longest-waiting due job could have been sent (the stall measure).
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

    @property
    def ok(self) -> bool:
        return self.state == OK

    @property
    def paused(self) -> bool:
        return self.state in PAUSED_STATES

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

    @cached_property
    def heartbeat(self) -> Heartbeat:
        """The cluster heartbeat (read on first use: one query)."""
        return get_heartbeat(self.now)


def get_sync_status(now: datetime | None = None) -> SyncStatus:
    """The sync's status: two queries (jobs per destination, sending state), plus one for
    the heartbeat when a queue is stalled."""
    now = now or timezone.now()
    pending = Q(state=JobState.PENDING)
    due = pending & Q(next_attempt_at__lte=now)
    rows = (
        EnterspeedJob.objects.order_by()
        .values("destination")
        .annotate(
            pending=Count("pk", filter=pending),
            due=Count("pk", filter=due),
            processing=Count("pk", filter=Q(state=JobState.PROCESSING)),
            failed=Count("pk", filter=Q(state=JobState.FAILED)),
            oldest_due_at=Min("next_attempt_at", filter=due),
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
    status = SyncStatus([], enabled=conf.ENABLED, now=now)
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
    counts = {key: counts.get(key) or 0 for key in ("pending", "due", "processing", "failed")} | {
        key: counts.get(key) for key in ("oldest_due_at", "oldest_pending_at", "next_retry_at")
    }
    if state is not None:
        counts |= {
            "consecutive_failures": state.consecutive_failures,
            "failing_since": state.failing_since,
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
    if state is not None and state.paused_until and state.paused_until > status.now:
        return make(
            RATE_LIMITED,
            f"Enterspeed asked us to slow down (HTTP 429); sending resumes at "
            f"{_time(state.paused_until)}.",
            until=state.paused_until,
        )
    if not status.enabled:
        return make(DISABLED, "ENTERSPEED_SYNC['ENABLED'] is False: no new jobs are created.")
    oldest = counts["oldest_due_at"]
    if oldest is not None and status.now - oldest > STALLED_AFTER:
        waited = int((status.now - oldest).total_seconds() // 60)
        if status.heartbeat.alive:
            cause = (
                "a django-q2 cluster is running, but the queue is behind: a big seed, too "
                "few workers, or workers stuck on something else?"
            )
        else:
            cause = "is a django-q2 cluster (`manage.py qcluster`) running? None has been seen."
        return make(
            STALLED,
            f"{counts['due']} jobs are due, one of them for {waited} minutes (since "
            f"{_time(oldest)}): {cause}",
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
    """What an admin should act on: no API key, sync switched off, a failing post-sync
    hook, and every destination that sends nothing or is stalled (``get_sync_status``)."""
    status = status or get_sync_status()
    notices = []
    if not conf.API_KEY:
        notices.append(
            Notice(
                "error",
                _(
                    "No API key is configured: set ENTERSPEED_SYNC['API_KEY'] in the "
                    "project's settings. Jobs are queued but cannot be sent."
                ),
            )
        )
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
        if row.state in PAUSED_STATES:
            notices.append(Notice("error", row.message))
        elif row.state == STALLED:
            notices.append(Notice("warning", row.message))
    return notices
