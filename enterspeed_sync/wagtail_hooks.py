"""Registers the Enterspeed admin area with Wagtail; its views live in `admin_area.views`."""

from __future__ import annotations

from django.urls import include, path, reverse
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.menu import Menu, MenuItem, SubmenuMenuItem
from wagtail.admin.site_summary import SummaryItem
from wagtail.admin.widgets import Button

from enterspeed_sync import permissions, status
from enterspeed_sync.admin_area import urls as admin_urls
from enterspeed_sync.admin_area.views.pages import (
    SYNC_NOW_LABEL,
    can_sync_page,
    get_page_sync_state,
)


@hooks.register("register_admin_urls")
def register_admin_urls():
    return [path("enterspeed/", include(admin_urls, namespace="enterspeed_sync"))]


class EnterspeedMenuItem(MenuItem):
    def is_shown(self, request):
        return permissions.can_view(request.user)


class EnterspeedSubmenuMenuItem(SubmenuMenuItem):
    def is_shown(self, request):
        return permissions.can_view(request.user)


@hooks.register("register_admin_menu_item")
def register_menu():
    menu = Menu(
        items=[
            EnterspeedMenuItem(
                _("Dashboard"),
                reverse("enterspeed_sync:dashboard"),
                name="enterspeed-dashboard",
                icon_name="cogs",
                order=100,
            ),
            EnterspeedMenuItem(
                _("Jobs"),
                reverse("enterspeed_sync:jobs"),
                name="enterspeed-jobs",
                icon_name="list-ul",
                order=200,
            ),
        ]
    )
    return EnterspeedSubmenuMenuItem(
        _("Enterspeed"), menu, name="enterspeed", icon_name="cogs", order=9000
    )


@hooks.register("register_permissions")
def register_permissions():
    return permissions.get_permissions()


@hooks.register("register_log_actions")
def register_log_actions(actions):
    actions.register_action("enterspeed_sync.seed", _("Enterspeed: seed"), _("Seeded Enterspeed"))
    actions.register_action(
        "enterspeed_sync.seed_not_started",
        _("Enterspeed: seed not started"),
        _("Did not seed Enterspeed: the cluster could not be reached"),
    )
    actions.register_action(
        "enterspeed_sync.clear_pending",
        _("Enterspeed: clear pending queue"),
        _("Cleared the pending Enterspeed queue"),
    )
    actions.register_action(
        "enterspeed_sync.retry", _("Enterspeed: retry job"), _("Retried an Enterspeed job")
    )
    actions.register_action(
        "enterspeed_sync.send_now",
        _("Enterspeed: send now"),
        _("Moved a waiting Enterspeed job's next attempt to now"),
    )
    actions.register_action(
        "enterspeed_sync.retry_failed",
        _("Enterspeed: retry all failed"),
        _("Retried all failed Enterspeed jobs"),
    )
    actions.register_action(
        "enterspeed_sync.delete_failed",
        _("Enterspeed: delete all failed"),
        _("Deleted all failed Enterspeed jobs"),
    )
    actions.register_action(
        "enterspeed_sync.sync_page",
        _("Enterspeed: sync now"),
        _("Queued for Enterspeed"),
    )


class FailedJobsSummaryItem(SummaryItem):
    order = 900
    template_name = "enterspeed_sync/homepage/summary_item.html"

    def get_context_data(self, parent_context):
        sync = status.get_sync_status()
        return {
            "failed_count": sync.failed,
            "url": reverse("enterspeed_sync:jobs"),
            # Why nothing is sent (refused key, pause, open breaker, stalled queue), if so.
            "problem": "" if sync.ok else sync.message,
            "dashboard_url": reverse("enterspeed_sync:dashboard"),
        }

    def is_shown(self):
        return permissions.can_view(self.request.user)


@hooks.register("construct_homepage_summary_items")
def add_failed_jobs_summary(request, summary_items):
    summary_items.append(FailedJobsSummaryItem(request))


@hooks.register("register_page_header_buttons")
def page_header_buttons(page, user, view_name, next_url=None):
    if view_name != "edit" or page.depth <= 1:
        return
    if can_sync_page(page, user):
        yield Button(
            SYNC_NOW_LABEL,
            icon_name="upload",
            attrs={
                "data-controller": "w-action",
                "data-action": "w-action#post",
                "data-w-action-url-value": reverse("enterspeed_sync:sync_page", args=[page.pk]),
            },
            priority=80,
        )
    if permissions.can_view(user):
        state = get_page_sync_state(page)
        icon = {"failed": "warning", "queued": "time", "synced": "success"}.get(
            state.state, "info-circle"
        )
        yield Button(state.label, url=state.url or None, icon_name=icon, priority=81)
