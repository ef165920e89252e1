"""Forms of the admin area."""

from __future__ import annotations

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from wagtail.admin.widgets import AdminPageChooser
from wagtail.models import Collection, Locale, Page, Site

from enterspeed_sync.capture.seed_scope import SeedScope, SeedScopeError, validate_seed_scope
from enterspeed_sync.capture.seeding import SEED_KINDS, TRANSLATION_GROUPS_KIND
from enterspeed_sync.conf import get_destinations
from enterspeed_sync.mapping import get_synced_snippet_models
from enterspeed_sync.models import Destination

KIND_LABELS = {
    "pages": _("Pages"),
    TRANSLATION_GROUPS_KIND: _("Translation groups"),
    "images": _("Images"),
    "documents": _("Documents"),
    "snippets": _("Snippets"),
}


class PageIdChooser(AdminPageChooser):
    """Wagtail's page chooser, re-rendering a form whose page id is not a number (a crafted
    POST) as "nothing chosen" instead of failing: the field's own error says what is wrong."""

    def get_instance(self, value):
        if isinstance(value, str):
            value = value.strip()
            if not value.isdigit() or int(value) > MAX_JOB_ID:
                return None
        return super().get_instance(value)


#: The largest primary key a job can have (a 64-bit signed integer, on every database).
MAX_JOB_ID = 2**63 - 1
#: Jobs one bulk action may name: a page of the jobs list.
MAX_BULK_JOBS = 100


class BulkJobsForm(forms.Form):
    """``id`` (repeated), ``action`` and, for a delete, ``confirmed``: the jobs list's bulk form."""

    action = forms.ChoiceField(
        choices=[("retry", _("Retry")), ("send_now", _("Send now")), ("delete", _("Delete"))]
    )
    id = forms.TypedMultipleChoiceField(coerce=int, required=False)
    confirmed = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any id is a valid choice; clean_id says which are not ids.
        self.fields["id"].valid_value = lambda value: True

    def clean_id(self):
        ids = self.cleaned_data.get("id") or []
        if not ids:
            raise forms.ValidationError(_("Select one or more jobs first."))
        if any(not 0 < pk <= MAX_JOB_ID for pk in ids):
            raise forms.ValidationError(_("A selected job id is not a job id."))
        if len(ids) > MAX_BULK_JOBS:
            raise forms.ValidationError(
                _("Select at most %(max)d jobs at once.") % {"max": MAX_BULK_JOBS}
            )
        return sorted(set(ids))


#: Sections offered as seed subtrees, at most.
MAX_SECTIONS = 50


def seed_sections() -> list:
    """The pages directly below each site's root page: the subtrees a seed usually means."""
    roots = Site.objects.values_list("root_page__path", flat=True)
    sections = Page.objects.none()
    for path in roots:
        sections |= Page.objects.filter(path__startswith=path, depth=len(path) // 4 + 1)
    return list(sections.order_by("path")[:MAX_SECTIONS])


class SeedForm(forms.Form):
    destination = forms.ChoiceField(
        label=_("Source"),
        choices=Destination.choices,
        initial=Destination.PUBLISH,
        widget=forms.RadioSelect,
        help_text=_(
            "The published source gets live content; the preview source every page's and "
            "snippet's latest draft."
        ),
    )
    kinds = forms.MultipleChoiceField(
        label=_("Include"),
        choices=[(kind, KIND_LABELS[kind]) for kind in SEED_KINDS],
        initial=list(SEED_KINDS),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The kinds of entity to send."),
    )
    root_page = forms.IntegerField(
        label=_("Page subtree"),
        required=False,
        widget=PageIdChooser(can_choose_root=False),
        help_text=_("Only this page (and, below, its descendants). Empty: every page."),
    )
    sections = forms.TypedMultipleChoiceField(
        label=_("Sections"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "More subtrees: the sections below each site's home page, with the page above."
        ),
    )
    descendants = forms.BooleanField(
        label=_("Include descendants"),
        required=False,
        initial=True,
        help_text=_("With a page chosen: also every live page below it."),
    )
    force = forms.BooleanField(
        label=_("Send unchanged entities too"),
        required=False,
        help_text=_(
            "Normally an entity Enterspeed already has with the same content is not sent "
            "again. Tick this after the Enterspeed source was emptied or changed by hand."
        ),
    )
    locales = forms.MultipleChoiceField(
        label=_("Locales"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Only pages and translatable snippets in these locales. None: all."),
    )
    collections = forms.TypedMultipleChoiceField(
        label=_("Collections"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Only images and documents in these collections. None: all."),
    )
    snippet_models = forms.MultipleChoiceField(
        label=_("Snippet models"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Only snippets of these models. None: every synced snippet model."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["locales"].choices = [
            (locale.language_code, locale.get_display_name() or locale.language_code)
            for locale in Locale.objects.order_by("language_code")
        ]
        self.fields["sections"].choices = [
            (page.pk, page.get_admin_display_title()) for page in seed_sections()
        ]
        self.fields["collections"].choices = [
            (collection.pk, collection.get_indented_name(html=False) or collection.name)
            for collection in Collection.objects.order_by("path")
        ]
        self.fields["snippet_models"].choices = [
            (model._meta.label_lower, capfirst(model._meta.verbose_name_plural))
            for model in get_synced_snippet_models()
        ]
        configured = get_destinations()
        self.fields["destination"].choices = [
            (value, label) for value, label in Destination.choices if value in configured
        ]
        if len(configured) <= 1:
            # Nothing to choose: seed the published source; no label, no help, no control.
            del self.fields["destination"]

    #: The form field that sets each field of a seed's scope, for its errors.
    SCOPE_FIELDS = {"root_pages": "sections"}

    def clean(self):
        cleaned = super().clean()
        cleaned["destination"] = cleaned.get("destination") or Destination.PUBLISH
        if self.errors:
            return cleaned
        try:
            self.scope = validate_seed_scope(
                SeedScope(
                    kinds=list(cleaned["kinds"]),
                    root_page=cleaned["root_page"],
                    root_pages=list(cleaned.get("sections") or []),
                    collections=list(cleaned.get("collections") or []),
                    snippet_models=list(cleaned.get("snippet_models") or []),
                    # The box only means something with a page chosen; unticked without
                    # one, it is not a request to seed nothing.
                    descendants=bool(cleaned["descendants"])
                    or not (cleaned["root_page"] or cleaned.get("sections")),
                    locales=list(cleaned["locales"]),
                    force=bool(cleaned["force"]),
                    destination=cleaned["destination"],
                )
            )
        except SeedScopeError as exc:
            for name, messages in exc.errors.items():
                field = self.SCOPE_FIELDS.get(name, name)
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
        return cleaned

    def get_scope(self) -> SeedScope:
        return self.scope

    def describe(self) -> str:
        data = self.cleaned_data
        parts = [", ".join(str(KIND_LABELS[kind]) for kind in data["kinds"])]
        if data["destination"] != Destination.PUBLISH:
            parts.insert(0, str(Destination(data["destination"]).label))
        page_ids = [*([data["root_page"]] if data.get("root_page") else []), *data["sections"]]
        if page_ids:
            titles = "”, “".join(
                page.get_admin_display_title() for page in Page.objects.filter(pk__in=page_ids)
            )
            scope = _("under “%(title)s”") if data["descendants"] else _("only “%(title)s”")
            parts.append(str(scope % {"title": titles}))
        if data.get("collections"):
            names = Collection.objects.filter(pk__in=data["collections"]).values_list(
                "name", flat=True
            )
            parts.append(str(_("collections %(names)s") % {"names": ", ".join(names)}))
        if data.get("snippet_models"):
            parts.append(", ".join(data["snippet_models"]))
        if data.get("locales"):
            parts.append(", ".join(data["locales"]))
        if data.get("force"):
            parts.append(str(_("unchanged too")))
        return "; ".join(parts)
