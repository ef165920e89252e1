from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from wagtail.log_actions import log

from enterspeed_sync import permissions
from enterspeed_sync.models import EnterspeedJob


class EnterspeedPermissionMixin:
    """Deny (403) users without the view's permission; every view of the area uses it."""

    permission_test = staticmethod(permissions.can_view)

    def dispatch(self, request, *args, **kwargs):
        if not self.permission_test(request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)


BREADCRUMBS = [
    {"url": reverse_lazy("wagtailadmin_home"), "label": _("Home")},
    {"url": reverse_lazy("enterspeed_sync:dashboard"), "label": _("Enterspeed")},
]

#: Audit-log entries about the queue as a whole (a seed, "retry all") are logged against
#: this stand-in row: Wagtail's log needs an object, and pk 0 is never a real job.
QUEUE_TITLE = _("Enterspeed queue")


def log_queue_action(action: str, user, data: dict | None = None) -> None:
    log(
        EnterspeedJob(pk=0, origin_id="queue"),
        action,
        user=user,
        title=str(QUEUE_TITLE),
        data=data or {},
    )


def log_job_action(job: EnterspeedJob, action: str, user, **kwargs) -> None:
    log(job, action, user=user, title=job.origin_id, data={"origin_id": job.origin_id}, **kwargs)
