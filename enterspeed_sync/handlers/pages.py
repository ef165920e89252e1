from __future__ import annotations

from typing import TYPE_CHECKING

from enterspeed_sync.handlers.base import BasePublishHandler
from enterspeed_sync.mapping import get_base_page_model
from enterspeed_sync.models import EntityType

if TYPE_CHECKING:
    from wagtail.models import AbstractPage

    from enterspeed_sync.models import EnterspeedJob


class PagePublishHandler(BasePublishHandler):
    """Sends the page's live state; a page that is gone or not live is deleted instead."""

    key = "page_publish"
    entity_type = EntityType.PAGE

    def get_object(self, job: EnterspeedJob) -> AbstractPage | None:
        page = get_base_page_model().objects.filter(pk=job.entity_id).first()
        return page.specific if page is not None else None
