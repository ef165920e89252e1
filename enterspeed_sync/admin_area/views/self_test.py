"""The mapping self-test: map a sample of every synced model without sending anything."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from enterspeed_sync.admin_area.views.base import BREADCRUMBS, EnterspeedPermissionMixin
from enterspeed_sync.diagnostics.inspection import DEFAULT_SELF_TEST_LIMIT, run_self_test


class SelfTestView(EnterspeedPermissionMixin, WagtailAdminTemplateMixin, TemplateView):
    """
    The table ``manage.py enterspeed_inspect --all-models`` prints. It only reads: mapping
    runs on GET, and nothing is queued or sent.
    """

    template_name = "enterspeed_sync/self_test.html"
    page_title = _("Mapping self-test")
    header_icon = "list-ul"
    breadcrumbs_items = [*BREADCRUMBS, {"url": "", "label": _("Mapping self-test")}]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(result=run_self_test(DEFAULT_SELF_TEST_LIMIT), limit=DEFAULT_SELF_TEST_LIMIT)
        return context
