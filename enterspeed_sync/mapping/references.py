"""
References from one entity to another: the origin id Enterspeed resolves, plus the few fields
a schema needs without resolving it (title and URL).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from wagtail.models import AbstractPage, TranslatableMixin

from enterspeed_sync.mapping import batch
from enterspeed_sync.mapping.identity import (
    document_origin_id,
    get_document_model,
    get_entity_type,
    get_image_model,
    image_origin_id,
    page_origin_id,
    snippet_origin_id,
)
from enterspeed_sync.mapping.values import absolute_url
from enterspeed_sync.models import EntityType


def page_reference(page: AbstractPage) -> dict[str, Any]:
    # .localized: the translation in the language being mapped (mappers activate the
    # object's language), as Wagtail's own rich text links do. The URL is the specific
    # page's (a page model may override get_url_parts), as on the page's own entity; a
    # base page becomes its specific class without a query (specific fields deferred).
    page = batch.specific_of(batch.localized(page))
    return {"id": page_origin_id(page.pk), "title": page.title, "url": batch.full_url_of(page)}


def image_reference(image, media_base_url: str) -> dict[str, Any]:
    return {
        "id": image_origin_id(image.pk),
        "title": image.title,
        "url": absolute_url(image.file.url, media_base_url),
        "alt": getattr(image, "default_alt_text", image.title),
        "width": image.width,
        "height": image.height,
    }


def document_reference(document, media_base_url: str) -> dict[str, Any]:
    return {
        "id": document_origin_id(document.pk),
        "title": document.title,
        "url": absolute_url(document.file.url, media_base_url),
    }


def snippet_reference(obj: models.Model) -> dict[str, Any]:
    if isinstance(obj, TranslatableMixin):
        # Without a query when the snippet is in the language being mapped already.
        obj = batch.localized(obj)
    return {"id": snippet_origin_id(obj, obj.pk), "title": str(obj)}


def reference_for(obj: models.Model, media_base_url: str) -> dict[str, Any]:
    """A reference to any model instance: pages, images, documents and snippets get origin ids."""
    if isinstance(obj, AbstractPage):
        return page_reference(obj)
    if isinstance(obj, get_image_model()):
        return image_reference(obj, media_base_url)
    if isinstance(obj, get_document_model()):
        return document_reference(obj, media_base_url)
    if get_entity_type(obj) == EntityType.SNIPPET:
        return snippet_reference(obj)
    # Any other model (a user, a plain lookup table): no entity to point at.
    return {"pk": obj.pk, "title": str(obj)}
