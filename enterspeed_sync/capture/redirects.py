"""
Keep a page's ``redirects`` current in Enterspeed. Redirect rows change without the page
being published:

- Wagtail creates them itself when a page moves or its slug changes, in its own
  ``post_page_move``/``page_slug_changed`` receivers, with ``bulk_create`` (no signals). Our
  receivers for those signals queue the subtree's publish jobs, and on autocommit a worker
  may send them at once: before the redirects exist. So Wagtail's receivers are connected
  here first, ahead of ours; Wagtail's own later ``connect`` of the same functions is then
  a no-op (Django ignores a receiver that is already connected).
- Editors add, change and delete redirects in the admin: each change queues a publish of
  the pages the redirect points at (before and after the change).
"""

from __future__ import annotations

from django.apps import apps
from django.db.models.signals import post_delete, post_save, pre_save
from wagtail.signals import page_slug_changed, post_page_move

from enterspeed_sync.capture import fanout
from enterspeed_sync.capture.receivers import never_raise
from enterspeed_sync.mapping import get_base_page_model


@never_raise
def remember_redirect_target(sender, instance, **kwargs):
    if instance.pk:
        previous = sender.objects.filter(pk=instance.pk).values_list("redirect_page_id", flat=True)
        instance._enterspeed_previous_page_id = previous.first()


@never_raise
def queue_publish_for_redirect(sender, instance, **kwargs):
    page_ids = {instance.redirect_page_id, getattr(instance, "_enterspeed_previous_page_id", None)}
    page_ids.discard(None)
    if page_ids:
        fanout.queue_page_publishes(get_base_page_model().objects.filter(pk__in=page_ids).live())


def register_redirect_signal_handlers() -> None:
    """Call before ``register_signal_handlers()``, so Wagtail's redirects exist first."""
    if not apps.is_installed("wagtail.contrib.redirects"):
        return
    # An optional app: its models cannot be imported unless it is installed.
    from wagtail.contrib.redirects.models import Redirect
    from wagtail.contrib.redirects.signal_handlers import (
        autocreate_redirects_on_page_move,
        autocreate_redirects_on_slug_change,
    )

    post_page_move.connect(autocreate_redirects_on_page_move)
    page_slug_changed.connect(autocreate_redirects_on_slug_change)

    pre_save.connect(remember_redirect_target, sender=Redirect, dispatch_uid="enterspeed_redirect")
    post_save.connect(
        queue_publish_for_redirect, sender=Redirect, dispatch_uid="enterspeed_redirect_saved"
    )
    post_delete.connect(
        queue_publish_for_redirect, sender=Redirect, dispatch_uid="enterspeed_redirect_deleted"
    )
