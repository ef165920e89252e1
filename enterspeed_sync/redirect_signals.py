"""
Keep a page's ``redirects`` current in Enterspeed. Redirect rows change without the page
being published: editors edit them in the admin, and Wagtail creates them itself when a
page moves or its slug changes, in a receiver that may run after the move's publish job
was already sent. Each change to a redirect therefore queues a publish of the pages it
points at (before and after the change).
"""

from __future__ import annotations

from django.apps import apps
from django.db.models.signals import post_delete, post_save, pre_save

from enterspeed_sync import jobs
from enterspeed_sync.mapping import get_base_page_model
from enterspeed_sync.signal_handlers import never_raise


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
        jobs.queue_page_publishes(get_base_page_model().objects.filter(pk__in=page_ids).live())


def register_redirect_signal_handlers() -> None:
    if not apps.is_installed("wagtail.contrib.redirects"):
        return
    from wagtail.contrib.redirects.models import Redirect

    pre_save.connect(remember_redirect_target, sender=Redirect, dispatch_uid="enterspeed_redirect")
    post_save.connect(
        queue_publish_for_redirect, sender=Redirect, dispatch_uid="enterspeed_redirect_saved"
    )
    post_delete.connect(
        queue_publish_for_redirect, sender=Redirect, dispatch_uid="enterspeed_redirect_deleted"
    )
