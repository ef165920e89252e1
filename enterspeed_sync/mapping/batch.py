"""
Mapping work shared across a batch of jobs.

Mapping one page alone costs about 25 queries: its locale, parent, ancestors, redirects and
translations, and every page link and image in its rich text. A batch of 50 pages mostly
asks the same questions (the same sections, the same images, the same site), so processing
opens a ``mapping_batch()`` around each batch, handlers prefetch what the batch needs in
a few queries (``mapping.prefetch``), and the mappers answer from it. Outside a batch, or
for an object the batch did not prefetch, every lookup falls back to its own query, so
mapping one object (``enterspeed_inspect``, the admin's inspect view) works the same.

Nothing here outlives the batch: a new batch sees the content as it is then.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from copy import copy
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.test import RequestFactory
from django.utils import translation
from django.utils.html import conditional_escape, escape
from django.utils.safestring import mark_safe
from wagtail.coreutils import get_supported_content_language_variant
from wagtail.images.formats import Format, get_image_format
from wagtail.images.models import AbstractImage, AbstractRendition, Filter
from wagtail.images.rich_text import ImageEmbedHandler
from wagtail.images.shortcuts import get_rendition_or_not_found
from wagtail.models import AbstractPage, DraftStateMixin, Locale, Site, TranslatableMixin
from wagtail.rich_text import expand_db_html as expand
from wagtail.rich_text import get_rewriter
from wagtail.rich_text.pages import PageLinkHandler

_active: ContextVar[MappingBatch | None] = ContextVar("enterspeed_mapping_batch", default=None)

#: Tree paths are made of steps of this length (treebeard's materialised path).
PATH_STEP = 4


#: ``remembered_object``'s answer for an object no handler loaded in this batch.
NOT_LOADED = object()


class UrlCache:
    """
    What a batch passes to Wagtail's page URL methods as their ``request``: Wagtail keeps the
    sites' root paths on it, so they are read once per batch instead of from Django's cache
    on every call. It is not an ``HttpRequest``, so Wagtail does not pick a site by it, and
    ``Site.find_for_request`` finds no site on it, as for no request: the URLs are the ones
    ``get_url_parts()`` gives.
    """

    _wagtail_site = None


class MappingBatch:
    """What a batch has looked up already; mappers read it through the functions below."""

    def __init__(self) -> None:
        #: (handler id, entity id) → the object its handler loaded (None: it is gone).
        self.objects: dict[tuple[int, str], models.Model | None] = {}
        self.locales: dict[int, Locale] | None = None
        self.site_root_ids: set[int] | None = None
        self.default_root_url: str | None = None
        #: path → (pk, locale_id) of the prefetched pages' ancestors.
        self.tree: dict[str, tuple[int, int]] = {}
        #: Prefetched pages' pk → their redirects (old path, site root URL or None for the
        #: page's own); a page not in it was not prefetched.
        self.redirects: dict[int, list[tuple[str, str | None]]] = {}
        #: (model label, translation key) → the pks of its live translations.
        self.translations: dict[tuple[str, Any], list[Any]] = {}
        #: ("page" | "image", pk) → the object a rich text link or embed points at.
        self.link_targets: dict[tuple[str, int], models.Model | None] = {}
        #: (model, pk) → the object a StreamField chooser block chose (``mapping.streams``).
        self.chosen: dict[tuple[type[models.Model], Any], models.Model | None] = {}
        self.active_locale_ids: dict[str, int | None] = {}
        #: (class, pk, locale id) → the object's ``localized`` translation, or None for itself.
        self.localized: dict[tuple[type, Any, int | None], Any] = {}
        #: What the batch's objects link to or chose (pages, snippets): their translations
        #: in a locale are read together the first time one of them is localized into it.
        self.link_objects: list[models.Model] = []
        self.localized_locale_ids: set[int] = set()
        #: (image pk, filter spec) → its rendition and the attributes of its <img> tag, for
        #: rich text image embeds.
        self.renditions: dict[tuple[Any, str], tuple[Any, dict | None]] = {}
        #: (page class, pk) → the page's ``specific_deferred``, for references to it.
        self.specific_pages: dict[tuple[type, Any], AbstractPage] = {}
        #: (page class, pk, language) → the page's full URL, for references to it.
        self.full_urls: dict[tuple[type, Any, str | None], str | None] = {}
        self.url_cache = UrlCache()
        self._rewriter = None
        self._replacements: dict[tuple, str] = {}
        self._expanded: dict[tuple[str, str | None], str] = {}
        self.request_contexts: dict[str, dict[str, Any]] = {}
        #: (id of an APIField's serializer field, id of the context) → the field, the
        #: context and the bound copy of the field (``api_fields.bind_serializer_field``).
        self.bound_fields: dict[tuple[int, int], tuple[Any, Any, Any]] = {}
        #: What a serializer field made of a value it renders the same for every page
        #: (``api_fields.represent``), by field and value.
        self.representations: dict[tuple, Any] = {}

    # Rich text -------------------------------------------------------------------------

    def expand_db_html(self, html: str) -> str:
        """
        Wagtail's ``expand_db_html``, remembering each link and embed it expanded, and each
        whole text in the active language (the same paragraph often repeats in a stream).
        """
        key = (html, translation.get_language())
        if key not in self._expanded:
            if self._rewriter is None:
                self._rewriter = _memoizing_rewriter(self._replacements)
            self._expanded[key] = self._rewriter(html)
        return self._expanded[key]


def current_batch() -> MappingBatch | None:
    return _active.get()


@contextmanager
def mapping_batch() -> Iterator[MappingBatch]:
    """Share lookups between the mappings inside the block (one processing batch)."""
    batch = MappingBatch()
    token = _active.set(batch)
    try:
        yield batch
    finally:
        _active.reset(token)


def remember_objects(handler: object, objects: dict[str, models.Model | None]) -> None:
    """Keep the objects a handler loaded for its jobs (None: the object is gone)."""
    batch = current_batch()
    if batch is not None:
        for entity_id, obj in objects.items():
            batch.objects[(id(handler), entity_id)] = obj


def remembered_object(handler: object, entity_id: str, default: Any = None) -> Any:
    batch = current_batch()
    if batch is None:
        return default
    return batch.objects.get((id(handler), entity_id), default)


# Lookups (used by the mappers) ---------------------------------------------------------


def get_locales() -> dict[int, Locale]:
    batch = current_batch()
    if batch is None:
        return {locale.pk: locale for locale in Locale.objects.all()}
    if batch.locales is None:
        batch.locales = {locale.pk: locale for locale in Locale.objects.all()}
    return batch.locales


def is_site_root(page: AbstractPage) -> bool:
    batch = current_batch()
    if batch is None:
        return Site.objects.filter(root_page_id=page.pk).exists()
    if batch.site_root_ids is None:
        batch.site_root_ids = set(Site.objects.values_list("root_page_id", flat=True))
    return page.pk in batch.site_root_ids


def parent_of(page: AbstractPage) -> tuple[int, int] | None:
    """``(pk, locale_id)`` of the page's parent, or None for the tree root."""
    if page.depth <= 1:
        return None
    parent_path = page.path[:-PATH_STEP]
    batch = current_batch()
    if batch is not None and parent_path in batch.tree:
        return batch.tree[parent_path]
    parent = page.get_parent()
    return (parent.pk, parent.locale_id) if parent is not None else None


def ancestor_ids(page: AbstractPage) -> list[int]:
    """The pks of the page's ancestors below the tree root, from the top down."""
    batch = current_batch()
    paths = [page.path[:end] for end in range(2 * PATH_STEP, len(page.path), PATH_STEP)]
    if batch is not None and all(path in batch.tree for path in paths):
        return [batch.tree[path][0] for path in paths]
    return list(page.get_ancestors().filter(depth__gt=1).values_list("pk", flat=True))


def redirects_of(page: AbstractPage) -> list[tuple[str, str | None]] | None:
    """Prefetched ``(old_path, site root URL or None)`` pairs, or None if not prefetched."""
    batch = current_batch()
    if batch is None or page.pk not in batch.redirects:
        return None
    return batch.redirects.get(page.pk, [])


def translation_pks(obj: models.Model, base_model: type[models.Model]) -> list | None:
    """
    The pks of ``obj``'s prefetched live translations in ``base_model`` (itself excluded),
    or None if they were not prefetched.
    """
    batch = current_batch()
    if batch is None:
        return None
    found = batch.translations.get((base_model._meta.label, obj.translation_key))
    if found is None:
        return None
    return [pk for pk in found if pk != obj.pk]


def localized(obj: Any) -> Any:
    """
    ``obj.localized`` (its live translation in the active language), without Wagtail's
    locale query per call when the object already is in that language, and looked up once
    per batch when it is not.
    """
    batch = current_batch()
    if batch is None or not getattr(settings, "WAGTAIL_I18N_ENABLED", False):
        return obj.localized
    language = translation.get_language()
    if language not in batch.active_locale_ids:
        try:
            active = get_supported_content_language_variant(language)
        except LookupError:
            active = None
        codes = {locale.language_code: pk for pk, locale in get_locales().items()}
        batch.active_locale_ids[language] = codes.get(active)
    locale_id = batch.active_locale_ids[language]
    if locale_id == obj.locale_id:
        return obj
    # In another language (a link across locales): the translations of everything the
    # batch links to, one query per model and locale; an object the batch did not see
    # gets Wagtail's two queries, once per object and locale in the batch.
    key = (type(obj), obj.pk, locale_id)
    if key not in batch.localized and locale_id not in batch.localized_locale_ids:
        if locale_id is not None:
            _load_translations(batch, locale_id)
    if key not in batch.localized:
        found = obj.localized
        batch.localized[key] = None if found is obj else found
    return batch.localized[key] or obj


def _load_translations(batch: MappingBatch, locale_id: int) -> None:
    """
    What ``.localized`` gives for each of the batch's ``link_objects`` in the locale: its
    live translation there (a draft one, like none, leaves the object itself), read as
    Wagtail reads it (the object's own model and manager), one query per model. A model
    with its own ``localized`` is left to it.
    """
    batch.localized_locale_ids.add(locale_id)
    by_model: dict[type, dict[Any, list]] = {}
    for obj in batch.link_objects:
        cls = type(obj)
        if (
            obj.locale_id != locale_id
            and (cls, obj.pk, locale_id) not in batch.localized
            and cls.localized is TranslatableMixin.localized
            and cls.localized_draft is TranslatableMixin.localized_draft
        ):
            by_model.setdefault(cls, {}).setdefault(obj.translation_key, []).append(obj)
    for model, by_key in by_model.items():
        found = model.objects.filter(translation_key__in=by_key, locale_id=locale_id)
        if issubclass(model, AbstractPage):
            found = found.defer_streamfields()  # as the batch's link targets are read
        translations = {item.translation_key: item for item in found}
        for translation_key, objects in by_key.items():
            item = translations.get(translation_key)
            if item is not None and isinstance(item, DraftStateMixin) and not item.live:
                item = None
            for obj in objects:
                batch.localized[(model, obj.pk, locale_id)] = item


def default_root_url() -> str | None:
    """The default site's root URL (None without a default site), once per batch."""
    batch = current_batch()
    if batch is not None and batch.default_root_url is not None:
        return batch.default_root_url or None
    site = Site.objects.filter(is_default_site=True).first()
    root_url = site.root_url if site is not None else ""
    if batch is not None:
        batch.default_root_url = root_url
    return root_url or None


def request_context(base_url: str) -> dict[str, Any]:
    """
    The context blocks' ``get_api_representation`` gets, as in Wagtail's v2 API: a request
    for the site's host (one per host and batch).
    """
    batch = current_batch()
    if batch is not None and base_url in batch.request_contexts:
        return batch.request_contexts[base_url]
    host = base_url.split("://", 1)[-1].split("/", 1)[0] or "localhost"
    request = RequestFactory(SERVER_NAME=host.split(":")[0]).get("/", {"rich_text_format": "html"})
    context = {"request": request}
    if batch is not None:
        batch.request_contexts[base_url] = context
    return context


def expand_db_html(html: str) -> str:
    """Wagtail's ``expand_db_html``; inside a batch each link and embed is expanded once."""
    batch = current_batch()
    return batch.expand_db_html(html) if batch is not None else expand(html)


# Rich text memo ------------------------------------------------------------------------


def _memoizing_rewriter(memo: dict[tuple, str]):
    """
    A copy of Wagtail's rich text rewriter whose link and embed rules remember their
    result per tag (its attributes and the active language: ``.localized`` links differ
    per language), so a section linked from every page is looked up once per batch.
    """
    rewriter = copy(get_rewriter())
    rewriter.rewriters = [
        _memoize_tags(sub, index, memo) for index, sub in enumerate(rewriter.rewriters)
    ]
    return rewriter


def _memoize_tags(tag_rewriter, index: int, memo: dict[tuple, str]):
    memoized = copy(tag_rewriter)
    # Wagtail's own page link and image embed rules, answered from the batch's prefetched
    # targets; a project's own rules for those types are left alone.
    bulk_rules = dict(getattr(tag_rewriter, "bulk_rules", {}))
    rule = bulk_rules.get("page")
    if getattr(rule, "__self__", None) is PageLinkHandler:
        bulk_rules["page"] = functools.partial(_expand_page_links, fallback=rule)
    rule = bulk_rules.get("image")
    if getattr(rule, "__self__", None) is ImageEmbedHandler:
        bulk_rules["image"] = functools.partial(_expand_image_embeds, fallback=rule)
    memoized.bulk_rules = bulk_rules
    original = memoized.get_tag_replacements

    def get_tag_replacements(tag_type, attrs_list):
        language = translation.get_language()
        keys = [(index, tag_type, language, tuple(sorted(attrs.items()))) for attrs in attrs_list]
        missing = [i for i, key in enumerate(keys) if key not in memo]
        if missing:
            replacements = original(tag_type, [attrs_list[i] for i in missing])
            if not replacements:  # the rewriter leaves these tags alone
                return []
            for i, replacement in zip(missing, replacements, strict=True):
                memo[keys[i]] = replacement
        return [memo[key] for key in keys]

    memoized.get_tag_replacements = get_tag_replacements
    return memoized


def _targets(kind: str, attrs_list: list[dict]) -> list | None:
    """The prefetched targets of ``attrs_list``; None if one of them was not prefetched."""
    batch = current_batch()
    keys = [(kind, int(a["id"]) if str(a.get("id", "")).isdigit() else None) for a in attrs_list]
    if batch is None or any(key not in batch.link_targets for key in keys):
        return None
    return [batch.link_targets[key] for key in keys]


def _expand_page_links(attrs_list: list[dict], *, fallback) -> list[str]:
    pages = _targets("page", attrs_list)
    if pages is None:
        return fallback(attrs_list)
    return [f'<a href="{escape(_url(localized(page)))}">' if page else "<a>" for page in pages]


def _url(page: AbstractPage) -> str | None:
    """``page.url`` (as Wagtail's own page links write it), with the batch's URL cache."""
    return page.get_url(request=url_request(page))


def _expand_image_embeds(attrs_list: list[dict], *, fallback) -> list[str]:
    images = _targets("image", attrs_list)
    if images is None:
        return fallback(attrs_list)
    return [
        _image_to_html(get_image_format(attrs["format"]), image, attrs.get("alt", ""))
        if image
        else '<img alt="">'
        for attrs, image in zip(attrs_list, images, strict=True)
    ]


def _image_to_html(image_format: Format, image, alt_text: str) -> str:
    """
    ``image_format.image_to_html(image, alt_text)``, with the rendition and the escaped
    attributes of its ``<img>`` tag looked up once per image and format in the batch. A
    format class of your own that overrides ``image_to_html`` is called as it is.
    """
    batch = current_batch()
    if batch is None or type(image_format).image_to_html is not Format.image_to_html:
        return image_format.image_to_html(image, alt_text)
    key = (image.pk, image_format.filter_spec)
    if key not in batch.renditions:
        rendition = _rendition(image, image_format.filter_spec)
        batch.renditions[key] = (rendition, _img_tag_attributes(rendition))
    rendition, tag_attributes = batch.renditions[key]
    # The rest of Format.image_to_html, as Wagtail writes it.
    attributes = {"alt": escape(alt_text)}
    if image_format.classname:
        attributes["class"] = escape(image_format.classname)
    if tag_attributes is None:
        return rendition.img_tag(attributes)
    # Rendition.img_tag, with the attributes it starts from (its file's URL, size) read once.
    return mark_safe(f"<img{_flat_attributes({**tag_attributes, **attributes})}>")  # noqa: S308 (escaped, as flatatt does)


def _rendition(image, filter_spec: str):
    """
    ``get_rendition_or_not_found(image, filter_spec)``, answered from the image's prefetched
    renditions when it has one: Wagtail's ``get_rendition`` would also write it to Django's
    cache, which costs more than finding it. A custom image model's own ``get_rendition``
    is called as it is.
    """
    if type(image).get_rendition is AbstractImage.get_rendition:
        try:
            return image.find_existing_rendition(Filter(spec=filter_spec))
        except ObjectDoesNotExist:
            pass
    return get_rendition_or_not_found(image, filter_spec)


def _img_tag_attributes(rendition) -> dict[str, Any] | None:
    """
    What Wagtail's ``img_tag`` starts from, names and values escaped as ``flatatt`` escapes
    them; None for a rendition class with its own.
    """
    cls = type(rendition)
    if (
        cls.img_tag is not AbstractRendition.img_tag
        or cls.attrs_dict is not AbstractRendition.attrs_dict
    ):
        return None
    attributes = {**rendition.attrs_dict, **apps.get_app_config("wagtailimages").default_attrs}
    return {
        conditional_escape(name): value
        if value is None or isinstance(value, bool)
        else conditional_escape(value)
        for name, value in attributes.items()
    }


def _flat_attributes(attributes: dict[str, Any]) -> str:
    """
    ``django.forms.utils.flatatt`` for names and values escaped already: ``name="value"``
    pairs sorted, then the names of True flags sorted; None and False left out.
    """
    pairs = sorted(
        (name, value)
        for name, value in attributes.items()
        if value is not None and not isinstance(value, bool)
    )
    flags = sorted(name for name, value in attributes.items() if value is True)
    return "".join(f' {name}="{value}"' for name, value in pairs) + "".join(
        f" {name}" for name in flags
    )


def specific_of(page: AbstractPage) -> AbstractPage:
    """
    ``page.specific_deferred``, made once per page in a batch: a page chooser block's
    value or a translation is a base page, and each specific instance costs a page's
    creation (modelcluster looks through the model's relations).
    """
    batch = current_batch()
    if batch is None:
        return page.specific_deferred
    key = (type(page), page.pk)
    if key not in batch.specific_pages:
        batch.specific_pages[key] = page.specific_deferred
    return batch.specific_pages[key]


def full_url_of(page: AbstractPage) -> str | None:
    """
    ``page.get_full_url()``, once per page and language in a batch (per class too: a
    page model may override ``get_url_parts``, and a reference may hold the base page).
    """
    batch = current_batch()
    if batch is None:
        return page.get_full_url()
    key = (type(page), page.pk, translation.get_language())
    if key not in batch.full_urls:
        batch.full_urls[key] = page.get_full_url(request=url_request(page))
    return batch.full_urls[key]


def url_parts_of(page: AbstractPage):
    """``page.get_url_parts()``, with the batch's ``UrlCache`` where that is safe."""
    return page.get_url_parts(request=url_request(page))


def url_request(page: AbstractPage) -> UrlCache | None:
    """
    The ``request`` to pass to ``page``'s URL methods: the batch's ``UrlCache`` for Wagtail's
    own methods, None (as without a batch) for a page model that overrides one of them,
    which may expect a real request or none.
    """
    batch = current_batch()
    cls = type(page)
    if (
        batch is None
        or cls.get_url_parts is not AbstractPage.get_url_parts
        or cls.get_url is not AbstractPage.get_url
        or cls.get_full_url is not AbstractPage.get_full_url
    ):
        return None
    return batch.url_cache
