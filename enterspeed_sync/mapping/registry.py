"""
Which mapper class maps which model.

``ENTERSPEED_SYNC["MAPPERS"]`` maps model labels to mapper classes::

    "MAPPERS": {
        "blog.BlogPage": "myproject.enterspeed.BlogPageMapper",
        "wagtailimages.Image": "myproject.enterspeed.CloudinaryImageMapper",
    }

The most specific entry wins: the model's own label, then its parents' labels in method
resolution order (so an entry for a base page class covers its subclasses), then the
default mapper of the object's kind.
"""

from __future__ import annotations

from django.db import models

from enterspeed_sync.conf import conf
from enterspeed_sync.loading import load_class
from enterspeed_sync.mapping.base import BaseMapper
from enterspeed_sync.mapping.identity import get_entity_type
from enterspeed_sync.mapping.media import DocumentMapper, ImageMapper
from enterspeed_sync.mapping.pages import PageMapper
from enterspeed_sync.mapping.snippets import SnippetMapper
from enterspeed_sync.models import EntityType

DEFAULT_MAPPERS: dict[str, type[BaseMapper]] = {
    EntityType.PAGE: PageMapper,
    EntityType.IMAGE: ImageMapper,
    EntityType.DOCUMENT: DocumentMapper,
    EntityType.SNIPPET: SnippetMapper,
}


def get_mapper_class(model: type[models.Model]) -> type[BaseMapper]:
    configured = {label.lower(): path for label, path in conf.MAPPERS.items()}
    for cls in model.__mro__:
        meta = getattr(cls, "_meta", None)
        if meta is None or meta.abstract:
            continue
        if path := configured.get(meta.label_lower):
            return load_class(path, BaseMapper, "MAPPERS")
    entity_type = get_entity_type(model)
    if entity_type is None:
        raise LookupError(f"{model._meta.label} is not a model that syncs to Enterspeed.")
    return DEFAULT_MAPPERS[entity_type]


def get_mapper(obj: models.Model) -> BaseMapper:
    """The mapper for ``obj`` (use ``.specific`` pages)."""
    return get_mapper_class(type(obj))(obj)
