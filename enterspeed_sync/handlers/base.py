from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from enterspeed_sync.exceptions import EntityValidationError
from enterspeed_sync.guards import find_veto
from enterspeed_sync.mapping import BaseMapper, batch, get_mapper, prefetch
from enterspeed_sync.mapping.validation import find_problems
from enterspeed_sync.models import Destination, JobType

if TYPE_CHECKING:
    from django.db import models

    from enterspeed_sync.delivery.client import EnterspeedClient
    from enterspeed_sync.models import EnterspeedJob

logger = logging.getLogger(__name__)


class BaseJobHandler:
    """
    Turns one kind of job into calls to the Enterspeed ingest client.

    Handlers are listed in ``ENTERSPEED_SYNC["JOB_HANDLERS"]``; for each job the first
    handler whose ``can_handle`` returns True gets it. ``handle`` returns normally when
    Enterspeed accepted the change and raises when it did not: the exception's text becomes
    the job's error. Handlers are instantiated once per worker process, so keep no
    per-job state on ``self``.
    """

    #: A unique, stable name for the handler, used in logs and checks.
    key: str = ""

    def can_handle(self, job: EnterspeedJob) -> bool:
        raise NotImplementedError

    def handle(self, job: EnterspeedJob, client: EnterspeedClient) -> None:
        raise NotImplementedError

    def prepare(self, jobs: Sequence[EnterspeedJob]) -> None:
        """
        Called once per batch, before ``handle``, with every job of the batch this handler
        got: load in bulk what they need (see ``mapping.batch``). Optional.
        """


@dataclass
class Plan:
    """What a publish job sends if it runs now: ``save`` the entity, or ``delete`` it."""

    action: Literal["save", "delete"]
    origin_id: str
    entity: dict[str, Any] | None = None
    #: Why a publish job deletes: the object is gone, not live, or a guard vetoed it.
    reason: str = ""
    #: Pre-flight validation problems, ``{field path: message}``; the entity is not sent.
    problems: dict[str, str] = field(default_factory=dict)
    obj: models.Model | None = field(default=None, repr=False)


class BasePublishHandler(BaseJobHandler):
    """
    Publish jobs of one entity type: load the object as it is *now*, map it, run the guards
    and the pre-flight validation, and save it. An object that is gone, not live, or vetoed
    by a guard is deleted from Enterspeed instead, so a late or retried job never
    resurrects or keeps stale content.

    A job for the preview source maps the object's latest draft (its newest revision)
    instead, whether or not it is live: preview shows what editors are working on.
    """

    #: The ``EnterspeedJob.entity_type`` this handler publishes.
    entity_type: str = ""

    def can_handle(self, job: EnterspeedJob) -> bool:
        return job.entity_type == self.entity_type and job.job_type == JobType.PUBLISH

    def handle(self, job: EnterspeedJob, client: EnterspeedClient) -> None:
        plan = self.plan(job)
        if plan.action == "delete":
            logger.info("Deleting %s from Enterspeed: %s", plan.origin_id, plan.reason)
            client.delete(plan.origin_id)
            return
        if plan.problems:
            raise EntityValidationError(plan.origin_id, plan.problems)
        client.save(plan.origin_id, plan.entity)

    def prepare(self, jobs: Sequence[EnterspeedJob]) -> None:
        """Load the batch's objects in bulk, and what mapping them needs."""
        found = self.get_objects(jobs)
        batch.remember_objects(self, {job.entity_id: found.get(job.entity_id) for job in jobs})
        self.prefetch([obj for obj in found.values() if obj is not None])

    def get_objects(self, jobs: Sequence[EnterspeedJob]) -> dict[str, models.Model]:
        """``{entity_id: object}`` for the jobs whose object exists. Override to load in bulk."""
        return {job.entity_id: obj for job in jobs if (obj := self.get_object(job)) is not None}

    def prefetch(self, objects: list[models.Model]) -> None:
        """Look up what mapping ``objects`` needs, in bulk (``mapping.batch``)."""
        prefetch.prefetch_translations(objects)

    def plan(self, job: EnterspeedJob) -> Plan:
        """Decide what to send, without sending it (``enterspeed_inspect`` shows this)."""
        obj = batch.remembered_object(self, job.entity_id, default=batch.NOT_LOADED)
        if obj is batch.NOT_LOADED:
            obj = self.get_object(job)
        if obj is None:
            return Plan("delete", job.origin_id, reason="It no longer exists.")
        if job.destination == Destination.PREVIEW:
            obj = self.get_draft(obj)
        elif not self.is_published(obj):
            return Plan("delete", job.origin_id, reason="It is not published.", obj=obj)
        mapper = self.get_mapper(obj)
        if veto := find_veto(obj, mapper):
            return Plan("delete", job.origin_id, reason=str(veto), obj=obj)
        entity = mapper.to_entity()
        problems = find_problems(entity)
        return Plan("save", job.origin_id, entity=entity, problems=problems, obj=obj)

    def get_object(self, job: EnterspeedJob) -> models.Model | None:
        """The object the job is about, or None when it was deleted."""
        raise NotImplementedError

    def is_published(self, obj: models.Model) -> bool:
        """Whether ``obj`` belongs in the published source (draft-state objects must be live)."""
        return getattr(obj, "live", True)

    def get_draft(self, obj: models.Model) -> models.Model:
        """What the preview source shows: the newest revision of objects that have them."""
        get_latest = getattr(obj, "get_latest_revision_as_object", None)
        return get_latest() if callable(get_latest) else obj

    def get_mapper(self, obj: models.Model) -> BaseMapper:
        return get_mapper(obj)


class DeleteHandler(BaseJobHandler):
    """Removes any entity from Enterspeed (unpublished, deleted, or no longer synced)."""

    key = "delete"

    def can_handle(self, job: EnterspeedJob) -> bool:
        return job.job_type == JobType.DELETE

    def handle(self, job: EnterspeedJob, client: EnterspeedClient) -> None:
        client.delete(job.origin_id)
