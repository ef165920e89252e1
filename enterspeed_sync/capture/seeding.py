"""
Seeding: queue a publish job for everything that should be in an Enterspeed source, in
chunks, without loading the site into memory. Safe to run again: jobs coalesce per entity.

The published source gets the live pages, images, documents and live snippets; the preview
source every page and snippet (each one's latest draft is sent), images and documents.
With ``TRANSLATION_GROUPS``, seeding pages also queues their translation groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from wagtail.models import TranslatableMixin

from enterspeed_sync.capture.fanout import (
    belonging_in,
    object_publish_specs,
    page_publish_specs,
    translation_group_specs,
)
from enterspeed_sync.capture.outbox import BULK_CHUNK_SIZE, JobSpec, as_bulk, queue_jobs
from enterspeed_sync.conf import conf, get_destinations
from enterspeed_sync.delivery.gate import current_source
from enterspeed_sync.delivery.ledger import forget
from enterspeed_sync.mapping import get_base_page_model, get_synced_snippet_models
from enterspeed_sync.mapping.identity import get_document_model, get_image_model
from enterspeed_sync.models import Destination, EnterspeedJob, EntityType, SeedTally

#: The kinds of entity a seed can include, in the order they are queued.
SEED_KINDS = ("pages", "images", "documents", "snippets")
#: Counted apart from the pages they come with (``TRANSLATION_GROUPS``).
TRANSLATION_GROUPS_KIND = "translation_groups"
#: The entity type of each seed kind's jobs.
KIND_ENTITY_TYPES = {
    "pages": EntityType.PAGE,
    TRANSLATION_GROUPS_KIND: EntityType.TRANSLATION_GROUP,
    "images": EntityType.IMAGE,
    "documents": EntityType.DOCUMENT,
    "snippets": EntityType.SNIPPET,
}
#: Tallies of seeds older than this are deleted when the next seed starts.
TALLY_DAYS = 30


@dataclass
class SeedResult:
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def seeded_pages(
    *,
    root_page=None,
    locales=None,
    descendants=True,
    destination=Destination.PUBLISH,
    root_pages=(),
):
    """
    The pages a seed covers: every live page (every page for the preview source) of
    ``root_page`` and ``root_pages`` (several subtrees) and, with ``descendants``, below
    them, optionally only in the given locales. The tree root (depth 1) is not content.
    """
    pages = belonging_in(get_base_page_model().objects.filter(depth__gt=1), destination)
    roots = [*root_pages, *([root_page] if root_page is not None else [])]
    if roots:
        if descendants:
            subtrees = Q()
            for root in roots:
                subtrees |= Q(path__startswith=root.path, depth__gte=root.depth)
            pages = pages.filter(subtrees)
        else:
            pages = pages.filter(pk__in=[root.pk for root in roots])
    if locales:
        pages = pages.filter(locale__language_code__in=locales)
    return pages


def page_specs(*, destination=Destination.PUBLISH, **scope) -> Iterator[JobSpec]:
    """Publish specs for the pages a seed covers (``scope``: see ``seeded_pages``)."""
    pages = seeded_pages(destination=destination, **scope)
    return page_publish_specs(pages.order_by("path"), destination=destination)


def translation_group_seed_specs(*, destination=Destination.PUBLISH, **scope) -> Iterator[JobSpec]:
    """The translation groups of the pages a seed covers (none without TRANSLATION_GROUPS)."""
    return translation_group_specs(seeded_pages(destination=destination, **scope), destination)


def in_collections(objects, collections=None):
    """Images or documents, only those in ``collections`` (ids) when given."""
    return objects.filter(collection_id__in=collections) if collections else objects


def image_specs(destination=Destination.PUBLISH, collections=None) -> Iterator[JobSpec]:
    if not conf.SYNC_IMAGES:
        return iter(())
    images = in_collections(get_image_model().objects.all(), collections)
    return object_publish_specs(images, destination=destination)


def document_specs(destination=Destination.PUBLISH, collections=None) -> Iterator[JobSpec]:
    if not conf.SYNC_DOCUMENTS:
        return iter(())
    documents = in_collections(get_document_model().objects.all(), collections)
    return object_publish_specs(documents, destination=destination)


def snippet_specs(
    *, locales=None, destination=Destination.PUBLISH, models=None
) -> Iterator[JobSpec]:
    """
    Every object of every synced snippet model (of ``models``, labels such as
    ``"blog.author"``, when given) that belongs in ``destination`` (live ones for the
    published source), translatable ones only in ``locales``.
    """
    wanted = {label.lower() for label in models or ()}
    for model in get_synced_snippet_models():
        if wanted and model._meta.label_lower not in wanted:
            continue
        objects = model._default_manager.all()
        if locales and issubclass(model, TranslatableMixin):
            objects = objects.filter(locale__language_code__in=locales)
        yield from object_publish_specs(objects, destination=destination)


def published_specs(
    *,
    kinds: Iterable[str] = SEED_KINDS,
    root_page=None,
    locales=None,
    descendants=True,
    destination: str = Destination.PUBLISH,
    root_pages=(),
    collections=None,
    snippet_models=None,
) -> Iterator[tuple[str, JobSpec]]:
    """
    ``(kind, spec)`` for everything of ``kinds`` that belongs in ``destination``, lazily.
    Pages come with their translation groups (kind ``"translation_groups"``) when
    ``TRANSLATION_GROUPS`` is on.
    """
    kinds = set(kinds)
    if unknown := kinds - set(SEED_KINDS):
        raise ValueError(f"Unknown seed kinds {sorted(unknown)}; choose from {SEED_KINDS}.")
    pages = {
        "root_page": root_page,
        "root_pages": root_pages,
        "locales": locales,
        "descendants": descendants,
    }
    sources = {
        "pages": lambda: page_specs(**pages, destination=destination),
        TRANSLATION_GROUPS_KIND: lambda: translation_group_seed_specs(
            **pages, destination=destination
        ),
        "images": lambda: image_specs(destination, collections),
        "documents": lambda: document_specs(destination, collections),
        "snippets": lambda: snippet_specs(
            locales=locales, destination=destination, models=snippet_models
        ),
    }
    for kind in _kinds_in_order(kinds):
        for spec in sources[kind]():
            yield kind, spec


def _kinds_in_order(kinds: set[str]) -> list[str]:
    ordered = [kind for kind in SEED_KINDS if kind in kinds]
    if "pages" in kinds and conf.TRANSLATION_GROUPS:
        ordered.insert(ordered.index("pages") + 1, TRANSLATION_GROUPS_KIND)
    return ordered


def seed(
    *,
    kinds: Iterable[str] = SEED_KINDS,
    root_page=None,
    locales: list[str] | None = None,
    descendants: bool = True,
    force: bool = False,
    destination: str = Destination.PUBLISH,
    seed_id: str = "",
    root_pages=(),
    collections: list[int] | None = None,
    snippet_models: list[str] | None = None,
) -> SeedResult:
    """
    Queue everything of the given ``kinds`` (see ``SEED_KINDS``) for ``destination`` (the
    published source, or the preview source). ``root_page`` and ``descendants`` narrow
    pages, ``root_pages`` takes several subtrees; ``collections`` (ids) narrows images and
    documents, ``snippet_models`` (labels) snippets; ``locales`` narrows pages and
    translatable snippets. With ``force``, the ledger
    entries of what is queued are dropped, so every entity is sent even when Enterspeed
    already has the same payload (``SKIP_UNCHANGED``). The jobs are bulk work: every person's
    change is claimed before them. With ``seed_id``, the queued jobs carry it and processing
    counts what became of them (``SeedTally``). Raises ValueError for a destination that is
    not configured.
    """
    if destination not in get_destinations():
        raise ValueError(
            f"The {destination!r} destination is not configured; "
            + (
                "set ENTERSPEED_SYNC['PREVIEW_API_KEY']."
                if destination == Destination.PREVIEW
                else f"choose from {get_destinations()}."
            )
        )
    kinds = set(kinds)
    specs = published_specs(
        kinds=kinds,
        root_page=root_page,
        locales=locales,
        descendants=descendants,
        destination=destination,
        root_pages=root_pages,
        collections=collections,
        snippet_models=snippet_models,
    )
    result = SeedResult(counts=dict.fromkeys(_kinds_in_order(kinds), 0))

    source = current_source(destination)
    to_forget: list[str] = []
    to_tag: list[str] = []

    def counted():
        for kind, spec in specs:
            result.counts[kind] += 1
            if force:
                to_forget.append(spec.origin_id)
                if len(to_forget) >= BULK_CHUNK_SIZE:
                    forget(source, to_forget)
                    to_forget.clear()
            if seed_id:
                to_tag.append(spec.origin_id)
            yield spec

    queue_jobs(as_bulk(counted()))
    if to_forget:
        forget(source, to_forget)
    if seed_id:
        _start_tally(seed_id, destination, result, to_tag)
    return result


def _start_tally(seed_id: str, destination: str, result: SeedResult, origin_ids) -> None:
    """Mark the pending jobs the seed queued as its own, and open its tally per kind."""
    cutoff = timezone.now() - timedelta(days=TALLY_DAYS)
    SeedTally.objects.filter(created_at__lt=cutoff).delete()
    for start in range(0, len(origin_ids), BULK_CHUNK_SIZE):
        EnterspeedJob.objects.pending().filter(
            destination=destination, origin_id__in=origin_ids[start : start + BULK_CHUNK_SIZE]
        ).update(seed=seed_id)
    SeedTally.objects.bulk_create(
        SeedTally(seed=seed_id, entity_type=KIND_ENTITY_TYPES[kind], queued=count)
        for kind, count in result.counts.items()
    )
