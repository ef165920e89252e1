from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from enterspeed_sync.handlers.base import BaseJobHandler
from enterspeed_sync.mapping import PageMapper, get_base_page_model
from enterspeed_sync.models import EntityType, JobType

if TYPE_CHECKING:
    from wagtail.models import AbstractPage

    from enterspeed_sync.client import EnterspeedClient
    from enterspeed_sync.models import EnterspeedJob

logger = logging.getLogger(__name__)


class PagePublishHandler(BaseJobHandler):
    """
    Sends the page's current live state. A page that is gone or no longer live by the time
    the job runs is deleted from Enterspeed instead, so a late publish never resurrects it.
    """

    key = "page_publish"
    mapper_class = PageMapper

    def can_handle(self, job: EnterspeedJob) -> bool:
        return job.entity_type == EntityType.PAGE and job.job_type == JobType.PUBLISH

    def handle(self, job: EnterspeedJob, client: EnterspeedClient) -> None:
        page = self.get_page(job)
        if page is None or not page.live:
            logger.info("Page %s is not live any more; deleting %s", job.entity_id, job.origin_id)
            client.delete(job.origin_id)
            return
        client.save(job.origin_id, self.get_mapper(page).to_entity())

    def get_page(self, job: EnterspeedJob) -> AbstractPage | None:
        page = get_base_page_model().objects.filter(pk=job.entity_id).first()
        return page.specific if page is not None else None

    def get_mapper(self, page: AbstractPage) -> PageMapper:
        return self.mapper_class(page)


class PageDeleteHandler(BaseJobHandler):
    """Removes the page's entity from Enterspeed (unpublished, deleted, or no longer routed)."""

    key = "page_delete"

    def can_handle(self, job: EnterspeedJob) -> bool:
        return job.entity_type == EntityType.PAGE and job.job_type == JobType.DELETE

    def handle(self, job: EnterspeedJob, client: EnterspeedClient) -> None:
        client.delete(job.origin_id)
