"""
What the operations API accepts: the job filters (query parameters) and the seed request
(a JSON body). Both refuse unknown names, so a misspelt filter never widens a bulk delete.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from wagtail.models import Locale

from enterspeed_sync.capture.seeding import SEED_KINDS
from enterspeed_sync.conf import get_destinations
from enterspeed_sync.models import Destination, EntityType, JobState, JobType

#: The largest id a 64-bit integer column holds; larger numbers name nothing.
MAX_ID = 2**63 - 1
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
ORDERINGS = ("created_at", "-created_at", "updated_at", "-updated_at", "id", "-id")
DEFAULT_ORDERING = "-updated_at"


class InstantField(forms.Field):
    """An RFC 3339 date-time, or a date (its midnight in the current time zone)."""

    default_error_messages = {
        "invalid": "Enter an ISO 8601 date-time (2026-01-31T12:00:00Z) or a date (2026-01-31)."
    }

    def to_python(self, value):
        if value in self.empty_values:
            return None
        # RFC 3339 allows a lower-case "t" and "z"; Python's parser wants upper case.
        value = str(value).strip().upper()
        try:
            parsed = parse_datetime(value)
            if parsed is None and (day := parse_date(value)) is not None:
                parsed = datetime.combine(day, time.min)
        except ValueError:
            parsed = None
        if parsed is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
        try:
            # The database compares in UTC; an instant near year 1 or 9999 may not exist there.
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


def _choices(choices):
    return [("", "")] + list(choices)


class StrictForm(forms.Form):
    """Refuses parameters it does not know, and empty values where empty means nothing."""

    #: Parameters whose empty value is a real value (e.g. "jobs without a locale").
    empty_allowed: frozenset[str] = frozenset()

    def __init__(self, data, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        self.unknown = sorted(set(data) - set(self.fields))

    def clean(self):
        for name in self.unknown:
            self.add_error(None, f"Unknown parameter '{name}'.")
        for name in self.fields:
            if self.data.get(name) == "" and name not in self.empty_allowed:
                self.add_error(name, "Give a value, or leave the parameter out.")
        return super().clean()


class JobFilterForm(StrictForm):
    """The filters shared by the job list and "retry/delete all failed"."""

    empty_allowed = frozenset({"locale", "origin_id"})
    job_type = forms.ChoiceField(required=False, choices=_choices(JobType.choices))
    entity_type = forms.ChoiceField(required=False, choices=_choices(EntityType.choices))
    destination = forms.ChoiceField(required=False, choices=_choices(Destination.choices))
    locale = forms.CharField(required=False, max_length=20)
    origin_id = forms.CharField(required=False, max_length=255, strip=True)
    created_after = InstantField(required=False)
    created_before = InstantField(required=False)

    def filter(self, queryset):
        data = self.cleaned_data
        for name in ("job_type", "entity_type", "destination"):
            if data.get(name):
                queryset = queryset.filter(**{name: data[name]})
        # "" is a real locale value (entities without one), so only a given one filters.
        if "locale" in self.data:
            queryset = queryset.filter(locale__iexact=data["locale"])
        if data.get("origin_id"):
            queryset = queryset.filter(origin_id__icontains=data["origin_id"])
        if data.get("created_after"):
            queryset = queryset.filter(created_at__gte=data["created_after"])
        if data.get("created_before"):
            queryset = queryset.filter(created_at__lt=data["created_before"])
        return queryset


class JobListForm(JobFilterForm):
    state = forms.ChoiceField(required=False, choices=_choices(JobState.choices))
    page = forms.IntegerField(required=False, min_value=1)
    page_size = forms.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE)
    ordering = forms.ChoiceField(required=False, choices=_choices((o, o) for o in ORDERINGS))

    def clean(self):
        data = super().clean()
        data["page"] = data.get("page") or 1
        data["page_size"] = data.get("page_size") or DEFAULT_PAGE_SIZE
        data["ordering"] = data.get("ordering") or DEFAULT_ORDERING
        return data


# Seeding --------------------------------------------------------------------------------

SEED_FIELDS = ("kinds", "root_page", "descendants", "locales", "force", "destination")


def clean_seed_request(body: dict) -> tuple[dict, dict]:
    """
    ``(scope, errors)`` for a seed request body. Every key is optional: no ``kinds`` means
    every kind, ``descendants`` defaults to true, no ``locales`` means all locales.
    """
    from enterspeed_sync.mapping import get_base_page_model

    errors: dict[str, list[str]] = {}
    for name in sorted(set(body) - set(SEED_FIELDS)):
        errors.setdefault(name, []).append(f"Unknown field '{name}'.")

    kinds = body.get("kinds")
    if kinds is None:
        kinds = list(SEED_KINDS)
    elif not _is_list_of_str(kinds) or not kinds:
        errors["kinds"] = [f"A non-empty list of: {', '.join(SEED_KINDS)}."]
    elif unknown := sorted(set(kinds) - set(SEED_KINDS)):
        errors["kinds"] = [f"Unknown kinds {unknown}; choose from {', '.join(SEED_KINDS)}."]

    root_page = body.get("root_page")
    if root_page is not None:
        if (
            not isinstance(root_page, int)
            or isinstance(root_page, bool)
            or not 0 < root_page <= MAX_ID
        ):
            errors["root_page"] = ["A page id (a positive integer) or null."]
        elif not get_base_page_model().objects.filter(pk=root_page, depth__gt=1).exists():
            errors["root_page"] = [f"There is no page {root_page}."]

    flags = {}
    for name, default in (("descendants", True), ("force", False)):
        value = body.get(name, default)
        if not isinstance(value, bool):
            errors[name] = ["true or false."]
        flags[name] = value

    locales = body.get("locales")
    if locales is None:
        locales = []
    elif not _is_list_of_str(locales):
        errors["locales"] = ["A list of language codes."]
    elif locales:
        known = set(Locale.objects.values_list("language_code", flat=True))
        if unknown := sorted(set(locales) - known):
            errors["locales"] = [f"Unknown locales {unknown}; the site has {sorted(known)}."]

    destination = body.get("destination", Destination.PUBLISH)
    if destination not in get_destinations():
        errors["destination"] = [
            f"A configured source: {', '.join(get_destinations())}."
            + (
                " Set ENTERSPEED_SYNC['PREVIEW_API_KEY'] to seed the preview source."
                if destination == Destination.PREVIEW
                else ""
            )
        ]

    if errors:
        return {}, errors
    scope = {
        "kinds": [kind for kind in SEED_KINDS if kind in set(kinds)],
        "root_page": root_page,
        "descendants": flags["descendants"],
        "locales": sorted(set(locales)),
        "force": flags["force"],
        "destination": destination,
    }
    return scope, errors


def _is_list_of_str(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
