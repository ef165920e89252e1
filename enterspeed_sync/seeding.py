"""Seeding: queue a publish job for every live page, in chunks, without loading the site."""

from __future__ import annotations

from dataclasses import dataclass, field

from enterspeed_sync.jobs import queue_page_publishes
from enterspeed_sync.mapping import get_base_page_model


@dataclass
class SeedResult:
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def seed_pages(*, root_page=None, locales: list[str] | None = None) -> int:
    """
    Queue publish jobs for every live page (below ``root_page`` when given, inclusive),
    optionally only in the given locales. The tree root (depth 1) is not content.
    Returns the number of jobs queued.
    """
    pages = get_base_page_model().objects.live().filter(depth__gt=1)
    if root_page is not None:
        pages = pages.descendant_of(root_page, inclusive=True)
    if locales:
        pages = pages.filter(locale__language_code__in=locales)
    return queue_page_publishes(pages.order_by("path"))


def seed(**options) -> SeedResult:
    """Queue everything that should be in Enterspeed. Safe to run again: jobs coalesce."""
    return SeedResult(counts={"pages": seed_pages(**options)})
