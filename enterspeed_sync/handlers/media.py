from __future__ import annotations

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


class DocumentPublishHandler(BasePublishHandler):
    """Sends a document entity (``document-{pk}``); a deleted document is deleted instead."""

    key = "document_publish"
    entity_type = EntityType.DOCUMENT

    def get_object(self, job: EnterspeedJob):
        return get_document_model().objects.filter(pk=job.entity_id).first()
