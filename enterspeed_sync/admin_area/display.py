"""
What the admin shows besides the sync status (``enterspeed_sync.status``): the configured
destinations with their keys masked, the post-sync hooks' last calls, and a stored error
taken apart into HTTP status and Enterspeed's error code, its UTC times shown in local time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils import timezone

from enterspeed_sync.conf import conf, get_api_key
from enterspeed_sync.conf import get_destinations as configured_destinations
from enterspeed_sync.delivery.client import mask_api_key
from enterspeed_sync.models import Destination, PostSyncHookStatus


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
            mask_api_key(get_api_key(destination)),
        )
        for destination in configured_destinations()
    ]


def get_hook_statuses() -> list[PostSyncHookStatus]:
    """How each post-sync hook's last call went (hooks that were never called have no row)."""
    return list(PostSyncHookStatus.objects.all())


#: "(HTTP 422, SomeCode)" as written by EnterspeedHTTPError.__str__.
_HTTP_STATUS = re.compile(r"\(HTTP (?P<status>\d{3})(?:, (?P<code>[^):]+))?\)")


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


#: A time as ``delivery.retries.stamp`` writes it into a stored text.
_STAMP = re.compile(r"(?P<when>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")


def local_times(text: str) -> str:
    """``text`` with every ``2026-12-02 03:40:05 UTC`` in it shown in the active time zone
    (the admin user's Wagtail time zone, else TIME_ZONE), as the rest of the admin is."""

    def local(match: re.Match) -> str:
        when = datetime.strptime(match["when"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        return timezone.localtime(when).strftime("%Y-%m-%d %H:%M:%S %Z")

    return _STAMP.sub(local, text or "")
