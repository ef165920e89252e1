from __future__ import annotations

from typing import TYPE_CHECKING

from enterspeed_sync.handlers.base import BasePublishHandler
from enterspeed_sync.mapping import get_object_for_origin_id
from enterspeed_sync.models import EntityType

if TYPE_CHECKING:
    from enterspeed_sync.models import EnterspeedJob


class SnippetPublishHandler(BasePublishHandler):
    """
    Sends a snippet entity (``{app_label}.{model}-{pk}``). A draft-state snippet must be
    live; one that is not, or is gone, or whose model no longer syncs, is deleted instead.
    """

    key = "snippet_publish"
    entity_type = EntityType.SNIPPET

    def get_object(self, job: EnterspeedJob):
        try:
            return get_object_for_origin_id(job.origin_id)
        except LookupError:
            return None
