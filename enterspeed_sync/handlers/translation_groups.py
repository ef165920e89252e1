from __future__ import annotations

from typing import TYPE_CHECKING

from enterspeed_sync.delivery.bulk import Operation
from enterspeed_sync.guards import find_veto
from enterspeed_sync.handlers.base import BasePublishHandler
from enterspeed_sync.mapping.translation_groups import (
    get_group_pages,
    translation_group_entity,
    variant_of,
)
from enterspeed_sync.mapping.validation import find_problems
from enterspeed_sync.models import Destination, EntityType

if TYPE_CHECKING:
    from enterspeed_sync.models import EnterspeedJob


class TranslationGroupHandler(BasePublishHandler):
    """
    Sends a translation group (``translation-group-{translation_key}``): the origin ids and
    locales of the group's pages that are in the job's source. In the published source
    those are the live pages; in the preview source every page (each has a draft). Pages a
    guard vetoes are left out, as they are not in Enterspeed either. A group with no page
    left is deleted.
    """

    key = "translation_group"
    entity_type = EntityType.TRANSLATION_GROUP

    def prepare(self, jobs) -> None:
        """Groups load their variants in ``plan``; there is nothing to load in bulk."""

    def plan(self, job: EnterspeedJob) -> Operation:
        variants = [variant_of(page) for page in self.get_variants(job)]
        if not variants:
            reason = "None of its pages is in this source any more."
            return Operation.delete(job, job.origin_id, reason=reason)
        entity = translation_group_entity(job.entity_id, variants)
        return Operation.save(job, job.origin_id, entity, problems=find_problems(entity))

    def get_variants(self, job: EnterspeedJob) -> list:
        """The group's pages that belong in the job's source."""
        pages = get_group_pages(job.entity_id)
        if job.destination != Destination.PREVIEW:
            pages = pages.live()
        return [page for page in pages if find_veto(page, self.get_mapper(page)) is None]
