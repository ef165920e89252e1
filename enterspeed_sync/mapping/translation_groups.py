"""
Translation groups (``TRANSLATION_GROUPS``): one locale-independent entity per set of
translated pages, keyed by their shared ``translation_key``. Enterspeed schemas can trigger
on it when any language variant changes, or list every variant of a page, the way the
"master content" entities of Enterspeed's Umbraco integration are used.

The entity holds nothing volatile (no timestamps, no counters): it changes only when the
set of variants changes, so re-sending it after every variant change costs nothing once
the ledger has it.
"""

from __future__ import annotations

from typing import Any

from enterspeed_sync.mapping.identity import get_base_page_model, page_origin_id

TRANSLATION_GROUP_TYPE = "translationGroup"


def translation_group_origin_id(translation_key) -> str:
    return f"translation-group-{translation_key}"


def translation_group_entity(translation_key, variants: list[tuple[str, str]]) -> dict[str, Any]:
    """The group's entity; ``variants`` are ``(origin id, locale)`` pairs, in any order."""
    return {
        "type": TRANSLATION_GROUP_TYPE,
        "properties": {
            "translationKey": str(translation_key),
            "variants": [
                {"originId": origin_id, "locale": locale}
                for origin_id, locale in sorted(variants, key=lambda v: (v[1], v[0]))
            ],
        },
    }


def get_group_pages(translation_key):
    """Every page of the group (all locales), specific, with its locale."""
    return (
        get_base_page_model()
        .objects.filter(translation_key=translation_key, depth__gt=1)
        .select_related("locale")
        .specific()
    )


def variant_of(page) -> tuple[str, str]:
    return (page_origin_id(page.pk), page.locale.language_code)
