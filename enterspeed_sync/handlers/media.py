from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from enterspeed_sync.handlers.base import BasePublishHandler
from enterspeed_sync.mapping.identity import get_document_model, get_image_model
from enterspeed_sync.models import EntityType

if TYPE_CHECKING:
    from enterspeed_sync.models import EnterspeedJob


class ImagePublishHandler(BasePublishHandler):
    """Sends an image entity (``image-{pk}``); a deleted image is deleted instead."""

    key = "image_publish"
    entity_type = EntityType.IMAGE

    def get_object(self, job: EnterspeedJob):
        return get_image_model().objects.filter(pk=job.entity_id).first()

    def get_objects(self, jobs: Sequence[EnterspeedJob]):
        return load_in_bulk(get_image_model().objects.select_related("collection"), jobs)


class DocumentPublishHandler(BasePublishHandler):
    """Sends a document entity (``document-{pk}``); a deleted document is deleted instead."""

    key = "document_publish"
    entity_type = EntityType.DOCUMENT

    def get_object(self, job: EnterspeedJob):
        return get_document_model().objects.filter(pk=job.entity_id).first()

    def get_objects(self, jobs: Sequence[EnterspeedJob]):
        return load_in_bulk(get_document_model().objects.select_related("collection"), jobs)


def load_in_bulk(queryset, jobs: Sequence[EnterspeedJob]) -> dict:
    """``{entity_id: object}`` for the jobs whose object still exists, in one query."""
    ids = [job.entity_id for job in jobs if job.entity_id.isdigit()]
    return {str(pk): obj for pk, obj in queryset.in_bulk(ids).items()}
