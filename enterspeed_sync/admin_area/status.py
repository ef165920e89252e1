"""
What the admin dashboard shows about the queue: job counts per destination and state, the
configured destinations (keys masked), and notices about problems. Each piece is one small
function so that a richer health check can replace it later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Min
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from enterspeed_sync.conf import conf, get_api_key
from enterspeed_sync.conf import get_destinations as configured_destinations
from enterspeed_sync.models import Destination, EnterspeedJob, JobState, PostSyncHookStatus

#: A pending job older than this means no worker has picked up work recently.
STALLED_AFTER = timedelta(minutes=5)

#: "(HTTP 422, SomeCode)" as written by EnterspeedHTTPError.__str__.
_HTTP_STATUS = re.compile(r"\(HTTP (?P<status>\d{3})(?:, (?P<code>[^):]+))?\)")


@dataclass
class DestinationCounts:
    destination: str
    label: str
    pending: int = 0
    processing: int = 0
    failed: int = 0

    @property
    def active(self) -> int:
        return self.pending + self.processing


@dataclass
class QueueCounts:
    destinations: list[DestinationCounts] = field(default_factory=list)

    @property
    def pending(self) -> int:
        return sum(row.pending for row in self.destinations)

    @property
    def processing(self) -> int:
        return sum(row.processing for row in self.destinations)

    @property
    def failed(self) -> int:
        return sum(row.failed for row in self.destinations)

    @property
    def active(self) -> int:
        return self.pending + self.processing


def get_queue_counts() -> QueueCounts:
    """Pending, processing and failed jobs per destination: one grouped query."""
    rows = {value: DestinationCounts(value, label) for value, label in Destination.choices}
    grouped = EnterspeedJob.objects.values("destination", "state").annotate(n=Count("pk"))
    for row in grouped.order_by():
        counts = rows.setdefault(
            row["destination"], DestinationCounts(row["destination"], row["destination"])
        )
        if row["state"] in (JobState.PENDING, JobState.PROCESSING, JobState.FAILED):
            setattr(counts, row["state"], row["n"])
    return QueueCounts(
        [row for row in rows.values() if row.destination == Destination.PUBLISH or row.active]
        + [
            row
            for row in rows.values()
            if row.destination != Destination.PUBLISH and not row.active and row.failed
        ]
    )


def get_failed_count() -> int:
    return EnterspeedJob.objects.failed().count()


def mask_key(key: str) -> str:
    """Enough of a key to recognise it, never enough to use it."""
    if not key:
        return ""
    prefix, _sep, rest = key.partition("-")
    if not rest:
        return "…" + key[-4:] if len(key) > 8 else "…"
    return f"{prefix}-…{rest[-4:]}" if len(rest) > 8 else f"{prefix}-…"


@dataclass(frozen=True)
class ConfiguredDestination:
    name: str
    label: str
    base_url: str
    masked_key: str


def get_destinations() -> list[ConfiguredDestination]:
    """The sources jobs are sent to, as the dashboard shows them (no full key, ever)."""
    if not conf.API_KEY:
        return []
    return [
        ConfiguredDestination(
            destination,
            Destination(destination).label,
            conf.BASE_URL,
            mask_key(get_api_key(destination)),
        )
        for destination in configured_destinations()
    ]


def get_hook_statuses() -> list[PostSyncHookStatus]:
    """How each post-sync hook's last call went (hooks that were never called have no row)."""
    return list(PostSyncHookStatus.objects.all())


@dataclass(frozen=True)
class Notice:
    level: str  # "warning" or "error", as Wagtail's help blocks
    message: str


def get_notices(now=None) -> list[Notice]:
    """
    Problems an admin should act on: no API key, sync switched off, or jobs waiting longer
    than ``STALLED_AFTER`` (no django-q2 cluster picked up work recently).
    """
    now = now or timezone.now()
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
    if not conf.ENABLED:
        notices.append(
            Notice(
                "warning",
                _("Sync is switched off (ENTERSPEED_SYNC['ENABLED'] is False): no jobs are made."),
            )
        )
    for hook in PostSyncHookStatus.objects.filter(consecutive_failures__gt=0):
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
    oldest = EnterspeedJob.objects.pending().aggregate(oldest=Min("created_at"))["oldest"]
    if oldest is not None and now - oldest > STALLED_AFTER:
        minutes = int((now - oldest).total_seconds() // 60)
        notices.append(
            Notice(
                "warning",
                _(
                    "The oldest pending job has waited %(minutes)d minutes: no django-q2 "
                    "cluster has picked up work recently. Is `manage.py qcluster` running?"
                )
                % {"minutes": minutes},
            )
        )
    return notices


@dataclass(frozen=True)
class ErrorDetails:
    status: int | None
    error_code: str
    text: str


def parse_error(text: str) -> ErrorDetails:
    """The HTTP status and Enterspeed's error code, when the stored error names them."""
    match = _HTTP_STATUS.search(text or "")
    if match is None:
        return ErrorDetails(None, "", text or "")
    return ErrorDetails(int(match["status"]), (match["code"] or "").strip(), text)
