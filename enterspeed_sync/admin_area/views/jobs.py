"""The jobs list (failed jobs by default) and the inspect view; actions are in job_actions."""

from __future__ import annotations

import json

import django_filters
from django.db.models import Q
from django.http import QueryDict
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView
from wagtail.admin.active_filters import ActiveFilter
from wagtail.admin.admin_url_finder import AdminURLFinder
from wagtail.admin.filters import DateRangePickerWidget, WagtailFilterSet
from wagtail.admin.ui.tables import BaseColumn, Column, DateColumn, StatusTagColumn, TitleColumn
from wagtail.admin.views.generic import IndexView
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.widgets import HeaderButton

from enterspeed_sync import actions, permissions
from enterspeed_sync.admin_area.display import object_title, parse_error
from enterspeed_sync.admin_area.views.base import (
    BREADCRUMBS,
    EnterspeedPermissionMixin,
)
from enterspeed_sync.diagnostics.inspection import inspect_origin_id
from enterspeed_sync.mapping import get_model_for_origin_id, get_object_for_origin_id
from enterspeed_sync.models import Destination, EnterspeedJob, EntityType, JobPriority, JobState

ALL_STATES = "all"


def get_edited_object(job: EnterspeedJob):
    """The page, image, document or snippet of a job, or None when it no longer exists."""
    try:
        return get_object_for_origin_id(job.origin_id)
    except LookupError:
        return None


def attach_edited_objects(jobs: list[EnterspeedJob]) -> None:
    """Look up the objects of a page of jobs with one query per model (for the edit links)."""
    wanted: dict[type, dict[str, list[EnterspeedJob]]] = {}
    for job in jobs:
        job._edited_object = None
        try:
            model, pk = get_model_for_origin_id(job.origin_id)
        except LookupError:
            continue
        wanted.setdefault(model, {}).setdefault(str(pk), []).append(job)
    for model, by_pk in wanted.items():
        pk_field = model._meta.pk
        pks = []
        for pk in by_pk:
            try:
                pks.append(pk_field.to_python(pk))
            except Exception:  # noqa: BLE001, S112 - an id that cannot be a pk names nothing
                continue
        for obj in model._default_manager.filter(pk__in=pks):
            for job in by_pk.get(str(obj.pk), []):
                job._edited_object = obj


class JobFilterSet(WagtailFilterSet):
    state = django_filters.ChoiceFilter(
        label=_("State"),
        choices=[*JobState.choices, (ALL_STATES, _("All states"))],
        empty_label=None,
        method="filter_state",
    )
    entity_type = django_filters.ChoiceFilter(label=_("Entity kind"), choices=EntityType.choices)
    locale = django_filters.CharFilter(label=_("Locale"), lookup_expr="iexact")
    destination = django_filters.ChoiceFilter(label=_("Destination"), choices=Destination.choices)
    priority = django_filters.ChoiceFilter(label=_("Priority"), choices=JobPriority.choices)
    updated_at = django_filters.DateFromToRangeFilter(
        label=_("Last change"), widget=DateRangePickerWidget
    )

    class Meta:
        model = EnterspeedJob
        fields = ["state", "entity_type", "locale", "destination", "priority", "updated_at"]

    def __init__(self, data=None, *args, **kwargs):
        # Failed jobs by default: the list is where problems are dealt with.
        data = data.copy() if data is not None else None
        if data is not None and not data.get("state"):
            data["state"] = JobState.FAILED
        super().__init__(data, *args, **kwargs)
        self.form.fields["state"].initial = JobState.FAILED

    def filter_state(self, queryset, name, value):
        if not value or value == ALL_STATES:
            return queryset
        return queryset.filter(state=value)


class CheckboxColumn(BaseColumn):
    """A checkbox per row, belonging to the bulk form above the table (``form=`` attribute)."""

    header_template_name = "enterspeed_sync/tables/checkbox_header.html"
    cell_template_name = "enterspeed_sync/tables/checkbox_cell.html"


class ErrorColumn(Column):
    cell_template_name = "enterspeed_sync/tables/error_cell.html"


class EditLinkColumn(Column):
    """What the job's object is called, linked to Wagtail's editor where the user may edit."""

    cell_template_name = "enterspeed_sync/tables/edit_link_cell.html"

    def get_value(self, instance):
        return instance.origin_id

    def get_cell_context_data(self, instance, parent_context):
        context = super().get_cell_context_data(instance, parent_context)
        obj = getattr(instance, "_edited_object", None)
        if not hasattr(instance, "_edited_object"):
            obj = get_edited_object(instance)
        context["exists"] = obj is not None
        context["title"] = object_title(obj) if obj is not None else ""
        context["edit_url"] = (
            AdminURLFinder(parent_context["request"].user).get_edit_url(obj) if obj else None
        )
        return context


class JobIndexView(EnterspeedPermissionMixin, IndexView):
    model = EnterspeedJob
    template_name = "enterspeed_sync/jobs/index.html"
    results_template_name = "enterspeed_sync/jobs/index_results.html"
    index_url_name = "enterspeed_sync:jobs"
    index_results_url_name = "enterspeed_sync:jobs_results"
    inspect_url_name = "enterspeed_sync:job"
    filterset_class = JobFilterSet
    search_fields = ["entity_id", "origin_id", "error"]
    is_searchable = True
    default_ordering = "-updated_at"
    paginate_by = 50
    page_title = _("Enterspeed jobs")
    header_icon = "list-ul"
    permission_policy = None

    def get_breadcrumbs_items(self):
        return [*BREADCRUMBS, {"url": "", "label": _("Jobs")}]

    def search_queryset(self, queryset):
        if not self.is_searching:
            return queryset
        query = self.search_query
        return queryset.filter(
            Q(entity_id__icontains=query)
            | Q(origin_id__icontains=query)
            | Q(error__icontains=query)
        )

    @cached_property
    def can_manage(self):
        return permissions.can_manage(self.request.user)

    @cached_property
    def columns(self):
        columns = [
            TitleColumn(
                "origin_id",
                label=_("Origin id"),
                url_name="enterspeed_sync:job",
                sort_key="origin_id",
                classname="enterspeed-origin-id",
            ),
            EditLinkColumn("edit", label=_("In Wagtail")),
            Column("entity_type", label=_("Kind"), accessor="get_entity_type_display"),
            Column("job_type", label=_("Job"), accessor="get_job_type_display"),
            Column("locale", label=_("Locale"), sort_key="locale"),
            Column("destination", label=_("Destination"), accessor="get_destination_display"),
            Column("priority", label=_("Priority"), accessor="get_priority_display"),
            StatusTagColumn(
                "state",
                label=_("State"),
                accessor="get_state_display",
                primary=lambda job: job.state == JobState.PROCESSING,
                sort_key="state",
            ),
            Column("attempts", label=_("Attempts"), sort_key="attempts"),
            ErrorColumn("error", label=_("Error")),
            DateColumn("updated_at", label=_("Last change"), sort_key="updated_at"),
        ]
        if self.can_manage:
            columns.insert(0, CheckboxColumn("select", label=_("Select")))
        return columns

    def get_base_queryset(self):
        return EnterspeedJob.objects.defer("lease_token")

    def paginate_queryset(self, queryset, page_size):
        paginator, page, object_list, is_paginated = super().paginate_queryset(queryset, page_size)
        object_list = list(object_list)
        attach_edited_objects(object_list)
        return paginator, page, object_list, is_paginated

    @cached_property
    def active_filters(self):
        """Wagtail shows no chip for a filter at its default: the default "Failed" gets one,
        whose removal shows every state."""
        filters = super().active_filters
        form = self.filters.form if self.filters else None
        if form is None or not self.filters.is_valid():
            return filters
        if form.cleaned_data.get("state") == JobState.FAILED:
            query = self.request.GET.copy()
            query.pop(self.page_kwarg, None)
            query["state"] = ALL_STATES
            query["_w_filter_fragment"] = 1
            base_url = self.index_results_url.split("?")[0]
            filters.insert(
                0,
                ActiveFilter(
                    form["state"].auto_id,
                    form.fields["state"].label,
                    str(JobState.FAILED.label),
                    f"{base_url}?{query.urlencode()}",
                ),
            )
        return filters

    def get_filter_errors(self) -> list[str]:
        """A filter value that is not one (``?state=zzz``), said in words."""
        if not self.filters or self.filters.is_valid():
            return []
        form = self.filters.form
        return [
            f"{form.fields[name].label}: {message}" if name in form.fields else str(message)
            for name, messages_ in form.errors.items()
            for message in messages_
        ]

    def get_list_url(self) -> str:
        """The full list page with this request's filters: where bulk actions come back to,
        also when this request is the results fragment a search or filter fetched."""
        query = QueryDict(mutable=True)
        query.update(self.request.GET)
        query.pop("_w_filter_fragment", None)
        url = reverse(self.index_url_name)
        return f"{url}?{query.urlencode()}" if query else url

    @cached_property
    def header_buttons(self):
        buttons = []
        if self.can_manage:
            buttons.append(
                HeaderButton(
                    _("Retry all failed"),
                    url=reverse("enterspeed_sync:jobs_all", args=["retry"]),
                    icon_name="rotate",
                )
            )
            buttons.append(
                HeaderButton(
                    _("Send all waiting now"),
                    url=reverse("enterspeed_sync:jobs_send_now"),
                    icon_name="resubmit",
                )
            )
            buttons.append(
                HeaderButton(
                    _("Delete all failed"),
                    url=reverse("enterspeed_sync:jobs_all", args=["delete"]),
                    icon_name="bin",
                )
            )
        return buttons

    @cached_property
    def header_more_buttons(self):
        return []

    def get_list_buttons(self, instance):
        return []

    def get_context_data(self, *args, **kwargs):
        context = super().get_context_data(*args, **kwargs)
        context["can_manage"] = self.can_manage
        context["bulk_url"] = reverse("enterspeed_sync:jobs_bulk")
        context["next_url"] = self.get_list_url()
        context["filter_errors"] = self.get_filter_errors()
        return context


class JobInspectView(EnterspeedPermissionMixin, WagtailAdminTemplateMixin, TemplateView):
    template_name = "enterspeed_sync/jobs/inspect.html"
    header_icon = "info-circle"

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.job = get_object_or_404(EnterspeedJob, pk=kwargs["pk"])

    def get_page_title(self):
        return self.job.origin_id

    def get_breadcrumbs_items(self):
        return [
            *BREADCRUMBS,
            {"url": reverse("enterspeed_sync:jobs"), "label": _("Jobs")},
            {"url": "", "label": self.job.origin_id},
        ]

    def get_inspection(self):
        """What would be sent now; a mapping error is shown, as it would fail the job."""
        try:
            return inspect_origin_id(self.job.origin_id), ""
        except LookupError as exc:
            return None, str(exc)
        except Exception as exc:  # noqa: BLE001 - any mapping error is what the admin must see
            return None, f"{type(exc).__name__}: {exc}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        inspection, inspection_error = self.get_inspection()
        obj = get_edited_object(self.job)
        context.update(
            job=self.job,
            error=parse_error(self.job.error),
            title=object_title(obj) if obj is not None else "",
            edit_url=AdminURLFinder(self.request.user).get_edit_url(obj) if obj else None,
            inspection=inspection,
            inspection_error=inspection_error,
            entity_json=(
                json.dumps(inspection.entity, indent=2, ensure_ascii=False, default=str)
                if inspection and inspection.entity is not None
                else ""
            ),
            can_manage=permissions.can_manage(self.request.user),
            # A pending job waiting for its next attempt: "Send now" moves it to now.
            waiting=actions.is_waiting(self.job),
        )
        return context
