from __future__ import annotations

from wagtail.models import (
    DraftStateMixin,
    LockableMixin,
    RevisionMixin,
    TranslatableMixin,
    WorkflowMixin,
)

from enterspeed_sync.mapping.base import BaseMapper

# Bookkeeping fields of Wagtail's model mixins; locale and translation key go into meta.
SNIPPET_INTERNAL_FIELDS = frozenset(
    field.name
    for mixin in (
        DraftStateMixin,
        LockableMixin,
        RevisionMixin,
        TranslatableMixin,
        WorkflowMixin,
    )
    if hasattr(mixin, "_meta")
    for field in mixin._meta.get_fields()
)


class SnippetMapper(BaseMapper):
    """A snippet (Wagtail's counterpart of Umbraco's dictionary items): its own fields."""

    excluded_fields = SNIPPET_INTERNAL_FIELDS
