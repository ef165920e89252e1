"""
Receivers that turn Wagtail content changes into job rows.

They run inside the editor's request, so none of them may raise: a failure to write a job
is logged and rolled back to a savepoint, and the editor's change goes through.

=============================  ==========================================================
Change                         Jobs
=============================  ==========================================================
page published                 publish it; re-send its live translations; on a first
                               publish or a new title, re-send what links to it
page created live (an alias,   as a publish (Wagtail sends no signal for these)
a synced tree, code)
alias converted to a page      publish it
page unpublished               delete it (published source); re-send its live
                               translations and what links to it
page deleted                   delete it (both sources); re-send its live translations,
                               what linked to it and its aliases
page moved / slug changed      publish it and every live descendant (their URLs
                               changed); re-send what links to any of them
image / document saved         publish it; re-send what references it
image / document deleted       delete it; re-send what referenced it
snippet with draft state       published → publish, unpublished → delete (like pages)
other snippet                  saved → publish, deleted → delete
revision saved (a draft)       preview job for its page or draft-state snippet
=============================  ==========================================================

"What links to" a page means links to any of its translations too: a link is shown as the
variant in the linking page's locale. docs/jobs.md has the full table.

With a preview source (``PREVIEW_API_KEY``) every publish also updates the preview source
and every delete removes the entity there too; an unpublish leaves preview alone, as the
draft still exists. With ``TRANSLATION_GROUPS`` a page's group is re-sent with it.
"""

from __future__ import annotations

import functools
import logging

from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from wagtail.models import AbstractPage, DraftStateMixin, Revision
from wagtail.signals import (
    page_published,
    page_slug_changed,
    page_unpublished,
    post_page_move,
    published,
    unpublished,
)

from enterspeed_sync.capture import fanout, outbox
from enterspeed_sync.conf import get_destinations
from enterspeed_sync.mapping import get_base_page_model, get_entity_type
from enterspeed_sync.models import Destination, EntityType, JobType

logger = logging.getLogger(__name__)


def never_raise(receiver):
    """
    Run the receiver in a savepoint of the caller's transaction; log and swallow anything
    it raises. Outside a transaction (Wagtail's admin publishes outside one) no savepoint
    is needed: each write of a receiver is atomic on its own.
    """

    @functools.wraps(receiver)
    def wrapper(*args, **kwargs):
        if kwargs.get("raw") or not outbox.is_sync_active():
            return
        try:
            with outbox.savepoint_if_in_transaction():
                receiver(*args, **kwargs)
        except Exception:
            instance = kwargs.get("instance")
            logger.exception(
                "Could not queue an Enterspeed job for %r (pk %s); run enterspeed_seed to catch up",
                instance,
                getattr(instance, "pk", None),
            )

    return wrapper


def _non_page_entity_type(model: type) -> str | None:
    """The entity type of an image, document or synced snippet model, else None."""
    if issubclass(model, AbstractPage):
        return None  # pages have signals of their own
    return get_entity_type(model)


# Pages -----------------------------------------------------------------------------------


def for_pages(when):
    """
    Like ``never_raise``, for receivers of model signals that every model sends
    (``pre_save``, ``post_save``): unless the sender is a page model and ``when(**kwargs)``
    holds, they return at once, before any savepoint (most page saves need nothing).
    """

    def decorate(receiver):
        guarded = never_raise(receiver)

        @functools.wraps(receiver)
        def wrapper(sender, **kwargs):
            if issubclass(sender, get_base_page_model()) and when(**kwargs):
                guarded(sender, **kwargs)

        return wrapper

    return decorate


def _queue_page_publish(page) -> None:
    fanout.queue_page_change(page, JobType.PUBLISH, get_destinations())
    fanout.queue_translation_group(page, get_destinations())


def _only(page) -> QuerySet:
    return get_base_page_model().objects.filter(pk=page.pk)


@never_raise
def queue_publish_on_page_published(sender, instance, **kwargs):
    # A scheduled publish fires page_published with live=False (wagtail#13959); the real
    # go-live fires it again from publish_scheduled.
    if instance.live:
        _queue_page_publish(instance)
        if _shown_differently(instance):
            # Pages that link to it (or to a translation of it) show its title and URL.
            fanout.queue_page_referrer_publishes(_only(instance))


def _is_whole_save_of_existing_page(instance, update_fields=None, **kwargs) -> bool:
    return update_fields is None and instance.pk is not None


@for_pages(when=_is_whole_save_of_existing_page)
def remember_how_page_was_shown(sender, instance, **kwargs):
    # A publish saves the whole page (no update_fields): note its liveness and title as
    # they were, for queue_publish_on_page_published. One read by primary key.
    instance._enterspeed_shown_before = _only(instance).values_list("live", "title").first()


def _shown_differently(page) -> bool:
    """Whether a publish changed what a link to ``page`` shows (first publish, new title)."""
    before = getattr(page, "_enterspeed_shown_before", None)
    return before is None or before != (True, page.title)


def _is_live_page_new_or_converted(instance, created, update_fields=None, **kwargs) -> bool:
    converted = bool(update_fields) and bool({"alias_of", "alias_of_id"} & set(update_fields))
    return instance.live and (created or converted)


@for_pages(when=_is_live_page_new_or_converted)
def queue_publish_on_live_page_saved(sender, instance, created, **kwargs):
    # Live pages that come to exist without page_published: an alias (create_alias, "copy
    # as alias", copy_for_translation(alias=True), a synced locale tree), a page created
    # live by code; and an alias converted to an ordinary page (its alias_of changes).
    _queue_page_publish(instance)
    if created:
        # Links in its locale to its variants now show it.
        fanout.queue_page_referrer_publishes(_only(instance))


@never_raise
def queue_delete_on_page_unpublished(sender, instance, **kwargs):
    # Only the published source: the draft still exists, so preview keeps showing it.
    fanout.queue_page_change(instance, JobType.DELETE, [Destination.PUBLISH])
    fanout.queue_translation_group(instance, [Destination.PUBLISH])
    fanout.queue_page_referrer_publishes(_only(instance))


@never_raise
def queue_referrers_before_page_delete(sender, instance, **kwargs):
    # Before the delete, while the page, its references and its aliases are still there:
    # links to it change (a translation's link falls back to another variant, a chooser is
    # set to null) and its aliases become ordinary pages, none with a signal of their own.
    fanout.queue_page_referrer_publishes(_only(instance), include_pages=True)


@never_raise
def queue_delete_on_page_deleted(sender, instance, **kwargs):
    # Sent once per page of a deleted tree; the row is gone, so everything the job needs
    # is taken from the instance now.
    fanout.queue_page_change(instance, JobType.DELETE, get_destinations())
    fanout.queue_translation_group(instance, get_destinations())


@never_raise
def queue_subtree_on_page_moved(sender, instance, url_path_before, url_path_after, **kwargs):
    if url_path_before != url_path_after:  # equal paths mean a reorder among siblings
        fanout.queue_live_subtree_publish(instance)


@never_raise
def queue_subtree_on_slug_changed(sender, instance, **kwargs):
    fanout.queue_live_subtree_publish(instance)


# Images, documents and snippets ----------------------------------------------------------


def for_synced_objects(receiver):
    """
    Like ``never_raise``, for receivers that listen to every model: senders that are not an
    image, document or synced snippet model return at once, before any savepoint.
    """
    guarded = never_raise(receiver)

    @functools.wraps(receiver)
    def wrapper(sender, **kwargs):
        if _non_page_entity_type(sender) is not None:
            guarded(sender, **kwargs)

    return wrapper


def _publishes_on_save(sender) -> bool:
    # Snippets with draft state publish through `published`, like pages; a save is a draft.
    return not (
        _non_page_entity_type(sender) == EntityType.SNIPPET and issubclass(sender, DraftStateMixin)
    )


def _queue_publish(instance) -> None:
    fanout.queue_object_job(instance, JobType.PUBLISH, get_destinations())
    fanout.queue_translation_publishes(instance)
    fanout.queue_referrer_publishes(instance)


@for_synced_objects
def queue_publish_on_save(sender, instance, **kwargs):
    if _publishes_on_save(sender):
        _queue_publish(instance)


@for_synced_objects
def queue_publish_on_published(sender, instance, **kwargs):
    if instance.live:
        _queue_publish(instance)


@for_synced_objects
def queue_delete_on_unpublished(sender, instance, **kwargs):
    # Only the published source: the snippet's draft stays in preview.
    fanout.queue_object_job(instance, JobType.DELETE, [Destination.PUBLISH])
    fanout.queue_translation_publishes(instance)
    fanout.queue_referrer_publishes(instance)


@for_synced_objects
def queue_referrers_before_delete(sender, instance, **kwargs):
    # Before the delete: on_delete=SET_NULL rewrites the referrers without a signal of theirs.
    fanout.queue_referrer_publishes(instance)


@for_synced_objects
def queue_delete_on_delete(sender, instance, **kwargs):
    fanout.queue_object_job(instance, JobType.DELETE, get_destinations())
    fanout.queue_translation_publishes(instance)


def queue_preview_on_revision_saved(sender, instance, **kwargs):
    # Wagtail has no "draft saved" signal: every draft save, autosave (about every half
    # second while an editor types, overwriting the latest revision) and publish saves a
    # Revision. The preview job's settle time turns such a burst into a few requests.
    if Destination.PREVIEW in get_destinations():  # no savepoint per revision without preview
        _queue_preview(sender, instance=instance, **kwargs)


@never_raise
def _queue_preview(sender, instance, **kwargs):
    fanout.queue_preview_of_revision(instance)


def _connections() -> list[tuple]:
    """``(signal, receiver, sender, dispatch_uid)`` of every receiver the app connects."""
    return [
        (page_published, queue_publish_on_page_published, None, "enterspeed_publish"),
        (page_unpublished, queue_delete_on_page_unpublished, None, "enterspeed_unpublish"),
        (
            post_delete,
            queue_delete_on_page_deleted,
            get_base_page_model(),
            "enterspeed_page_delete",
        ),
        (pre_save, remember_how_page_was_shown, None, "enterspeed_page_pre_save"),
        (post_save, queue_publish_on_live_page_saved, None, "enterspeed_page_live_save"),
        (
            pre_delete,
            queue_referrers_before_page_delete,
            get_base_page_model(),
            "enterspeed_page_pre_delete",
        ),
        (post_page_move, queue_subtree_on_page_moved, None, "enterspeed_page_move"),
        (page_slug_changed, queue_subtree_on_slug_changed, None, "enterspeed_slug"),
        # Snippet models may be registered after apps are ready (wagtail_hooks), so these
        # receivers listen to every model and pick ours by sender (cached per model).
        (post_save, queue_publish_on_save, None, "enterspeed_object_save"),
        (pre_delete, queue_referrers_before_delete, None, "enterspeed_object_pre_delete"),
        (post_delete, queue_delete_on_delete, None, "enterspeed_object_delete"),
        (published, queue_publish_on_published, None, "enterspeed_object_published"),
        (unpublished, queue_delete_on_unpublished, None, "enterspeed_object_unpublished"),
        (post_save, queue_preview_on_revision_saved, Revision, "enterspeed_revision_saved"),
    ]


def register_signal_handlers() -> None:
    for signal, receiver, sender, dispatch_uid in _connections():
        signal.connect(receiver, sender=sender, dispatch_uid=dispatch_uid)


def unregister_signal_handlers() -> None:
    """Disconnect every receiver ``register_signal_handlers`` connected (benchmarks)."""
    for signal, _receiver, sender, dispatch_uid in _connections():
        signal.disconnect(sender=sender, dispatch_uid=dispatch_uid)
