from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _

from enterspeed_sync import permissions


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


def next_url(request, default: str) -> str:
    """Where to go back to after a POST: the ``next`` it names, if on this site."""
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return default
