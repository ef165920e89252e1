from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from enterspeed_sync.handlers.base import BasePublishHandler
from enterspeed_sync.mapping import get_base_page_model, prefetch
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

    def get_objects(self, jobs: Sequence[EnterspeedJob]) -> dict[str, AbstractPage]:
        # One query for the base rows, one per page type for the specific ones.
        pages = get_base_page_model().objects.filter(pk__in=[job.entity_id for job in jobs])
        return {str(page.pk): page for page in pages.specific()}

    def prefetch(self, objects: list[AbstractPage]) -> None:
        prefetch.prefetch_pages(objects)
