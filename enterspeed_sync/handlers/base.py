"""
Handlers decide what a job changes in Enterspeed: ``operations(job)`` returns the saves and
deletes (``delivery.bulk.Operation``) and processing sends them, in bulk, with the rest of
the batch. ``enterspeed_verify``, ``enterspeed_inspect`` and the mapping self-test call the
same method, so they show exactly what processing would send.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from enterspeed_sync.delivery.bulk import Operation
from enterspeed_sync.delivery.client import IngestResponse
from enterspeed_sync.exceptions import EntityValidationError
from enterspeed_sync.guards import find_veto
from enterspeed_sync.mapping import BaseMapper, batch, get_mapper, prefetch
from enterspeed_sync.mapping.validation import find_problems
from enterspeed_sync.models import Destination, JobType

if TYPE_CHECKING:
    from django.db import models

    from enterspeed_sync.models import EnterspeedJob

logger = logging.getLogger(__name__)


class BaseJobHandler:
    """
    Decides what one kind of job changes in Enterspeed.

    Handlers are listed in ``ENTERSPEED_SYNC["JOB_HANDLERS"]``; for each job the first
    handler whose ``can_handle`` returns True gets it. ``operations`` returns what to send
    and sends nothing itself; an exception it raises fails the job, with the exception's
    text as the job's error. Handlers are instantiated once per worker process, so keep no
    per-job state on ``self``.
    """

    #: A unique, stable name for the handler, used in logs and checks.
    key: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "handle" in cls.__dict__ and "operations" not in cls.__dict__:
            # Written to the contract before ``operations``: ``handle(job, client)``.
            cls.operations = _operations_from_handle  # type: ignore[method-assign]

    def can_handle(self, job: EnterspeedJob) -> bool:
        raise NotImplementedError

    def operations(self, job: EnterspeedJob) -> list[Operation]:
        """
        What ``job`` changes in Enterspeed, as ``Operation.save(job, origin_id, entity)``
        and ``Operation.delete(job, origin_id)``, in order; an empty list sends nothing.
        """
        raise NotImplementedError

    def prepare(self, jobs: Sequence[EnterspeedJob]) -> None:
        """
        Called once per batch, before ``operations``, with every job of the batch this
        handler got: load in bulk what they need (see ``mapping.batch``). Optional.
        """

    def handle(self, job: EnterspeedJob, client: Any) -> None:
        """
        Deprecated: the contract before ``operations``. Calls ``client.save`` and
        ``client.delete`` for this handler's operations, so an old-style subclass that calls
        ``super().handle(job, client)`` keeps working for one more release.
        """
        for operation in _own_operations(self, job):
            if operation.action == "delete":
                client.delete(operation.origin_id)
                continue
            if operation.problems:
                raise EntityValidationError(operation.origin_id, operation.problems)
            client.save(operation.origin_id, operation.entity, force_type=operation.force_type)


# The adapter for handlers written to ``handle(job, client)`` (deprecated) ----------------

#: Old-style handler classes already warned about, so each is named once per process.
_warned: set[type] = set()


class _Recorder:
    """The ``client`` an old-style ``handle`` gets: records saves and deletes, sends nothing."""

    def __init__(self, job: EnterspeedJob) -> None:
        self.job = job
        self.operations: list[Operation] = []

    def save(
        self, origin_id: str, entity: Mapping[str, Any], *, force_type: bool = False
    ) -> IngestResponse:
        self.operations.append(Operation.save(self.job, origin_id, entity, force_type=force_type))
        return _queued()

    def delete(self, origin_id: str) -> IngestResponse:
        self.operations.append(Operation.delete(self.job, origin_id))
        return _queued()

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"A handler's client only records save() and delete(); {name!r} is not available. "
            "Implement operations(job) instead of handle(job, client)."
        )


def _queued() -> IngestResponse:
    """What the recorder answers, as the batch's recorder always did: nothing is sent yet."""
    return IngestResponse(status=202, message="Queued for sending with its batch.")


def _operations_from_handle(self: BaseJobHandler, job: EnterspeedJob) -> list[Operation]:
    """``operations`` of an old-style handler: what its ``handle`` asked the client for."""
    cls = type(self)
    if cls not in _warned:
        _warned.add(cls)
        message = (
            f"{cls.__module__}.{cls.__qualname__} implements handle(job, client), which is "
            "deprecated and will stop working in the next release: implement "
            "operations(job) and return Operation.save(...) / Operation.delete(...) instead."
        )
        logger.warning(message)
        warnings.warn(message, DeprecationWarning, stacklevel=2)
    recorder = _Recorder(job)
    self.handle(job, recorder)
    return recorder.operations


def _own_operations(handler: BaseJobHandler, job: EnterspeedJob) -> list[Operation]:
    """The operations of the nearest class that implements ``operations`` itself."""
    for cls in type(handler).__mro__:
        method = cls.__dict__.get("operations")
        if method is not None and method is not _operations_from_handle:
            return method(handler, job)
    raise NotImplementedError(f"{type(handler).__name__} implements no operations(job)")


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

    def operations(self, job: EnterspeedJob) -> list[Operation]:
        return [self.plan(job)]

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

    def plan(self, job: EnterspeedJob) -> Operation:
        """The one save or delete the job needs now (``operations`` returns it alone)."""
        obj = batch.remembered_object(self, job.entity_id, default=batch.NOT_LOADED)
        if obj is batch.NOT_LOADED:
            obj = self.get_object(job)
        if obj is None:
            return Operation.delete(job, job.origin_id, reason="It no longer exists.")
        if job.destination == Destination.PREVIEW:
            obj = self.get_draft(obj)
        elif not self.is_published(obj):
            return Operation.delete(job, job.origin_id, reason="It is not published.")
        mapper = self.get_mapper(obj)
        if veto := find_veto(obj, mapper):
            return Operation.delete(job, job.origin_id, reason=str(veto))
        entity = mapper.to_entity()
        return Operation.save(job, job.origin_id, entity, problems=find_problems(entity))

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

    def operations(self, job: EnterspeedJob) -> list[Operation]:
        return [Operation.delete(job, job.origin_id)]
