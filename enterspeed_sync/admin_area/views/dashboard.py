"""The dashboard: counts, destinations, connection test, seed and clearing the queue."""

from __future__ import annotations

from datetime import timedelta

from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import TemplateView
from wagtail.admin import messages
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from enterspeed_sync import actions, permissions, status
from enterspeed_sync.admin_area import charts, display
from enterspeed_sync.admin_area.forms import KIND_LABELS, SeedForm
from enterspeed_sync.admin_area.views.base import BREADCRUMBS, EnterspeedPermissionMixin
from enterspeed_sync.delivery.clients import get_client
from enterspeed_sync.exceptions import ClusterUnreachable
from enterspeed_sync.models import EnterspeedJob
from enterspeed_sync.status import overview

#: The seeds started in this browser session that the dashboard reports on.
SESSION_KEY = "enterspeed_sync_seeds"
MAX_SEEDS_SHOWN = 5
RESULT_WAIT = timedelta(minutes=10)


def seeds_in_session(request) -> list[dict]:
    """The recent seeds of this session, with their outcome once their task finished."""
    seeds = []
    for entry in request.session.get(SESSION_KEY, []):
        finished, success, result = actions.get_task_result(entry["task"])
        queued_at = parse_datetime(entry.get("queued_at") or "")
        # No result long after queuing: the cluster is down, or results are not kept.
        lost = not finished and queued_at is not None and timezone.now() - queued_at > RESULT_WAIT
        counts = []
        report = None
        if finished and success and isinstance(result, dict):
            counts = [(KIND_LABELS.get(kind, kind), n) for kind, n in result.items()]
            report = display.get_seed_report(entry["task"], result, KIND_LABELS)
        seeds.append(
            {
                **entry,
                "queued_at": queued_at,
                "lost": lost,
                "finished": finished,
                "success": success,
                "counts": counts,
                "report": report,
                "total": sum(n for _kind, n in counts),
                "error": result if finished and not success else "",
            }
        )
    return seeds


def status_context(request) -> dict:
    counts = status.get_sync_status()
    seeds = seeds_in_session(request)
    running = any(not seed["finished"] and not seed["lost"] for seed in seeds)
    return {
        "counts": counts,
        "lines": overview.get_status_lines(counts),
        "seeds": seeds,
        # The page refreshes the counts while anything is still on its way.
        "refreshing": running or counts.active > 0,
        "notices": status.get_notices(counts),
        "can_manage": permissions.can_manage(request.user),
    }


class DashboardView(EnterspeedPermissionMixin, WagtailAdminTemplateMixin, TemplateView):
    template_name = "enterspeed_sync/dashboard.html"
    page_title = _("Enterspeed")
    header_icon = "cogs"
    breadcrumbs_items = [BREADCRUMBS[0], {"url": "", "label": _("Enterspeed")}]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(status_context(self.request))
        context.update(
            destinations=display.get_destinations(),
            hooks=display.get_hook_statuses(),
            can_seed=permissions.can_seed(self.request.user),
            seed_form=kwargs.get("seed_form") or SeedForm(),
            charts=activity_charts(context["counts"].pending),
            reasons=overview.get_failure_reasons(),
        )
        return context


def activity_charts(queued_now: int) -> list[charts.Chart]:
    return [
        charts.build_chart(
            "hour",
            _t("Last hour, per minute"),
            overview.get_activity("hour", queued_now=queued_now),
        ),
        charts.build_chart(
            "day", _t("Last day, per hour"), overview.get_activity("day", queued_now=queued_now)
        ),
    ]


class StatusView(EnterspeedPermissionMixin, View):
    """The counts and seed results as an HTML fragment, fetched again while work runs."""

    def get(self, request):
        return TemplateResponse(
            request, "enterspeed_sync/includes/status.html", status_context(request)
        )


class TestConnectionView(EnterspeedPermissionMixin, View):
    def post(self, request):
        destinations = display.get_destinations()
        if not destinations:
            messages.error(request, _t("No API key is configured, so there is nothing to test."))
            return redirect("enterspeed_sync:dashboard")
        for destination in destinations:
            with get_client(destination=destination.name) as client:
                result = client.test_connection()
            values = {"source": destination.label, "message": result.message}
            if result.ok:
                messages.success(request, _t("%(source)s: %(message)s") % values)
            else:
                messages.error(
                    request, _t("Connection test failed (%(source)s): %(message)s") % values
                )
        return redirect("enterspeed_sync:dashboard")


class SeedView(EnterspeedPermissionMixin, View):
    """POST only: queue one background task that queues the jobs; returns at once."""

    permission_test = staticmethod(permissions.can_seed)

    def post(self, request):
        form = SeedForm(request.POST)
        if not form.is_valid():
            messages.validation_error(request, _t("The seed could not be started."), form)
            dashboard = DashboardView()
            dashboard.setup(request)
            response = dashboard.get(request, seed_form=form)
            response.status_code = 400
            return response
        scope = form.describe()
        try:
            task_name = actions.start_seed(form.get_scope(), user=request.user)
        except ClusterUnreachable:
            messages.error(
                request,
                _t(
                    "The seed (%(scope)s) was not started: the cluster cannot be reached "
                    "(django-q2's broker did not answer). Try again when it is back; jobs "
                    "already queued are kept and sent then."
                )
                % {"scope": scope},
            )
            return redirect("enterspeed_sync:dashboard")
        seeds = request.session.get(SESSION_KEY, [])
        seeds.insert(
            0, {"task": task_name, "scope": scope, "queued_at": timezone.now().isoformat()}
        )
        request.session[SESSION_KEY] = seeds[:MAX_SEEDS_SHOWN]
        messages.success(
            request,
            _t("Seed queued (%(scope)s). The counts below update as the jobs are sent.")
            % {"scope": scope},
        )
        return redirect("enterspeed_sync:dashboard")


class ClearPendingView(EnterspeedPermissionMixin, WagtailAdminTemplateMixin, TemplateView):
    """GET asks for confirmation; POST deletes every pending job in one statement."""

    permission_test = staticmethod(permissions.can_manage)
    template_name = "enterspeed_sync/confirm.html"
    page_title = _("Clear pending queue")
    header_icon = "bin"
    breadcrumbs_items = [*BREADCRUMBS, {"url": "", "label": _("Clear pending queue")}]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        count = EnterspeedJob.objects.pending().count()
        if not count:
            context.update(
                message=_t("There are no pending jobs: nothing to clear."),
                cancel_url=reverse("enterspeed_sync:dashboard"),
            )
            return context
        context.update(
            message=_t(
                "Delete all %(count)s pending jobs? Their changes will not reach Enterspeed "
                "until the content is published again or seeded."
            )
            % {"count": count},
            confirm_label=_t("Yes, clear the queue"),
            cancel_url=reverse("enterspeed_sync:dashboard"),
            destructive=True,
        )
        return context

    def post(self, request):
        deleted = actions.clear_pending(user=request.user)
        messages.success(request, _t("%(count)d pending jobs deleted.") % {"count": deleted})
        return redirect("enterspeed_sync:dashboard")
