"""
Why nothing moves: one function that reads the job table and the shared sending state and
says, in a sentence, what the sync is doing. The admin, the system check
``enterspeed_sync.W016`` and ``manage.py enterspeed_process`` all show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q
from django.utils import timezone

from enterspeed_sync.conf import conf
from enterspeed_sync.delivery import gate as sending
from enterspeed_sync.models import EnterspeedJob, JobState, SourceState

#: ``SyncStatus.state`` values, most serious first.
AUTH_FAILED = "auth_failed"
BREAKER_OPEN = "breaker_open"
RATE_LIMITED = "rate_limited"
DISABLED = "disabled"
STALLED = "stalled"
OK = "ok"

#: The oldest due job waiting longer than this means no cluster is processing the queue.
STALLED_AFTER = timedelta(minutes=15)


@dataclass(frozen=True)
class SyncStatus:
    state: str
    #: One sentence for people: what is happening and what to do.
    message: str
    until: datetime | None = None
    pending: int = 0
    due: int = 0
    processing: int = 0
    failed: int = 0
    oldest_due_at: datetime | None = None
    #: When the longest-waiting pending job was created (the queue's age).
    oldest_pending_at: datetime | None = None
    last_error: str = ""

    @property
    def ok(self) -> bool:
        return self.state == OK


def get_sync_status(now: datetime | None = None) -> SyncStatus:
    """The state of the sync for the configured source, with the job counts."""
    now = now or timezone.now()
    pending = Q(state=JobState.PENDING)
    due = pending & Q(next_attempt_at__lte=now)
    # One pass over the job table, so monitoring can ask often.
    counts = EnterspeedJob.objects.aggregate(
        pending=Count("pk", filter=pending),
        due=Count("pk", filter=due),
        processing=Count("pk", filter=Q(state=JobState.PROCESSING)),
        failed=Count("pk", filter=Q(state=JobState.FAILED)),
        # Since when the longest-waiting due job could have been sent (a retried job is
        # old, but only due since its last backoff ended).
        oldest_due_at=Min("next_attempt_at", filter=due),
        oldest_pending_at=Min("created_at", filter=pending),
    )
    source = sending.current_source()
    state = SourceState.objects.filter(key_hash=source.key_hash).first()
    last_error = state.last_error if state else ""
    if state is not None and state.auth_error:
        return SyncStatus(
            AUTH_FAILED,
            # auth_error already says what Enterspeed answered ("Enterspeed refused the
            # API key (HTTP 401): …"); the advice is docs/troubleshooting.md's.
            f"Nothing is sent: {state.auth_error.rstrip('.')}. Fix "
            "ENTERSPEED_SYNC['API_KEY'] and sending resumes by itself; if you fixed the key "
            "in Enterspeed instead, the next processing run tests it and resumes, and "
            "`manage.py enterspeed_process --resume` does it at once.",
            last_error=state.auth_error,
            **counts,
        )
    if state is not None and state.breaker_trips:
        until = state.breaker_open_until
        return SyncStatus(
            BREAKER_OPEN,
            f"Enterspeed keeps failing ({state.consecutive_failures} failures in a row; "
            f"last: {state.last_error or 'unknown'}). Workers have stopped claiming jobs and "
            f"probe the API again at {_time(until)}; the jobs wait and lose no attempts.",
            until=until,
            last_error=last_error,
            **counts,
        )
    if state is not None and state.paused_until and state.paused_until > now:
        return SyncStatus(
            RATE_LIMITED,
            f"Enterspeed asked us to slow down (HTTP 429); sending resumes at "
            f"{_time(state.paused_until)}.",
            until=state.paused_until,
            last_error=last_error,
            **counts,
        )
    if not conf.ENABLED:
        return SyncStatus(
            DISABLED,
            "ENTERSPEED_SYNC['ENABLED'] is False: no new jobs are created.",
            last_error=last_error,
            **counts,
        )
    oldest = counts["oldest_due_at"]
    if oldest is not None and now - oldest > STALLED_AFTER:
        return SyncStatus(
            STALLED,
            f"{counts['due']} jobs are due, one of them since {_time(oldest)}: "
            "is a django-q2 cluster (`manage.py qcluster`) running?",
            last_error=last_error,
            **counts,
        )
    return SyncStatus(OK, "The sync is running.", last_error=last_error, **counts)


def _time(value: datetime | None) -> str:
    if value is None:
        return "an unknown time"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")
