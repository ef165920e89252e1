"""Forms of the admin area."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from wagtail.admin.widgets import AdminPageChooser
from wagtail.models import Locale, Page

from enterspeed_sync.capture.seeding import SEED_KINDS, TRANSLATION_GROUPS_KIND
from enterspeed_sync.conf import get_destinations
from enterspeed_sync.mapping import get_base_page_model
from enterspeed_sync.models import Destination
from enterspeed_sync.operations import SeedScope

KIND_LABELS = {
    "pages": _("Pages"),
    TRANSLATION_GROUPS_KIND: _("Translation groups"),
    "images": _("Images"),
    "documents": _("Documents"),
    "snippets": _("Snippets"),
}


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
        widget=AdminPageChooser(can_choose_root=False),
        help_text=_("Only this page (and, below, its descendants). Empty: every page."),
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["locales"].choices = [
            (locale.language_code, locale.get_display_name() or locale.language_code)
            for locale in Locale.objects.order_by("language_code")
        ]
        configured = get_destinations()
        self.fields["destination"].choices = [
            (value, label) for value, label in Destination.choices if value in configured
        ]
        if len(configured) == 1:
            # Nothing to choose: seed the published source without showing the field.
            self.fields["destination"].widget = forms.HiddenInput()
            self.fields["destination"].required = False

    def clean_root_page(self):
        page_id = self.cleaned_data.get("root_page")
        if page_id is None:
            return None
        if not get_base_page_model().objects.filter(pk=page_id).exists():
            raise forms.ValidationError(_("Choose a page that exists."))
        return page_id

    def clean_destination(self):
        return self.cleaned_data.get("destination") or Destination.PUBLISH

    def get_scope(self) -> SeedScope:
        data = self.cleaned_data
        return SeedScope(
            kinds=list(data["kinds"]),
            root_page=data["root_page"],
            descendants=bool(data["descendants"]),
            locales=list(data["locales"]),
            force=bool(data["force"]),
            destination=data["destination"],
        )

    def describe(self) -> str:
        data = self.cleaned_data
        parts = [", ".join(str(KIND_LABELS[kind]) for kind in data["kinds"])]
        if data["destination"] != Destination.PUBLISH:
            parts.insert(0, str(Destination(data["destination"]).label))
        if data.get("root_page"):
            page = Page.objects.get(pk=data["root_page"])
            scope = _("under “%(title)s”") if data["descendants"] else _("only “%(title)s”")
            parts.append(str(scope % {"title": page.get_admin_display_title()}))
        if data.get("locales"):
            parts.append(", ".join(data["locales"]))
        if data.get("force"):
            parts.append(str(_("unchanged too")))
        return "; ".join(parts)
