"""
What the admin shows besides the sync status (``enterspeed_sync.status``): the configured
destinations with their keys masked, the post-sync hooks' last calls, a stored error
taken apart into HTTP status and Enterspeed's error code (its UTC times shown in local
time), and what a job's object is called.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils import timezone

from enterspeed_sync.capture.seeding import KIND_ENTITY_TYPES as SEED_KIND_ENTITY_TYPES
from enterspeed_sync.conf import conf, get_api_key
from enterspeed_sync.conf import get_destinations as configured_destinations
from enterspeed_sync.delivery.client import mask_api_key
from enterspeed_sync.models import Destination, PostSyncHookStatus, SeedTally


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


#: "(HTTP 422, s-1001)" as written by EnterspeedHTTPError.__str__ and for bulk refusals.
#: A code is one word: older rows say "(HTTP 422, in a bulk request)", which names none.
_HTTP_STATUS = re.compile(r"\(HTTP (?P<status>\d{3})(?:, (?P<code>[^):,\s]+)|, [^)]*)?\)")


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


def object_title(obj) -> str:
    """What an editor calls a job's object: a page's title, an image's or document's title
    (or its file name), a snippet's ``str()``."""
    if hasattr(obj, "get_admin_display_title"):
        return str(obj.get_admin_display_title())
    title = getattr(obj, "title", "")
    if title:
        return str(title)
    file = getattr(obj, "file", None)
    if file:
        return str(file.name).rsplit("/", 1)[-1]
    return str(obj)


@dataclass(frozen=True)
class SeedKindOutcome:
    """One kind of entity of a seed: queued, and what became of the jobs so far."""

    label: str
    queued: int
    sent: int = 0
    unchanged: int = 0
    failed: int = 0

    @property
    def waiting(self) -> int:
        return max(0, self.queued - self.sent - self.unchanged - self.failed)


@dataclass(frozen=True)
class SeedReport:
    kinds: list[SeedKindOutcome]

    def total(self, column: str) -> int:
        return sum(getattr(kind, column) for kind in self.kinds)

    @property
    def queued(self) -> int:
        return self.total("queued")

    @property
    def all_unchanged(self) -> bool:
        """Every job resolved, none sent because Enterspeed had them all: a seed without
        "Send unchanged entities too" after nothing changed."""
        unchanged = self.total("unchanged")
        return unchanged > 0 and unchanged == self.queued


def get_seed_report(seed_id: str, queued: dict[str, int], labels: dict) -> SeedReport:
    """What a seed did per kind: ``queued`` is its task's result (jobs per seed kind);
    sent, unchanged and failed are what processing counted since (``SeedTally``)."""
    tallies = {tally.entity_type: tally for tally in SeedTally.objects.filter(seed=seed_id)}
    kinds = []
    for kind, count in queued.items():
        tally = tallies.get(SEED_KIND_ENTITY_TYPES.get(kind, ""))
        label = str(labels.get(kind, kind))
        if tally is None:
            kinds.append(SeedKindOutcome(label, count))
        else:
            kinds.append(SeedKindOutcome(label, count, tally.sent, tally.unchanged, tally.failed))
    return SeedReport(kinds)
