"""
Fan-out: which jobs a change implies, as ``JobSpec``s, and queueing them.

A change reaches further than its own entity: a page's translations list each other, so a
publish re-sends them; pages and snippets show the title and URL of what they reference, so
a change re-sends its referrers; a move rewrites every URL below it; a draft goes to the
preview source; a page's translation group lists its variants. The change itself is a
person's (``JobPriority.PERSON``); what it reaches beyond it is bulk work (``as_bulk``),
claimed after every person's change. The spec builders
(``page_publish_specs``, ``object_publish_specs``, ``translation_group_specs``) are shared
with seeding, verify and inspection, so every path builds a job the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from functools import cache
from typing import Any

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.signals import setting_changed
from django.db import models
from django.db.models.functions import Cast
from django.dispatch import receiver
from wagtail.models import (
    AbstractPage,
    DraftStateMixin,
    Locale,
    ReferenceIndex,
    TranslatableMixin,
)

from enterspeed_sync.capture.outbox import (
    BULK_CHUNK_SIZE,
    JobSpec,
    as_bulk,
    queue_job,
    queue_jobs,
)
from enterspeed_sync.conf import conf, get_destinations
from enterspeed_sync.mapping import (
    get_base_page_model,
    get_entity_type,
    get_locale_code,
    get_synced_snippet_models,
    origin_id_for,
    page_origin_id,
)
from enterspeed_sync.mapping.translation_groups import translation_group_origin_id
from enterspeed_sync.models import Destination, EntityType, JobPriority, JobType

# Destinations ----------------------------------------------------------------------------


def in_destinations(
    specs: Iterable[JobSpec], destinations: Iterable[str] | None
) -> Iterator[JobSpec]:
    """
    Each spec once per destination that is configured (``None``: the published source
    only). A destination without an API key is left out, so no job waits for a source
    that does not exist.
    """
    wanted = [Destination.PUBLISH] if destinations is None else list(destinations)
    enabled = [destination for destination in wanted if destination in get_destinations()]
    for spec in specs:
        for destination in enabled:
            yield replace(spec, destination=destination)


# Pages ---------------------------------------------------------------------------------


def page_job_spec(
    page_id, locale: str, job_type: str, content_type_id=None, destination=Destination.PUBLISH
) -> JobSpec:
    return JobSpec(
        entity_type=EntityType.PAGE,
        entity_id=str(page_id),
        job_type=job_type,
        origin_id=page_origin_id(page_id),
        locale=locale,
        destination=destination,
        content_type_id=content_type_id,
    )


def queue_page_job(page, job_type: str, destinations: Iterable[str] | None = None) -> None:
    """A job for ``page`` in each of ``destinations`` (default: the published source)."""
    spec = page_job_spec(page.pk, page.locale.language_code, job_type, page.content_type_id)
    queue_jobs(in_destinations([spec], destinations))


def queue_page_change(page, job_type: str, destinations: Iterable[str] | None = None) -> None:
    """
    What an editor's publish, unpublish or delete of ``page`` queues: a job for it in each
    of ``destinations``, and a re-send of its live translations to the published source
    (each lists its translations' origin ids), as bulk work. One read and one write, as it
    runs in the editor's request.
    """
    rows = (
        get_base_page_model()
        .objects.filter(translation_key=page.translation_key)
        .values_list("pk", "locale__language_code", "content_type_id", "live")
    )
    locale, translations = None, []
    for pk, language_code, content_type_id, live in rows:
        if pk == page.pk:
            locale = language_code
        elif live:
            translations.append(page_job_spec(pk, language_code, JobType.PUBLISH, content_type_id))
    if locale is None:  # the page's row is gone: it was deleted
        locale = page.locale.language_code
    spec = page_job_spec(page.pk, locale, job_type, page.content_type_id)
    queue_jobs([*in_destinations([spec], destinations), *as_bulk(translations)])


def queue_live_subtree_publish(page) -> int:
    """
    Publish jobs for ``page`` and every live descendant: a move or slug change rewrites
    their URLs in bulk, and they get no signal of their own. With a preview source, every
    descendant's draft is re-sent there too (drafts have URLs below the new path as well).
    The pages that link to any of them are re-sent too (``queue_page_referrer_publishes``).
    The page itself is the editor's change; its descendants and referrers are bulk work.
    """
    subtree = page.get_descendants(inclusive=True)
    count = queue_jobs(_descendants_as_bulk(page, page_publish_specs(subtree.live())))
    if Destination.PREVIEW in get_destinations():
        preview = page_publish_specs(subtree, destination=Destination.PREVIEW)
        count += queue_jobs(_descendants_as_bulk(page, preview))
    # Pages elsewhere that link to the subtree show its old URLs.
    return count + queue_page_referrer_publishes(subtree)


def _descendants_as_bulk(page, specs: Iterable[JobSpec]) -> Iterator[JobSpec]:
    for spec in specs:
        yield spec if spec.entity_id == str(page.pk) else replace(spec, priority=JobPriority.BULK)


def queue_page_publishes(pages) -> int:
    """Publish jobs for every page of a queryset, read in chunks. Returns the count."""
    return queue_jobs(page_publish_specs(pages))


def page_publish_specs(pages, *, destination: str = Destination.PUBLISH) -> Iterator[JobSpec]:
    """
    Publish job specs in ``destination`` for every page of a queryset, read in chunks of
    ids. Narrow the pages first (``belonging_in``): each one given gets a spec.
    """
    locales = dict(Locale.objects.values_list("pk", "language_code"))
    rows = pages.values_list("pk", "locale_id", "content_type_id").iterator(
        chunk_size=BULK_CHUNK_SIZE
    )
    for pk, locale_id, content_type_id in rows:
        locale = locales.get(locale_id, "")
        yield page_job_spec(pk, locale, JobType.PUBLISH, content_type_id, destination)


def belonging_in(queryset: models.QuerySet, destination: str) -> models.QuerySet:
    """
    The objects of ``queryset`` (pages, snippets, ...) that belong in ``destination``: in
    the published source only live ones, in the preview source every one (a draft is what
    preview shows). Models without draft state are always live.
    """
    if destination == Destination.PUBLISH and issubclass(queryset.model, DraftStateMixin):
        return queryset.filter(live=True)
    return queryset


# Any object ------------------------------------------------------------------------------


def job_spec_for(obj: models.Model, job_type: str) -> JobSpec | None:
    """The job for one page, image, document or snippet; None when its model does not sync."""
    entity_type = get_entity_type(obj)
    if entity_type is None:
        return None
    content_type_id = ContentType.objects.get_for_model(obj).pk
    return _object_job_spec(
        type(obj), entity_type, obj.pk, get_locale_code(obj), job_type, content_type_id
    )


def _object_job_spec(
    model, entity_type, pk, locale, job_type, content_type_id, destination=Destination.PUBLISH
) -> JobSpec:
    origin_id = origin_id_for(model, pk)
    return JobSpec(
        entity_type=entity_type,
        # Snippet pks are only unique per model, so their key is the origin id.
        entity_id=origin_id if entity_type == EntityType.SNIPPET else str(pk),
        job_type=job_type,
        origin_id=origin_id,
        locale=locale,
        destination=destination,
        content_type_id=content_type_id,
    )


def queue_object_job(
    obj: models.Model, job_type: str, destinations: Iterable[str] | None = None
) -> bool:
    """
    Queue a job for ``obj`` in each of ``destinations`` (default: the published source) if
    its model syncs. Returns whether a job was queued.
    """
    spec = job_spec_for(obj, job_type)
    if spec is not None:
        queue_jobs(in_destinations([spec], destinations))
    return spec is not None


def object_publish_specs(
    queryset: models.QuerySet, *, destination: str = Destination.PUBLISH
) -> Iterator[JobSpec]:
    """
    Publish job specs for the objects of a queryset (images, documents, snippets) that
    belong in ``destination`` (``belonging_in``).
    """
    model = queryset.model
    entity_type = get_entity_type(model)
    if entity_type is None:
        return
    queryset = belonging_in(queryset, destination)
    content_type_id = ContentType.objects.get_for_model(model).pk
    fields = ["pk", "locale__language_code"] if issubclass(model, TranslatableMixin) else ["pk"]
    rows = queryset.order_by("pk").values_list(*fields).iterator(chunk_size=BULK_CHUNK_SIZE)
    for pk, *locale in rows:
        yield _object_job_spec(
            model,
            entity_type,
            pk,
            locale[0] if locale else "",
            JobType.PUBLISH,
            content_type_id,
            destination,
        )


def queue_translation_publishes(obj: models.Model) -> int:
    """
    Re-send the other published translations of ``obj`` (a snippet; pages do this in
    ``queue_page_change``): each lists its translations' origin ids, and that list changes
    when a translation is published, unpublished or deleted. Bulk work.
    """
    if not isinstance(obj, TranslatableMixin):
        return 0
    others = type(obj)._default_manager.filter(translation_key=obj.translation_key)
    return queue_jobs(as_bulk(object_publish_specs(others.exclude(pk=obj.pk))))


def queue_referrer_publishes(obj: models.Model) -> int:
    """
    Re-send the pages and snippets that reference ``obj`` (Wagtail's reference index), since
    their entities carry its title and URL. Bulk work: a shared image can have thousands.
    """
    if not conf.REINGEST_REFERRERS:
        return 0
    model = type(obj)
    specs = _referrer_specs(model, model._default_manager.filter(pk=obj.pk))
    # Referrers show the object's title and URL in their drafts too.
    return queue_jobs(as_bulk(in_destinations(specs, get_destinations())))


def queue_page_referrer_publishes(pages: models.QuerySet, *, include_pages: bool = False) -> int:
    """
    Re-send the pages and snippets whose entities show the title or URL of any of
    ``pages`` (after a move, a slug or title change, a first publish, an unpublish or a
    delete). A link to a page is shown as its live variant in the linking object's
    locale, else as the page linked to (``mapping.references.page_reference``), so a
    page is shown by every link to its own id, and by the links in its own locale to any
    of its variants: a translation's id, or a synced alias's (aliases made for a
    translation share its translation key). Unless ``include_pages``, pages of ``pages``
    that link to each other are left out: whoever changed them queues them. The live
    aliases of ``pages`` are re-sent too: their ``meta.alias_of`` shows the original's
    URL, and they lose it when it is deleted. Bulk work; a referrer whose payload did not
    change costs a mapping, not a request (``SKIP_UNCHANGED``).
    """
    if not conf.REINGEST_REFERRERS:
        return 0
    page_model = get_base_page_model()
    pages = pages.order_by()
    exclude = None if include_pages else pages
    variants = page_model.objects.filter(translation_key__in=pages.values("translation_key"))
    aliases = page_model.objects.live().filter(alias_of__in=pages.values("pk"))
    if exclude is not None:
        aliases = aliases.exclude(pk__in=exclude.values("pk"))
    specs = [
        *page_publish_specs(aliases),
        *_referrer_specs(page_model, pages, exclude=exclude),
        *_referrer_specs(page_model, variants, exclude=exclude, locales=pages.values("locale_id")),
    ]
    return queue_jobs(as_bulk(in_destinations(specs, get_destinations())))


def _referrer_specs(
    model: type[models.Model],
    targets: models.QuerySet,
    *,
    exclude: models.QuerySet | None = None,
    locales: models.QuerySet | None = None,
) -> list[JobSpec]:
    """
    Publish specs for the live pages and synced snippets that reference any of ``targets``
    (objects of ``model``): Wagtail's reference index, plus many-to-many fields, which the
    index leaves out. ``exclude``: pages left out; ``locales``: only referrers in these
    locales (objects without a locale are left out then). Referring pages are read with
    subqueries, so a target linked from tens of thousands of pages costs no list of ids.
    """
    page_model = get_base_page_model()
    page_type = ReferenceIndex._get_base_content_type(page_model)
    # The index stores the target's id as text, under the target's base model.
    target_ids = targets.order_by().annotate(pk_text=Cast("pk", models.CharField()))
    references = ReferenceIndex.objects.filter(
        to_content_type=ReferenceIndex._get_base_content_type(model),
        to_object_id__in=target_ids.values("pk_text"),
    )
    referring = models.Q(
        pk__in=references.filter(base_content_type=page_type)
        .annotate(referrer_pk=Cast("object_id", models.BigIntegerField()))
        .values("referrer_pk")
    )
    snippet_rows = (
        references.exclude(base_content_type=page_type)
        .values_list("content_type_id", "object_id")
        .distinct()
    )
    snippets = [(ContentType.objects.get_for_id(ct).model_class(), pk) for ct, pk in snippet_rows]
    for referrer_model, field in _many_to_many_fields_to(model):
        ids = referrer_model._default_manager.filter(**{f"{field.name}__in": targets})
        if issubclass(referrer_model, page_model):
            referring |= models.Q(pk__in=ids.values("pk"))
        else:
            snippets += [(referrer_model, str(pk)) for pk in ids.values_list("pk", flat=True)]
    referring_pages = page_model.objects.live().filter(referring)
    if exclude is not None:
        referring_pages = referring_pages.exclude(pk__in=exclude.order_by().values("pk"))
    if locales is not None:
        referring_pages = referring_pages.filter(locale_id__in=locales)
    specs: list[JobSpec] = list(page_publish_specs(referring_pages))
    synced = {snippet._meta.concrete_model for snippet in get_synced_snippet_models()}
    by_model: dict[type[models.Model], set[str]] = {}
    for referrer_model, object_id in snippets:
        if referrer_model is not None and referrer_model._meta.concrete_model in synced:
            by_model.setdefault(referrer_model, set()).add(object_id)
    for referrer_model, ids in by_model.items():
        objects = referrer_model._default_manager.filter(pk__in=ids)
        if locales is not None:
            if not issubclass(referrer_model, TranslatableMixin):
                continue
            objects = objects.filter(locale_id__in=locales)
        specs += object_publish_specs(objects)
    return specs


@cache
def _many_to_many_fields_to(target: type[models.Model]) -> list[tuple[type[models.Model], Any]]:
    """(model, field) for every many-to-many field of a page or snippet model to ``target``."""
    concrete = target._meta.concrete_model
    return [
        (model, field)
        for model in apps.get_models()
        if get_entity_type(model) in (EntityType.PAGE, EntityType.SNIPPET)
        for field in model._meta.local_many_to_many
        if field.related_model is not None and field.related_model._meta.concrete_model is concrete
    ]


@receiver(setting_changed)
def _clear_many_to_many_cache(*, setting: str, **kwargs) -> None:
    if setting == "ENTERSPEED_SYNC":  # SNIPPET_MODELS decides which models count
        _many_to_many_fields_to.cache_clear()


# Preview: drafts --------------------------------------------------------------------------


def queue_preview_of_revision(revision) -> bool:
    """
    A saved revision (a draft save, an autosave, a publish) of a page or a draft-state
    snippet: queue a preview job for its object, sent after ``PREVIEW_SETTLE_SECONDS``.
    The object's pending preview job absorbs every later revision until it is sent, so a
    burst of autosaves costs one request per settle interval. Returns whether one was queued.
    """
    if Destination.PREVIEW not in get_destinations():
        return False
    model = revision.content_type.model_class()
    entity_type = get_entity_type(model) if model is not None else None
    if entity_type not in (EntityType.PAGE, EntityType.SNIPPET):
        return False
    if entity_type == EntityType.SNIPPET and not issubclass(model, DraftStateMixin):
        return False  # its drafts are saved to the row itself, and post_save handles those
    obj = revision.content_object
    if obj is None:
        return False
    spec = job_spec_for(obj, JobType.PUBLISH)
    if spec is None:
        return False
    queue_job(replace(spec, destination=Destination.PREVIEW, delay=conf.PREVIEW_SETTLE_SECONDS))
    if entity_type == EntityType.PAGE:
        # A new translation shows up in its group once its first draft is saved.
        queue_translation_group(obj, [Destination.PREVIEW])
    return True


# Translation groups ---------------------------------------------------------------------


def translation_group_spec(translation_key, destination: str = Destination.PUBLISH) -> JobSpec:
    return JobSpec(
        entity_type=EntityType.TRANSLATION_GROUP,
        entity_id=str(translation_key),
        job_type=JobType.PUBLISH,
        origin_id=translation_group_origin_id(translation_key),
        destination=destination,
    )


def queue_translation_group(page, destinations: Iterable[str] | None = None) -> bool:
    """
    Re-send the translation group of ``page`` (``TRANSLATION_GROUPS``): its list of variants
    may have changed. The handler deletes a group that has no variant left. Unchanged groups
    cost nothing: the ledger skips identical payloads. A refresh is bulk work.
    """
    if not conf.TRANSLATION_GROUPS or not isinstance(page, AbstractPage):
        return False
    group = translation_group_spec(page.translation_key)
    queue_jobs(as_bulk(in_destinations([group], destinations)))
    return True


def translation_group_specs(pages, destination: str = Destination.PUBLISH) -> Iterator[JobSpec]:
    """
    One group spec per distinct translation key of a page queryset, in chunks (none without
    ``TRANSLATION_GROUPS``).
    """
    if not conf.TRANSLATION_GROUPS:
        return
    keys = (
        pages.order_by("translation_key")
        .values_list("translation_key", flat=True)
        .distinct()
        .iterator(chunk_size=BULK_CHUNK_SIZE)
    )
    for translation_key in keys:
        yield translation_group_spec(translation_key, destination)
