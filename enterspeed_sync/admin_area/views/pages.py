"""Page-level affordances: "Sync to Enterspeed now" and the page's last sync state."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from django.views import View
from wagtail.admin import messages
from wagtail.log_actions import log
from wagtail.models import Page

from enterspeed_sync.admin_area.views.base import next_url
from enterspeed_sync.capture.fanout import queue_page_job
from enterspeed_sync.delivery.gate import current_source
from enterspeed_sync.delivery.ledger import forget
from enterspeed_sync.mapping import page_origin_id
from enterspeed_sync.models import Destination, EnterspeedJob, JobState, JobType


def can_sync_page(page, user) -> bool:
    """Whoever may publish a page may send it to Enterspeed again."""
    return bool(page.live and page.permissions_for_user(user).can_publish())


@dataclass(frozen=True)
class PageSyncState:
    state: str  # "queued", "failed", "synced", "not_live"
    label: str
    job: EnterspeedJob | None = None

    @property
    def url(self) -> str:
        if self.job is not None:
            return reverse("enterspeed_sync:job", args=[self.job.pk])
        return ""


def get_page_sync_state(page) -> PageSyncState:
    """
    The page's state in the published source: queued (a pending or processing job), failed
    (with the reason), or synced (no job left: the last one succeeded). Jobs are deleted
    on success, so "synced" means "nothing outstanding".
    """
    if not page.live:
        return PageSyncState("not_live", _t("Enterspeed: not live, not synced"))
    jobs = {
        job.state: job
        for job in EnterspeedJob.objects.filter(
            origin_id=page_origin_id(page.pk), destination=Destination.PUBLISH
        ).order_by("updated_at")
    }
    active = jobs.get(JobState.PENDING) or jobs.get(JobState.PROCESSING)
    if active is not None:
        return PageSyncState("queued", _t("Enterspeed: queued"), active)
    failed = jobs.get(JobState.FAILED)
    if failed is not None:
        reason = failed.error.splitlines()[0] if failed.error else ""
        if len(reason) > 80:
            reason = reason[:79] + "…"
        return PageSyncState(
            "failed", _t("Enterspeed: failed – %(reason)s") % {"reason": reason}, failed
        )
    return PageSyncState("synced", _t("Enterspeed: synced"))


class SyncPageView(View):
    """POST only: queue a publish job for the page; processing runs after commit."""

    def post(self, request, page_id):
        page = get_object_or_404(Page, pk=page_id).specific
        if not can_sync_page(page, request.user):
            raise PermissionDenied
        with transaction.atomic():
            # An explicit "sync now" sends even an unchanged page (the ledger is told to
            # forget it), e.g. when the entity was removed on Enterspeed's side.
            forget(current_source(), [page_origin_id(page.pk)])
            queue_page_job(page, JobType.PUBLISH)
            log(page, "enterspeed_sync.sync_page", user=request.user)
        messages.success(
            request,
            _t("'%(title)s' is queued for Enterspeed.") % {"title": page.get_admin_display_title()},
        )
        return redirect(next_url(request, reverse("wagtailadmin_pages:edit", args=[page.pk])))


SYNC_NOW_LABEL = _("Sync to Enterspeed now")
