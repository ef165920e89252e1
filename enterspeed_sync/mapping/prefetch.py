"""
Prefetching for a mapping batch: what mapping a batch of objects needs (parents, ancestors,
redirects, translations, foreign keys, rich text link and embed targets, the objects chosen
in StreamField chooser blocks), looked up in a few queries and kept in the current
``mapping.batch`` for the mappers to read. Outside a batch every function here does nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import Any

from django.apps import apps
from django.db import models
from modelcluster.fields import ParentalKey
from modelcluster.models import get_all_child_relations
from taggit.models import ItemBase
from wagtail.blocks import StreamValue
from wagtail.fields import RichTextField, StreamField
from wagtail.images.api.fields import ImageRenditionField
from wagtail.images.models import AbstractImage
from wagtail.images.utils import to_svg_safe_spec
from wagtail.models import AbstractPage, DraftStateMixin, TranslatableMixin
from wagtail.rich_text.rewriters import FIND_A_TAG, FIND_EMBED_TAG, extract_attrs

from enterspeed_sync.mapping import streams
from enterspeed_sync.mapping.api_fields import find_model_field, get_property_entries, serializer_of
from enterspeed_sync.mapping.batch import PATH_STEP, current_batch, get_locales
from enterspeed_sync.mapping.identity import get_base_page_model, get_image_model


def prefetch_pages(pages: Iterable[AbstractPage]) -> None:
    """Look up in a few queries what mapping ``pages`` needs (no-op outside a batch)."""
    batch = current_batch()
    pages = [page for page in pages if page is not None]
    if batch is None or not pages:
        return
    locales = get_locales()
    for page in pages:
        if page.locale_id in locales:
            page._state.fields_cache.setdefault("locale", locales[page.locale_id])
    page_model = get_base_page_model()
    ids = [page.pk for page in pages]
    ancestor_paths = {
        page.path[:end]
        for page in pages
        for end in range(PATH_STEP, len(page.path), PATH_STEP)
        if page.path[:end] not in batch.tree
    }
    if ancestor_paths:
        rows = page_model.objects.filter(path__in=ancestor_paths).values_list(
            "path", "pk", "locale_id"
        )
        batch.tree.update((path, (pk, locale_id)) for path, pk, locale_id in rows)
    for page in pages:
        batch.redirects.setdefault(page.pk, [])
    if apps.is_installed("wagtail.contrib.redirects"):
        # wagtail.contrib.redirects is optional: its models load only when it is installed.
        from wagtail.contrib.redirects.models import Redirect

        rows = Redirect.objects.filter(redirect_page_id__in=ids).select_related("site")
        for redirect in rows:
            root_url = redirect.site.root_url if redirect.site else None
            batch.redirects[redirect.redirect_page_id].append((redirect.old_path, root_url))
    prefetch_translations(pages, base_model=page_model)
    prefetch_relations(pages)


def prefetch_translations(
    objects: Iterable[models.Model], *, base_model: type[models.Model] | None = None
) -> None:
    """
    The pks of the live translations of ``objects``, one query per model, for
    ``translation_pks``. ``base_model`` is the model translations are looked up in (the
    base page model for pages); by default each object's own model.
    """
    batch = current_batch()
    if batch is None:
        return
    by_model: dict[type[models.Model], set] = {}
    for obj in objects:
        if isinstance(obj, TranslatableMixin):
            by_model.setdefault(base_model or type(obj), set()).add(obj.translation_key)
    for model, keys in by_model.items():
        label = model._meta.label
        found = model._default_manager.filter(translation_key__in=keys)
        if issubclass(model, DraftStateMixin):
            found = found.filter(live=True)
        for key in keys:
            batch.translations[(label, key)] = []
        for pk, translation_key in found.values_list("pk", "translation_key"):
            batch.translations[(label, translation_key)].append(pk)


def prefetch_relations(objects: Iterable[models.Model]) -> None:
    """
    The objects' own foreign keys (a hero image, a related page) in one query per field,
    the pages and images their rich text links to and embeds, and the objects their
    StreamField chooser blocks chose (one query per model, see ``mapping.streams``).
    """
    batch = current_batch()
    if batch is None:
        return
    by_model: dict[type[models.Model], list[models.Model]] = {}
    for obj in objects:
        by_model.setdefault(type(obj), []).append(obj)
    page_model = get_base_page_model()
    page_ids: set[int] = set()
    image_ids: set[int] = set()
    page_keys: list[tuple[models.Model, models.ForeignKey]] = []
    # Models still to look at: the objects', then those of their ParentalKey children and
    # of the rows of reverse relations they send, which are mapped with them.
    todo = list(by_model.items())
    while todo:
        model, group = todo.pop()
        for related_model, rows in prefetch_many(model, group).items():
            by_model.setdefault(related_model, []).extend(rows)
            todo.append((related_model, rows))
        local_fields = model._meta.local_concrete_fields
        # Not the parent link of a multi-table model (a specific page's page_ptr): it is the
        # object's own row, already loaded, and nothing maps it.
        foreign_keys = [
            f
            for f in local_fields
            if isinstance(f, models.ForeignKey) and not f.remote_field.parent_link
        ]
        # A key to the base page model gets the same specific page as rich text links to it
        # (loaded once below), so the batch holds one instance, and one URL, per page.
        to_pages = [f for f in foreign_keys if f.related_model is page_model]
        others = [f.name for f in foreign_keys if f.related_model is not page_model]
        models.prefetch_related_objects(group, *others)
        for obj in group:
            batch.link_objects.extend(
                target
                for f in foreign_keys
                if f.related_model is not page_model
                and isinstance(target := f.get_cached_value(obj, None), TranslatableMixin)
            )
        rich_fields = [f for f in local_fields if isinstance(f, RichTextField | StreamField)]
        for obj in group:
            for field in to_pages:
                if (pk := field.value_from_object(obj)) is not None:
                    page_ids.add(pk)
                    page_keys.append((obj, field))
            for field in rich_fields:
                for text in _strings_in(field.value_from_object(obj)):
                    _collect_targets(text, page_ids, image_ids)
    page_ids -= {pk for kind, pk in batch.link_targets if kind == "page"}
    image_ids -= {pk for kind, pk in batch.link_targets if kind == "image"}
    if page_ids:
        pages = page_model.objects.filter(pk__in=page_ids)
        found = {page.pk: page for page in pages.defer_streamfields().specific()}
        batch.link_targets.update((("page", pk), found.get(pk)) for pk in page_ids)
    for obj, field in page_keys:
        # A key to a page that is gone is left to Django, which raises as it would.
        if target := batch.link_targets.get(("page", field.value_from_object(obj))):
            field.set_cached_value(obj, target)
    if image_ids:
        images = get_image_model().objects.filter(pk__in=image_ids).prefetch_related("renditions")
        found = {image.pk: image for image in images}
        batch.link_targets.update((("image", pk), found.get(pk)) for pk in image_ids)
    objects = [obj for group in by_model.values() for obj in group]
    prefetch_renditions(objects)
    streams.load_chosen(streams.collect_chosen(objects), batch.chosen)
    # What ``batch.localized`` may be asked for in another language: translations of the
    # link targets are read together, per locale (pages linked across locales).
    batch.link_objects.extend(
        obj
        for obj in (*batch.link_targets.values(), *batch.chosen.values())
        if isinstance(obj, TranslatableMixin)
    )
    streams.resolve_streams(objects, batch.chosen)


def prefetch_many(model: type[models.Model], group: list[models.Model]) -> dict[type, list]:
    """
    The many-to-many fields (``ParentalManyToManyField`` too), ``ParentalKey`` children and
    reverse relations that mapping ``group`` reads, one query per relation for the group,
    where Django's and modelcluster's managers find them (``.all()`` reads no more). Returns
    the children by model, to be prefetched in their turn.
    """
    names = [_accessor(field) for field in mapped_relations(model)]
    if not names:
        return {}
    models.prefetch_related_objects(group, *names)
    rows: dict[type, list] = {}
    for field in mapped_relations(model):
        # Children are mapped field by field (``convert_child``); a reverse relation's rows
        # only as references.
        if isinstance(field, models.ManyToOneRel) and isinstance(field.field, ParentalKey):
            for obj in group:
                for row in getattr(obj, field.get_accessor_name()).all():
                    rows.setdefault(type(row), []).append(row)
    return rows


@functools.cache
def mapped_relations(model: type[models.Model]) -> tuple[Any, ...]:
    """
    The relations of ``model`` that hold many rows and that mapping reads: those its
    ``enterspeed_fields`` or ``api_fields`` name (as entries, or as the first step of a
    serializer's ``source``), or, without either, every many-to-many field and ``ParentalKey``
    child relation (as ``BaseMapper.get_default_fields`` sends them; tags are left to their
    own field). Fixed once the app registry is ready.
    """
    entries = get_property_entries(model)
    if entries is None:
        # A page's base page fields are not sent (``PageMapper.excluded_fields``): Wagtail's
        # own comments, for one.
        page_model = get_base_page_model()
        inherited = (
            {f.name for f in page_model._meta.get_fields()}
            if issubclass(model, page_model)
            else set()
        )
        found = [
            *(f for f in model._meta.many_to_many if isinstance(f, models.ManyToManyField)),
            *(
                relation
                for relation in get_all_child_relations(model)
                if not issubclass(relation.related_model, ItemBase)
            ),
        ]
        found = [f for f in found if f.name not in inherited]
    else:
        found = []
        for entry in entries:
            serializer = serializer_of(entry)
            source = entry.name if serializer is None else serializer.source or entry.name
            if source == "*":
                continue
            field = find_model_field(model, source.split(".")[0])
            if field is not None and field not in found:
                found.append(field)
    return tuple(
        field
        for field in found
        if isinstance(field, models.ManyToManyField | models.ForeignObjectRel)
        # A one-to-one's reverse is one row: Django's own descriptor caches it.
        and not field.one_to_one
    )


def prefetch_renditions(objects: list[models.Model]) -> None:
    """
    The renditions the ``ImageRenditionField`` serializers in ``api_fields`` ask for, of the
    images ``objects`` hold in the field their ``source`` names: one query for the batch,
    kept where Wagtail's ``get_rendition`` looks first (``prefetched_renditions``).
    """
    specs: dict[type[AbstractImage], set[str]] = {}
    images = []
    for obj in objects:
        for name, filter_specs in rendition_specs(type(obj)):
            image = getattr(obj, name, None)
            if isinstance(image, AbstractImage) and not hasattr(image, "prefetched_renditions"):
                specs.setdefault(type(image), set()).update(filter_specs)
                images.append(image)
    for image_model, filter_specs in specs.items():
        group = [image for image in images if type(image) is image_model]
        queryset = image_model.get_rendition_model().objects.filter(filter_spec__in=filter_specs)
        models.prefetch_related_objects(
            list({id(image): image for image in group}.values()),
            models.Prefetch("renditions", queryset=queryset, to_attr="prefetched_renditions"),
        )


@functools.cache
def rendition_specs(model: type[models.Model]) -> tuple[tuple[str, frozenset[str]], ...]:
    """``(image foreign key name, filter specs)`` of the model's ``ImageRenditionField``s."""
    by_key: dict[str, set[str]] = {}
    for entry in get_property_entries(model) or ():
        serializer = serializer_of(entry)
        if not isinstance(serializer, ImageRenditionField):
            continue
        source = serializer.source or entry.name
        field = find_model_field(model, source)
        if isinstance(field, models.ForeignKey):
            found = by_key.setdefault(field.name, set())
            found.add(serializer.filter_spec)
            if serializer.preserve_svg:
                found.add(to_svg_safe_spec(serializer.filter_spec))
    return tuple((name, frozenset(found)) for name, found in by_key.items())


def _accessor(field: Any) -> str:
    return field.get_accessor_name() if isinstance(field, models.ForeignObjectRel) else field.name


def _strings_in(value: Any) -> Iterator[str]:
    """Every string in a field value: rich text HTML, or the raw data of a StreamField."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, StreamValue):
        yield from _strings_in(list(value.raw_data))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings_in(item)
    elif value is not None and hasattr(value, "source"):  # RichText
        yield from _strings_in(value.source)


def _collect_targets(html: str, page_ids: set[int], image_ids: set[int]) -> None:
    if "<a" in html:
        for match in FIND_A_TAG.finditer(html):
            attrs = extract_attrs(match.group(1))
            if attrs.get("linktype") == "page" and str(attrs.get("id", "")).isdigit():
                page_ids.add(int(attrs["id"]))
    if "<embed" in html:
        for match in FIND_EMBED_TAG.finditer(html):
            attrs = extract_attrs(match.group(1))
            if attrs.get("embedtype") == "image" and str(attrs.get("id", "")).isdigit():
                image_ids.add(int(attrs["id"]))
