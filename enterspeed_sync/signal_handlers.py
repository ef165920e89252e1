"""
Receivers that turn Wagtail content changes into job rows.

They run inside the editor's request, so none of them may raise: a failure to write a job
is logged and rolled back to a savepoint, and the editor's change goes through.
"""

from __future__ import annotations

import functools
import logging

import swapper
from django.db import transaction
from django.db.models.signals import post_delete
from wagtail.signals import page_published, page_slug_changed, page_unpublished, post_page_move

from enterspeed_sync import jobs
from enterspeed_sync.models import JobType

logger = logging.getLogger(__name__)


def never_raise(receiver):
    """Run the receiver in a savepoint; log and swallow anything it raises."""

    @functools.wraps(receiver)
    def wrapper(*args, **kwargs):
        if kwargs.get("raw") or not jobs.is_sync_active():
            return
        try:
            with transaction.atomic():
                receiver(*args, **kwargs)
        except Exception:
            instance = kwargs.get("instance")
            logger.exception(
                "Could not queue an Enterspeed job for %r (pk %s); run enterspeed_seed to catch up",
                instance,
                getattr(instance, "pk", None),
            )

    return wrapper


@never_raise
def queue_publish_on_page_published(sender, instance, **kwargs):
    # A scheduled publish fires page_published with live=False (wagtail#13959); the real
    # go-live fires it again from publish_scheduled.
    if instance.live:
        jobs.queue_page_job(instance, JobType.PUBLISH)


@never_raise
def queue_delete_on_page_unpublished(sender, instance, **kwargs):
    jobs.queue_page_job(instance, JobType.DELETE)


@never_raise
def queue_delete_on_page_deleted(sender, instance, **kwargs):
    # Sent once per page of a deleted tree; the row is gone, so everything the job needs
    # is taken from the instance now.
    jobs.queue_page_job(instance, JobType.DELETE)


@never_raise
def queue_subtree_on_page_moved(sender, instance, url_path_before, url_path_after, **kwargs):
    if url_path_before != url_path_after:  # equal paths mean a reorder among siblings
        jobs.queue_live_subtree_publish(instance)


@never_raise
def queue_subtree_on_slug_changed(sender, instance, **kwargs):
    jobs.queue_live_subtree_publish(instance)


def register_signal_handlers() -> None:
    page_model = swapper.load_model("wagtailcore", "Page")
    page_published.connect(queue_publish_on_page_published, dispatch_uid="enterspeed_publish")
    page_unpublished.connect(queue_delete_on_page_unpublished, dispatch_uid="enterspeed_unpublish")
    post_delete.connect(
        queue_delete_on_page_deleted, sender=page_model, dispatch_uid="enterspeed_page_delete"
    )
    post_page_move.connect(queue_subtree_on_page_moved, dispatch_uid="enterspeed_page_move")
    page_slug_changed.connect(queue_subtree_on_slug_changed, dispatch_uid="enterspeed_slug")
