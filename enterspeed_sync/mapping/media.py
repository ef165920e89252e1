"""Images and documents as entities of their own (``image-{pk}``, ``document-{pk}``)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.utils.module_loading import import_string
from wagtail.models import Collection

from enterspeed_sync.conf import conf
from enterspeed_sync.mapping.base import BaseMapper
from enterspeed_sync.mapping.values import absolute_url


class MediaMapper(BaseMapper):
    """What images and documents share: the file's absolute URL, collection and tags."""

    #: The abstract model whose fields are sent as base properties (not again as fields).
    base_model_path: str = ""

    @cached_property
    def excluded_fields(self) -> frozenset[str]:  # type: ignore[override]
        base_model = import_string(self.base_model_path)
        return frozenset(field.name for field in base_model._meta.get_fields())

    def get_url(self) -> str | None:
        return absolute_url(self.obj.file.url, self.media_base_url) if self.obj.file else None

    def get_base_properties(self) -> dict[str, Any]:
        obj = self.obj
        return {
            "title": obj.title,
            "file_size": obj.file_size,
            "collection": self.get_collection(obj.collection),
            "tags": sorted(tag.name for tag in obj.tags.all()),
            "created_at": obj.created_at,
        }

    def get_collection(self, collection: Collection | None) -> dict[str, Any] | None:
        if collection is None:
            return None
        # The path of names below the root collection, e.g. ["Marketing", "2026"].
        path = [c.name for c in collection.get_ancestors().filter(depth__gt=1)]
        if not collection.is_root():
            path.append(collection.name)
        return {"id": collection.pk, "name": collection.name, "path": path}


class ImageMapper(MediaMapper):
    """
    An image: the original's URL, alt text, size, dimensions, focal point and the
    renditions named in ``ENTERSPEED_SYNC["IMAGE_RENDITIONS"]``.
    """

    base_model_path = "wagtail.images.models.AbstractImage"

    def get_base_properties(self) -> dict[str, Any]:
        image = self.obj
        return {
            **super().get_base_properties(),
            "alt": image.default_alt_text,
            "width": image.width,
            "height": image.height,
            "focal_point": self.get_focal_point(),
            "renditions": self.get_renditions(),
        }

    def get_focal_point(self) -> dict[str, int] | None:
        image = self.obj
        if image.focal_point_x is None or image.focal_point_y is None:
            return None
        return {
            "x": image.focal_point_x,
            "y": image.focal_point_y,
            "width": image.focal_point_width,
            "height": image.focal_point_height,
        }

    def get_renditions(self) -> dict[str, dict[str, Any]]:
        renditions = {}
        for name, filter_spec in conf.IMAGE_RENDITIONS.items():
            rendition = self.obj.get_rendition(filter_spec)
            renditions[name] = {
                "url": absolute_url(rendition.url, self.media_base_url),
                "width": rendition.width,
                "height": rendition.height,
            }
        return renditions


class DocumentMapper(MediaMapper):
    """A document: the file's URL, extension and content type."""

    base_model_path = "wagtail.documents.models.AbstractDocument"

    def get_base_properties(self) -> dict[str, Any]:
        document = self.obj
        return {
            **super().get_base_properties(),
            "file_extension": document.file_extension,
            "content_type": document.content_type,
        }
