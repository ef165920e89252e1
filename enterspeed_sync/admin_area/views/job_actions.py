"""Retry, send now and delete: one job (the inspect view's buttons), the selected jobs of a
page of the list (a delete confirmed first), every failed job and every waiting job."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import TemplateView
from wagtail.admin import messages
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from enterspeed_sync import actions, permissions
from enterspeed_sync.admin_area.forms import BulkJobsForm
from enterspeed_sync.admin_area.views.base import (
    BREADCRUMBS,
    EnterspeedPermissionMixin,
    next_url,
)
from enterspeed_sync.models import EnterspeedJob, JobState


class JobActionView(EnterspeedPermissionMixin, View):
    """POST: retry, send now or delete one job (the inspect view's buttons)."""

    permission_test = staticmethod(permissions.can_manage)

    def post(self, request, pk, action):
        job = get_object_or_404(EnterspeedJob, pk=pk)
        if action == "retry":
            if actions.retry_jobs([job], user=request.user):
                messages.success(request, _t("%(job)s is queued again.") % {"job": job.origin_id})
            else:
                messages.warning(
                    request,
                    _t("%(job)s was not queued: it is not failed, or a newer job supersedes it.")
                    % {"job": job.origin_id},
                )
            return redirect(next_url(request, reverse("enterspeed_sync:jobs")))
        if action == "send_now":
            if actions.send_jobs_now([job], user=request.user):
                messages.success(request, _t("%(job)s will be sent now.") % {"job": job.origin_id})
            else:
                messages.warning(
                    request,
                    _t("%(job)s was not moved: it is not waiting for a later attempt.")
                    % {"job": job.origin_id},
                )
            return redirect(next_url(request, reverse("enterspeed_sync:job", args=[job.pk])))
        if actions.delete_jobs([job], user=request.user):
            messages.success(request, _t("%(job)s deleted.") % {"job": job.origin_id})
        else:
            messages.warning(
                request,
                _t("%(job)s is being processed and was not deleted.") % {"job": job.origin_id},
            )
        return redirect(next_url(request, reverse("enterspeed_sync:jobs")))


class BulkJobActionView(EnterspeedPermissionMixin, View):
    """
    POST ``id`` (repeated) and ``action`` (retry or delete): the selected jobs of a page.
    A delete is confirmed first; a job being processed is never deleted.
    """

    permission_test = staticmethod(permissions.can_manage)

    def post(self, request):
        back = next_url(request, reverse("enterspeed_sync:jobs"))
        form = BulkJobsForm(request.POST)
        if not form.is_valid():
            return self.refuse(request, form, back)
        ids, action = form.cleaned_data["id"], form.cleaned_data["action"]
        jobs = list(EnterspeedJob.objects.filter(pk__in=ids))
        if action == "retry":
            count = actions.retry_jobs(jobs, user=request.user)
            messages.success(request, _t("%(count)d jobs queued again.") % {"count": count})
            return redirect(back)
        if action == "send_now":
            count = actions.send_jobs_now(jobs, user=request.user)
            messages.success(
                request,
                _t("%(count)d waiting jobs will be sent now (of %(selected)d selected).")
                % {"count": count, "selected": len(jobs)},
            )
            return redirect(back)
        if not form.cleaned_data["confirmed"]:
            return self.confirm_delete(request, jobs, back)
        deleted = actions.delete_jobs(jobs, user=request.user)
        message = _t("%(count)d jobs deleted.") % {"count": deleted}
        kept = EnterspeedJob.objects.filter(pk__in=ids, state=JobState.PROCESSING).count()
        if kept:
            message += " " + _t(
                "%(count)d being processed were kept: a job being sent is never deleted."
            ) % {"count": kept}
        messages.success(request, message)
        return redirect(back)

    def refuse(self, request, form, back):
        """A bulk request that names no job, or something that is not one: a 400 that says so."""
        errors = [str(message) for messages_ in form.errors.values() for message in messages_]
        return confirm_page(
            request,
            title=_t("Nothing was changed"),
            message=" ".join(errors),
            cancel_url=back,
            status=400,
        )

    def confirm_delete(self, request, jobs, back):
        processing = sum(1 for job in jobs if job.state == JobState.PROCESSING)
        message = _t("Delete %(count)d selected jobs? Their changes and errors are lost.") % {
            "count": len(jobs) - processing
        }
        if processing:
            message += " " + _t(
                "%(count)d being processed will be kept: a job being sent is never deleted."
            ) % {"count": processing}
        return confirm_page(
            request,
            title=_t("Delete selected jobs"),
            message=message,
            confirm_label=_t("Yes, delete them") if len(jobs) > processing else "",
            cancel_url=back,
            hidden=[
                ("action", "delete"),
                ("confirmed", "1"),
                ("next", back),
                *(("id", str(job.pk)) for job in jobs),
            ],
            action=reverse("enterspeed_sync:jobs_bulk"),
        )


def confirm_page(request, *, title, message, cancel_url, status=200, **extra):
    """The area's confirmation page (or, without ``confirm_label``, a page that only says why)."""
    return TemplateResponse(
        request,
        "enterspeed_sync/confirm.html",
        {
            "page_title": title,
            "header_title": title,
            "header_icon": "warning",
            "breadcrumbs_items": [
                *BREADCRUMBS,
                {"url": reverse("enterspeed_sync:jobs"), "label": _("Jobs")},
                {"url": "", "label": title},
            ],
            "message": message,
            "cancel_url": cancel_url,
            "destructive": True,
            **extra,
        },
        status=status,
    )


class AllFailedJobsView(EnterspeedPermissionMixin, WagtailAdminTemplateMixin, TemplateView):
    """
    Retry or delete every failed job. GET asks for confirmation. Delete is one DELETE
    statement; retrying more than ``actions.INLINE_RETRY_LIMIT`` jobs runs in background tasks.
    """

    permission_test = staticmethod(permissions.can_manage)
    template_name = "enterspeed_sync/confirm.html"
    header_icon = "warning"

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.action = kwargs["action"]

    def get_page_title(self):
        return _("Retry all failed jobs") if self.action == "retry" else _("Delete all failed jobs")

    def get_breadcrumbs_items(self):
        return [
            *BREADCRUMBS,
            {"url": reverse("enterspeed_sync:jobs"), "label": _("Jobs")},
            {"url": "", "label": self.get_page_title()},
        ]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        count = EnterspeedJob.objects.failed().count()
        if self.action == "retry":
            message = _t("Queue all %(count)s failed jobs again?")
            label = _t("Yes, retry them")
        else:
            message = _t("Delete all %(count)s failed jobs? Their errors are lost.")
            label = _t("Yes, delete them")
        context.update(
            message=message % {"count": count},
            confirm_label=label,
            cancel_url=reverse("enterspeed_sync:jobs"),
            destructive=self.action == "delete",
        )
        return context

    def post(self, request, action):
        if action == "delete":
            deleted = actions.delete_all_failed(user=request.user)
            messages.success(request, _t("%(count)d failed jobs deleted.") % {"count": deleted})
            return redirect("enterspeed_sync:jobs")
        retried = actions.retry_all_failed(user=request.user)
        if retried.background:
            messages.success(
                request,
                _t("Retrying %(count)d failed jobs in the background.")
                % {"count": retried.matched},
            )
        else:
            messages.success(
                request, _t("%(count)d jobs queued again.") % {"count": retried.queued}
            )
        return redirect("enterspeed_sync:dashboard")


class SendAllWaitingNowView(EnterspeedPermissionMixin, WagtailAdminTemplateMixin, TemplateView):
    """
    Every pending job waiting for its next attempt (a retry's backoff) moved to now. GET
    asks for confirmation; POST moves them in one statement and asks for processing.
    """

    permission_test = staticmethod(permissions.can_manage)
    template_name = "enterspeed_sync/confirm.html"
    header_icon = "resubmit"
    page_title = _("Send all waiting jobs now")

    def get_breadcrumbs_items(self):
        return [
            *BREADCRUMBS,
            {"url": reverse("enterspeed_sync:jobs"), "label": _("Jobs")},
            {"url": "", "label": self.page_title},
        ]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        count = actions.waiting_jobs().count()
        context.update(
            message=_t(
                "Send all %(count)s waiting jobs now? Jobs waiting for a retry after a "
                "failure are tried at once instead of at their next attempt; attempts already "
                "spent stay spent."
            )
            % {"count": count},
            confirm_label=_t("Yes, send them now"),
            cancel_url=reverse("enterspeed_sync:jobs"),
        )
        return context

    def post(self, request):
        moved = actions.send_all_waiting_now(user=request.user)
        messages.success(request, _t("%(count)d waiting jobs will be sent now.") % {"count": moved})
        return redirect("enterspeed_sync:jobs")
