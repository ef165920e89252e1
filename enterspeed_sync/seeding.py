"""
Seeding: queue a publish job for everything that should be in Enterspeed (live pages,
images, documents, live snippets), in chunks, without loading the site into memory.
Safe to run again: jobs coalesce per entity.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from wagtail.models import TranslatableMixin

from enterspeed_sync.conf import conf
from enterspeed_sync.jobs import JobSpec, object_publish_specs, page_publish_specs, queue_jobs
from enterspeed_sync.ledger import forget
from enterspeed_sync.mapping import get_base_page_model, get_synced_snippet_models
from enterspeed_sync.mapping.identity import get_document_model, get_image_model
from enterspeed_sync.sending import current_source

#: The kinds of entity a seed can include, in the order they are queued.
SEED_KINDS = ("pages", "images", "documents", "snippets")


@dataclass
class SeedResult:
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def page_specs(*, root_page=None, locales=None, descendants=True) -> Iterator[JobSpec]:
    """
    Publish specs for every live page (``root_page`` and, with ``descendants``, the pages
    below it), optionally only in the given locales. The tree root (depth 1) is not content.
    """
    pages = get_base_page_model().objects.live().filter(depth__gt=1)
    if root_page is not None:
        if descendants:
            pages = pages.descendant_of(root_page, inclusive=True)
        else:
            pages = pages.filter(pk=root_page.pk)
    if locales:
        pages = pages.filter(locale__language_code__in=locales)
    return page_publish_specs(pages.order_by("path"))


def image_specs() -> Iterator[JobSpec]:
    return object_publish_specs(get_image_model().objects.all()) if conf.SYNC_IMAGES else iter(())


def document_specs() -> Iterator[JobSpec]:
    if not conf.SYNC_DOCUMENTS:
        return iter(())
    return object_publish_specs(get_document_model().objects.all())


def snippet_specs(*, locales=None) -> Iterator[JobSpec]:
    """Every live object of every synced snippet model (translatable ones in ``locales``)."""
    for model in get_synced_snippet_models():
        objects = model._default_manager.all()
        if locales and issubclass(model, TranslatableMixin):
            objects = objects.filter(locale__language_code__in=locales)
        yield from object_publish_specs(objects)


def published_specs(
    *, kinds: Iterable[str] = SEED_KINDS, root_page=None, locales=None, descendants=True
) -> Iterator[tuple[str, JobSpec]]:
    """``(kind, spec)`` for everything of ``kinds`` that belongs in Enterspeed, lazily."""
    kinds = set(kinds)
    if unknown := kinds - set(SEED_KINDS):
        raise ValueError(f"Unknown seed kinds {sorted(unknown)}; choose from {SEED_KINDS}.")
    sources = {
        "pages": lambda: page_specs(root_page=root_page, locales=locales, descendants=descendants),
        "images": image_specs,
        "documents": document_specs,
        "snippets": lambda: snippet_specs(locales=locales),
    }
    for kind in SEED_KINDS:
        if kind in kinds:
            for spec in sources[kind]():
                yield kind, spec


def seed(
    *,
    kinds: Iterable[str] = SEED_KINDS,
    root_page=None,
    locales: list[str] | None = None,
    descendants: bool = True,
    force: bool = False,
) -> SeedResult:
    """
    Queue everything of the given ``kinds`` (see ``SEED_KINDS``). ``root_page`` and
    ``descendants`` narrow pages; ``locales`` narrows pages and translatable snippets.
    With ``force``, the ledger entries of what is queued are dropped, so every entity is
    sent even when Enterspeed already has the same payload (``SKIP_UNCHANGED``).
    """
    kinds = list(kinds)
    specs = published_specs(
        kinds=kinds, root_page=root_page, locales=locales, descendants=descendants
    )
    result = SeedResult(counts=dict.fromkeys((k for k in SEED_KINDS if k in kinds), 0))

    source = current_source()
    to_forget: list[str] = []

    def counted():
        for kind, spec in specs:
            result.counts[kind] += 1
            if force:
                to_forget.append(spec.origin_id)
                if len(to_forget) >= 500:
                    forget(source, to_forget)
                    to_forget.clear()
            yield spec

    queue_jobs(counted())
    if to_forget:
        forget(source, to_forget)
    return result
