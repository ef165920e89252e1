"""
Writing job rows: the outbox side of the sync.

Jobs are written in the caller's transaction, so they roll back with the content change
that caused them. Processing is only requested after commit (``transaction.on_commit``),
so a worker never looks for a job, or for content, that is not visible yet.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import cache, partial
from itertools import islice
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.signals import setting_changed
from django.db import IntegrityError, models, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest, Least
from django.dispatch import receiver
from django.utils import timezone
from wagtail.models import AbstractPage, DraftStateMixin, Locale, TranslatableMixin

from enterspeed_sync.conf import conf, get_destinations
from enterspeed_sync.mapping import (
    get_base_page_model,
    get_entity_type,
    get_locale_code,
    get_synced_snippet_models,
    origin_id_for,
    page_origin_id,
)
from enterspeed_sync.models import (
    ENTITY_KEY_FIELDS,
    Destination,
    EnterspeedJob,
    EntityType,
    JobState,
    JobType,
)

logger = logging.getLogger(__name__)

BULK_CHUNK_SIZE = 500

_local = threading.local()


@dataclass(frozen=True)
class JobSpec:
    """What to do with one entity in one Enterspeed source."""

    entity_type: str
    entity_id: str
    job_type: str
    origin_id: str
    locale: str = ""
    destination: str = Destination.PUBLISH
    content_type_id: int | None = None
    #: Seconds a new job waits before its first attempt (a preview's settle time). A job
    #: that is already pending keeps its time, so a burst of changes cannot postpone it.
    delay: float = 0.0

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.entity_type, str(self.entity_id), self.locale, self.destination)

    def as_job(self, **fields) -> EnterspeedJob:
        """An unsaved job row for this spec (``fields`` set the rest, e.g. its state)."""
        return EnterspeedJob(
            entity_type=self.entity_type,
            entity_id=str(self.entity_id),
            locale=self.locale,
            destination=self.destination,
            job_type=self.job_type,
            origin_id=self.origin_id,
            content_type_id=self.content_type_id,
            **fields,
        )


@contextmanager
def pause_sync() -> Iterator[None]:
    """
    Create no jobs inside this block, e.g. during a bulk import::

        with pause_sync():
            import_ten_thousand_pages()
        call_command("enterspeed_seed")

    Pauses only the current thread; nests.
    """
    _local.paused = getattr(_local, "paused", 0) + 1
    try:
        yield
    finally:
        _local.paused -= 1


def is_sync_active() -> bool:
    return conf.ENABLED and not getattr(_local, "paused", 0)


def queue_job(spec: JobSpec) -> None:
    """
    Record ``spec`` as the pending instruction for its entity: a newer instruction
    replaces the older pending one (newest wins), so an entity has at most one pending job.
    """
    queue_jobs([spec])


def queue_jobs(specs: Iterable[JobSpec]) -> int:
    """Queue many jobs in chunks (for moves, tree deletes and seeding). Returns the count."""
    count = 0
    specs = iter(specs)
    while chunk := list(islice(specs, BULK_CHUNK_SIZE)):
        _upsert_pending(chunk)
        count += len(chunk)
    if count:
        request_processing(parallel=count > conf.BATCH_SIZE)
    return count


def _upsert_pending(specs: list[JobSpec]) -> None:
    # Later specs for the same key win, as they would have one at a time.
    by_key = {spec.key: spec for spec in specs}
    if len(by_key) == 1:
        # An editor's change: no read and no transaction of its own (see _write_one).
        (spec,) = by_key.values()
        write, atomic = partial(_write_one, spec), savepoint_if_in_transaction
    else:
        write, atomic = partial(_write_pending, by_key), transaction.atomic
    for _attempt in range(3):
        try:
            with atomic():
                write()
            return
        except IntegrityError:
            # Another transaction inserted a pending job for one of these entities
            # between our read and our insert; the next round updates it instead.
            logger.info("Concurrent job insert for the same entity; retrying the upsert")
    with atomic():
        write()


def savepoint_if_in_transaction():
    """
    A savepoint when the caller is in a transaction, so a failure inside rolls back only
    what was done inside; nothing in autocommit mode, where every statement is atomic.
    """
    return transaction.atomic() if transaction.get_connection().in_atomic_block else nullcontext()


def _write_one(spec: JobSpec) -> None:
    """
    ``_write_pending`` for one entity in at most two statements, each atomic on its own, so
    an editor's change needs no transaction: update the entity's pending job in place,
    else insert one. A worker that claims the pending job first leaves the update nothing
    to change, so the insert makes a new pending job; a concurrent insert makes ours fail
    on the one-pending-job constraint, and the caller's next round updates that one.
    """
    now = timezone.now()
    fields = {"job_type": spec.job_type, "origin_id": spec.origin_id}
    if spec.content_type_id:
        fields["content_type_id"] = spec.content_type_id
    updated = (
        EnterspeedJob.objects.pending()
        .filter(**dict(zip(ENTITY_KEY_FIELDS, spec.key, strict=True)))
        .update(
            **fields,
            updated_at=now,
            # As in _write_pending: due now, or sooner than a retry it replaces, but not
            # before a timed-out request of the old one can no longer land.
            next_attempt_at=Greatest(
                Value(now), Least(F("next_attempt_at"), Value(now + _settle_time()))
            ),
            attempts=0,
        )
    )
    if not updated:
        _new_pending_job(spec, now).save(force_insert=True)


def _new_pending_job(spec: JobSpec, now) -> EnterspeedJob:
    """The unsaved pending job of an entity that has none, due after the spec's delay."""
    due = now + timedelta(seconds=spec.delay) if spec.delay > 0 else now
    return spec.as_job(state=JobState.PENDING, created_at=now, updated_at=now, next_attempt_at=due)


def _write_pending(by_key: dict[tuple[str, str, str, str], JobSpec]) -> None:
    now = timezone.now()
    existing = {
        job.entity_key: job
        for job in EnterspeedJob.objects.pending()
        .filter(
            entity_type__in={key[0] for key in by_key},
            entity_id__in={key[1] for key in by_key},
            destination__in={key[3] for key in by_key},
        )
        .select_for_update()
    }
    to_update, to_create = [], []
    for key, spec in by_key.items():
        job = existing.get(key)
        if job is None:
            to_create.append(_new_pending_job(spec, now))
        else:
            job.job_type = spec.job_type
            job.origin_id = spec.origin_id
            job.content_type_id = spec.content_type_id or job.content_type_id
            job.updated_at = now
            # A new instruction is a new job, with every attempt ahead of it. If the old
            # one waits for a retry it is due sooner, but not at once: its last request
            # may have timed out and still be applied by Enterspeed, and must not land
            # after this newer one.
            job.next_attempt_at = max(now, min(job.next_attempt_at, now + _settle_time()))
            job.attempts = 0
            to_update.append(job)
    if to_update:
        EnterspeedJob.objects.bulk_update(
            to_update,
            [
                *("job_type", "origin_id", "content_type_id", "updated_at"),
                *("next_attempt_at", "attempts"),
            ],
        )
    if to_create:
        EnterspeedJob.objects.bulk_create(to_create)


def _settle_time() -> timedelta:
    """
    How long a timed-out request may still be in flight: the client's whole timeout. Never
    raises in an editor's save: a malformed TIMEOUT reads as its default (conf's rules).
    """
    return timedelta(seconds=conf.TIMEOUT_TOTAL)


def request_processing(*, parallel: bool = False) -> None:
    """
    Ask the django-q2 cluster to process the queue once the current transaction commits.
    One request per transaction is enough: the task drains every pending job. With
    ``parallel`` (more jobs than one batch, e.g. a seed) every worker gets a task, so one
    maps the next batch while another waits for Enterspeed's answer.
    """
    if not conf.PROCESS_ON_COMMIT:
        return
    connection = transaction.get_connection()
    requested = {func for _sids, func, _robust in connection.run_on_commit}
    if enqueue_processing not in requested:
        transaction.on_commit(enqueue_processing, robust=True)
    if parallel and enqueue_helper_tasks not in requested:
        transaction.on_commit(enqueue_helper_tasks, robust=True)


def enqueue_helper_tasks() -> None:
    """One more processing task for each other worker of the cluster (claims never clash)."""
    from django_q.conf import Conf

    for _worker in range(max(0, int(Conf.WORKERS or 1) - 1)):
        enqueue_processing()


def enqueue_processing() -> None:
    """Queue one django-q2 task that drains the job queue. Never raises."""
    from django_q.tasks import async_task

    try:
        async_task(
            "enterspeed_sync.tasks.process_pending_jobs",
            task_name="enterspeed_sync.process_pending_jobs",
            group="enterspeed_sync",
            # Retry state lives in our job rows; django-q2 must never re-run a failure.
            ack_failure=True,
            broker=_connection_keeping_broker(),
        )
    except Exception:
        # The job rows are committed; the minute schedule will pick them up.
        logger.exception("Could not queue Enterspeed processing; the schedule will retry")


def _connection_keeping_broker():
    """
    django-q2's ORM broker, minus one habit: outside a transaction it closes the database
    connections before each use (twice per task), which with ``CONN_MAX_AGE = 0`` means
    reconnecting in the middle of the editor's request. None (django-q2 picks the broker)
    for every other broker.
    """
    from django_q.conf import Conf

    # The ORM broker is what django_q.brokers.get_broker picks when none of these is set.
    if not Conf.ORM or Conf.BROKER_CLASS or Conf.IRON_MQ or isinstance(Conf.SQS, dict):
        return None
    return _connection_keeping_orm_broker_class()()


@cache
def _connection_keeping_orm_broker_class():
    from django_q.brokers.orm import ORM
    from django_q.conf import Conf
    from django_q.models import OrmQ

    class ConnectionKeepingORM(ORM):
        @staticmethod
        def get_connection(list_key=None):
            return OrmQ.objects.using(Conf.ORM)

    return ConnectionKeepingORM


# Destinations ----------------------------------------------------------------------------


def in_destinations(
    specs: Iterable[JobSpec], destinations: Iterable[str] | None
) -> Iterator[JobSpec]:
    """
    Each spec once per destination that is configured (``None``: the published source
    only). A destination without an API key is left out, so no job waits for a source
    that does not exist.
    """
    wanted = [Destination.PUBLISH] if destinations is None else list(destinations)
    enabled = [destination for destination in wanted if destination in get_destinations()]
    for spec in specs:
        for destination in enabled:
            yield replace(spec, destination=destination)


# Pages ---------------------------------------------------------------------------------


def page_job_spec(page_id, locale: str, job_type: str, content_type_id=None) -> JobSpec:
    return JobSpec(
        entity_type=EntityType.PAGE,
        entity_id=str(page_id),
        job_type=job_type,
        origin_id=page_origin_id(page_id),
        locale=locale,
        content_type_id=content_type_id,
    )


def queue_page_job(page, job_type: str, destinations: Iterable[str] | None = None) -> None:
    """A job for ``page`` in each of ``destinations`` (default: the published source)."""
    spec = page_job_spec(page.pk, page.locale.language_code, job_type, page.content_type_id)
    queue_jobs(in_destinations([spec], destinations))


def queue_page_change(page, job_type: str, destinations: Iterable[str] | None = None) -> None:
    """
    What an editor's publish, unpublish or delete of ``page`` queues: a job for it in each
    of ``destinations``, and a re-send of its live translations to the published source
    (each lists its translations' origin ids). One read and one write, as it runs in the
    editor's request.
    """
    rows = (
        get_base_page_model()
        .objects.filter(translation_key=page.translation_key)
        .values_list("pk", "locale__language_code", "content_type_id", "live")
    )
    locale, translations = None, []
    for pk, language_code, content_type_id, live in rows:
        if pk == page.pk:
            locale = language_code
        elif live:
            translations.append(page_job_spec(pk, language_code, JobType.PUBLISH, content_type_id))
    if locale is None:  # the page's row is gone: it was deleted
        locale = page.locale.language_code
    spec = page_job_spec(page.pk, locale, job_type, page.content_type_id)
    queue_jobs([*in_destinations([spec], destinations), *translations])


def queue_live_subtree_publish(page) -> int:
    """
    Publish jobs for ``page`` and every live descendant: a move or slug change rewrites
    their URLs in bulk, and they get no signal of their own. With a preview source, every
    descendant's draft is re-sent there too (drafts have URLs below the new path as well).
    """
    count = queue_page_publishes(page.get_descendants(inclusive=True).live())
    if Destination.PREVIEW in get_destinations():
        specs = page_publish_specs(page.get_descendants(inclusive=True))
        count += queue_jobs(in_destinations(specs, [Destination.PREVIEW]))
    return count


def queue_page_publishes(pages) -> int:
    """Publish jobs for every page of a queryset, read in chunks. Returns the count."""
    return queue_jobs(page_publish_specs(pages))


def page_publish_specs(pages) -> Iterator[JobSpec]:
    """Publish job specs for every page of a queryset, read in chunks of ids."""
    locales = dict(Locale.objects.values_list("pk", "language_code"))
    rows = pages.values_list("pk", "locale_id", "content_type_id").iterator(
        chunk_size=BULK_CHUNK_SIZE
    )
    for pk, locale_id, content_type_id in rows:
        yield page_job_spec(pk, locales.get(locale_id, ""), JobType.PUBLISH, content_type_id)


# Any object ------------------------------------------------------------------------------


def job_spec_for(obj: models.Model, job_type: str) -> JobSpec | None:
    """The job for one page, image, document or snippet; None when its model does not sync."""
    entity_type = get_entity_type(obj)
    if entity_type is None:
        return None
    content_type_id = ContentType.objects.get_for_model(obj).pk
    return _object_job_spec(
        type(obj), entity_type, obj.pk, get_locale_code(obj), job_type, content_type_id
    )


def _object_job_spec(model, entity_type, pk, locale, job_type, content_type_id) -> JobSpec:
    origin_id = origin_id_for(model, pk)
    return JobSpec(
        entity_type=entity_type,
        # Snippet pks are only unique per model, so their key is the origin id.
        entity_id=origin_id if entity_type == EntityType.SNIPPET else str(pk),
        job_type=job_type,
        origin_id=origin_id,
        locale=locale,
        content_type_id=content_type_id,
    )


def queue_object_job(
    obj: models.Model, job_type: str, destinations: Iterable[str] | None = None
) -> bool:
    """
    Queue a job for ``obj`` in each of ``destinations`` (default: the published source) if
    its model syncs. Returns whether a job was queued.
    """
    spec = job_spec_for(obj, job_type)
    if spec is not None:
        queue_jobs(in_destinations([spec], destinations))
    return spec is not None


def queue_object_publishes(queryset: models.QuerySet) -> int:
    """Publish jobs for every object of a queryset of images, documents or snippets."""
    return queue_jobs(object_publish_specs(queryset))


def object_publish_specs(
    queryset: models.QuerySet, *, destination: str = Destination.PUBLISH
) -> Iterator[JobSpec]:
    """
    Publish job specs for the objects of a queryset (images, documents, snippets) that
    belong in ``destination``: in the published source only live ones, in the preview
    source every one (a draft is what preview shows).
    """
    model = queryset.model
    entity_type = get_entity_type(model)
    if entity_type is None:
        return
    if issubclass(model, DraftStateMixin) and destination == Destination.PUBLISH:
        queryset = queryset.filter(live=True)
    content_type_id = ContentType.objects.get_for_model(model).pk
    fields = ["pk", "locale__language_code"] if issubclass(model, TranslatableMixin) else ["pk"]
    rows = queryset.order_by("pk").values_list(*fields).iterator(chunk_size=BULK_CHUNK_SIZE)
    for pk, *locale in rows:
        spec = _object_job_spec(
            model, entity_type, pk, locale[0] if locale else "", JobType.PUBLISH, content_type_id
        )
        yield spec if destination == Destination.PUBLISH else replace(spec, destination=destination)


def queue_translation_publishes(obj: models.Model) -> int:
    """
    Re-send the other published translations of ``obj`` (a snippet; pages do this in
    ``queue_page_change``): each lists its translations' origin ids, and that list changes
    when a translation is published, unpublished or deleted.
    """
    if not isinstance(obj, TranslatableMixin):
        return 0
    others = type(obj)._default_manager.filter(translation_key=obj.translation_key)
    return queue_object_publishes(others.exclude(pk=obj.pk))


def queue_referrer_publishes(obj: models.Model) -> int:
    """
    Re-send the pages and snippets that reference ``obj`` (Wagtail's reference index), since
    their entities carry its title and URL.
    """
    from wagtail.models import ReferenceIndex

    if not conf.REINGEST_REFERRERS:
        return 0
    page_model = get_base_page_model()
    page_ids: set[str] = set()
    by_model: dict[type[models.Model], set[str]] = {}
    synced = {model._meta.concrete_model for model in get_synced_snippet_models()}
    referrers = [
        (ref.content_type.model_class(), ref.object_id)
        for ref in ReferenceIndex.get_references_to(obj)
        .select_related("content_type")
        .only("content_type", "object_id")
    ]
    # Wagtail's reference index leaves out many-to-many fields; look those up directly.
    for model, field in _many_to_many_fields_to(type(obj)):
        ids = model._default_manager.filter(**{field.name: obj}).values_list("pk", flat=True)
        referrers += [(model, str(pk)) for pk in ids]
    for model, object_id in referrers:
        if model is None:
            continue
        if issubclass(model, page_model):
            page_ids.add(object_id)
        elif model._meta.concrete_model in synced:
            by_model.setdefault(model, set()).add(object_id)
    specs: list[JobSpec] = []
    if page_ids:
        specs += page_publish_specs(page_model.objects.live().filter(pk__in=page_ids))
    for model, ids in by_model.items():
        specs += object_publish_specs(model._default_manager.filter(pk__in=ids))
    # Referrers show the object's title and URL in their drafts too.
    return queue_jobs(in_destinations(specs, get_destinations()))


@cache
def _many_to_many_fields_to(target: type[models.Model]) -> list[tuple[type[models.Model], Any]]:
    """(model, field) for every many-to-many field of a page or snippet model to ``target``."""
    from django.apps import apps

    concrete = target._meta.concrete_model
    return [
        (model, field)
        for model in apps.get_models()
        if get_entity_type(model) in (EntityType.PAGE, EntityType.SNIPPET)
        for field in model._meta.local_many_to_many
        if field.related_model is not None and field.related_model._meta.concrete_model is concrete
    ]


@receiver(setting_changed)
def _clear_many_to_many_cache(*, setting: str, **kwargs) -> None:
    if setting == "ENTERSPEED_SYNC":  # SNIPPET_MODELS decides which models count
        _many_to_many_fields_to.cache_clear()


# Preview: drafts --------------------------------------------------------------------------


def queue_preview_of_revision(revision) -> bool:
    """
    A saved revision (a draft save, an autosave, a publish) of a page or a draft-state
    snippet: queue a preview job for its object, sent after ``PREVIEW_SETTLE_SECONDS``.
    The object's pending preview job absorbs every later revision until it is sent, so a
    burst of autosaves costs one request per settle interval. Returns whether one was queued.
    """
    if Destination.PREVIEW not in get_destinations():
        return False
    model = revision.content_type.model_class()
    entity_type = get_entity_type(model) if model is not None else None
    if entity_type not in (EntityType.PAGE, EntityType.SNIPPET):
        return False
    if entity_type == EntityType.SNIPPET and not issubclass(model, DraftStateMixin):
        return False  # its drafts are saved to the row itself, and post_save handles those
    obj = revision.content_object
    if obj is None:
        return False
    spec = job_spec_for(obj, JobType.PUBLISH)
    if spec is None:
        return False
    queue_job(replace(spec, destination=Destination.PREVIEW, delay=conf.PREVIEW_SETTLE_SECONDS))
    if entity_type == EntityType.PAGE:
        # A new translation shows up in its group once its first draft is saved.
        queue_translation_group(obj, [Destination.PREVIEW])
    return True


# Translation groups ---------------------------------------------------------------------


def translation_group_spec(translation_key, destination: str = Destination.PUBLISH) -> JobSpec:
    from enterspeed_sync.mapping.translation_groups import translation_group_origin_id

    return JobSpec(
        entity_type=EntityType.TRANSLATION_GROUP,
        entity_id=str(translation_key),
        job_type=JobType.PUBLISH,
        origin_id=translation_group_origin_id(translation_key),
        destination=destination,
    )


def queue_translation_group(page, destinations: Iterable[str] | None = None) -> bool:
    """
    Re-send the translation group of ``page`` (``TRANSLATION_GROUPS``): its list of variants
    may have changed. The handler deletes a group that has no variant left. Unchanged groups
    cost nothing: the ledger skips identical payloads.
    """
    if not conf.TRANSLATION_GROUPS or not isinstance(page, AbstractPage):
        return False
    queue_jobs(in_destinations([translation_group_spec(page.translation_key)], destinations))
    return True


def translation_group_specs(pages, destination: str = Destination.PUBLISH) -> Iterator[JobSpec]:
    """One group spec per distinct translation key of a page queryset, in chunks."""
    keys = (
        pages.order_by("translation_key")
        .values_list("translation_key", flat=True)
        .distinct()
        .iterator(chunk_size=BULK_CHUNK_SIZE)
    )
    for translation_key in keys:
        yield translation_group_spec(translation_key, destination)
