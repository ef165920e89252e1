"""
Seeding: queue a publish job for everything that should be in Enterspeed (live pages,
images, documents, live snippets), in chunks, without loading the site into memory.
Safe to run again: jobs coalesce per entity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from wagtail.models import TranslatableMixin

from enterspeed_sync.conf import conf
from enterspeed_sync.jobs import queue_object_publishes, queue_page_publishes
from enterspeed_sync.mapping import get_base_page_model, get_synced_snippet_models
from enterspeed_sync.mapping.identity import get_document_model, get_image_model

#: The kinds of entity a seed can include, in the order they are queued.
SEED_KINDS = ("pages", "images", "documents", "snippets")


@dataclass
class SeedResult:
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def seed_pages(*, root_page=None, locales: list[str] | None = None, descendants=True) -> int:
    """
    Queue publish jobs for every live page (``root_page`` and, with ``descendants``, the
    pages below it), optionally only in the given locales. The tree root (depth 1) is not
    content. Returns the number of jobs queued.
    """
    pages = get_base_page_model().objects.live().filter(depth__gt=1)
    if root_page is not None:
        if descendants:
            pages = pages.descendant_of(root_page, inclusive=True)
        else:
            pages = pages.filter(pk=root_page.pk)
    if locales:
        pages = pages.filter(locale__language_code__in=locales)
    return queue_page_publishes(pages.order_by("path"))


def seed_images() -> int:
    return queue_object_publishes(get_image_model().objects.all()) if conf.SYNC_IMAGES else 0


def seed_documents() -> int:
    if not conf.SYNC_DOCUMENTS:
        return 0
    return queue_object_publishes(get_document_model().objects.all())


def seed_snippets(*, locales: list[str] | None = None) -> int:
    """Every live object of every synced snippet model (translatable ones in ``locales``)."""
    count = 0
    for model in get_synced_snippet_models():
        objects = model._default_manager.all()
        if locales and issubclass(model, TranslatableMixin):
            objects = objects.filter(locale__language_code__in=locales)
        count += queue_object_publishes(objects)
    return count


def seed(
    *,
    kinds: Iterable[str] = SEED_KINDS,
    root_page=None,
    locales: list[str] | None = None,
    descendants: bool = True,
) -> SeedResult:
    """
    Queue everything of the given ``kinds`` (see ``SEED_KINDS``). ``root_page`` and
    ``descendants`` narrow pages; ``locales`` narrows pages and translatable snippets.
    """
    kinds = set(kinds)
    if unknown := kinds - set(SEED_KINDS):
        raise ValueError(f"Unknown seed kinds {sorted(unknown)}; choose from {SEED_KINDS}.")
    result = SeedResult()
    if "pages" in kinds:
        result.counts["pages"] = seed_pages(
            root_page=root_page, locales=locales, descendants=descendants
        )
    if "images" in kinds:
        result.counts["images"] = seed_images()
    if "documents" in kinds:
        result.counts["documents"] = seed_documents()
    if "snippets" in kinds:
        result.counts["snippets"] = seed_snippets(locales=locales)
    return result
