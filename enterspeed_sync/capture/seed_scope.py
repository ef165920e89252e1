"""
What a seed covers, and the one place that decides which scopes are valid. The admin's
seed form, the operations API's seed body and ``enterspeed_seed`` only translate their
input into ``validate_seed_scope`` and its errors back into their own (a form error, a
400 naming the field, a ``CommandError`` naming the option).

The rules:

- at least one kind, each one of ``SEED_KINDS``;
- root pages exist and are not the page tree's root (above every site, never sent);
- collections exist; snippet models are synced ones (labels compared in lower case);
- locales are the site's; the destination is configured;
- leaving descendants out needs a root page (without one, nothing would be seeded);
- kinds not given: the kinds the scope narrows (pages with root pages, images and
  documents with collections, snippets with snippet models), or every kind if it
  narrows none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from wagtail.models import Collection, Locale

from enterspeed_sync.capture.seeding import SEED_KINDS
from enterspeed_sync.conf import get_destinations
from enterspeed_sync.mapping import get_base_page_model, get_synced_snippet_models
from enterspeed_sync.models import Destination

#: The kinds a narrowing field implies when a scope names no kinds.
IMPLIED_KINDS = {
    "root_pages": ("pages",),
    "collections": ("images", "documents"),
    "snippet_models": ("snippets",),
}


@dataclass(frozen=True)
class SeedScope:
    """What a seed covers; ``validate_seed_scope`` checks it and fills in the kinds."""

    #: Empty: the kinds the scope narrows, or every kind (see the module's docstring).
    kinds: list[str] = field(default_factory=list)
    root_page: int | None = None
    #: Several page subtrees (with ``root_page``, if given).
    root_pages: list[int] = field(default_factory=list)
    descendants: bool = True
    locales: list[str] = field(default_factory=list)
    force: bool = False
    destination: str = Destination.PUBLISH
    #: Only images and documents in these collections (ids); empty: all.
    collections: list[int] = field(default_factory=list)
    #: Only these snippet models (labels such as ``"blog.author"``); empty: all synced ones.
    snippet_models: list[str] = field(default_factory=list)

    @property
    def page_ids(self) -> list[int]:
        return [*([self.root_page] if self.root_page is not None else []), *self.root_pages]


class SeedScopeError(ValueError):
    """A scope that is not valid: a list of messages per ``SeedScope`` field."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(" ".join(message for messages in errors.values() for message in messages))
        self.errors = errors


def listed(values: Iterable) -> str:
    return ", ".join(map(str, values))


def storable(ids: list[int]) -> list[int]:
    """The ids a 64-bit key column can hold (a crafted larger one names nothing)."""
    return [pk for pk in ids if 0 < pk < 2**63]


# One check per field: each returns the value as the scope keeps it, or raises ValueError.


def check_kinds(kinds: list[str]) -> list[str]:
    if unknown := [kind for kind in kinds if kind not in SEED_KINDS]:
        raise ValueError(f"Unknown kind {listed(unknown)}; the kinds are {listed(SEED_KINDS)}.")
    return [kind for kind in SEED_KINDS if kind in kinds]


def check_pages(page_ids: list[int]) -> list[int]:
    if not page_ids:
        return page_ids
    depths = dict(
        get_base_page_model().objects.filter(pk__in=storable(page_ids)).values_list("pk", "depth")
    )
    if missing := sorted(set(page_ids) - set(depths)):
        raise ValueError(f"No page with id {listed(missing)}.")
    if tree_roots := sorted(pk for pk, depth in depths.items() if depth == 1):
        raise ValueError(
            f"Page {listed(tree_roots)} is the root of the page tree, above every site; "
            "choose a site's home page or a page below it."
        )
    return page_ids


def check_collections(collection_ids: list[int]) -> list[int]:
    if collection_ids:
        known = set(
            Collection.objects.filter(pk__in=storable(collection_ids)).values_list("pk", flat=True)
        )
        if missing := sorted(set(collection_ids) - known):
            raise ValueError(f"No collection with id {listed(missing)}.")
    return collection_ids


def check_snippet_models(labels: list[str]) -> list[str]:
    labels = sorted({label.lower() for label in labels})
    if labels:
        synced = {model._meta.label_lower for model in get_synced_snippet_models()}
        if unknown := [label for label in labels if label not in synced]:
            raise ValueError(
                f"Not a synced snippet model: {listed(unknown)}; synced: "
                f"{listed(sorted(synced)) or 'none'}."
            )
    return labels


def check_locales(codes: list[str]) -> list[str]:
    if codes:
        known = set(Locale.objects.values_list("language_code", flat=True))
        if unknown := [code for code in codes if code not in known]:
            raise ValueError(
                f"No locale {listed(map(repr, unknown))}; the site's locales are "
                f"{listed(sorted(known))}."
            )
    return codes


def check_destination(destination: str) -> str:
    if destination not in get_destinations():
        hint = " Set ENTERSPEED_SYNC['PREVIEW_API_KEY']." if destination == "preview" else ""
        raise ValueError(f"The {destination} source is not configured.{hint}")
    return destination


#: The check of each field that has one (the API's schema runs them per field, too).
FIELD_CHECKS: dict[str, Callable] = {
    "kinds": check_kinds,
    "root_page": lambda page_id: page_id if page_id is None else check_pages([page_id])[0],
    "root_pages": check_pages,
    "collections": check_collections,
    "snippet_models": check_snippet_models,
    "locales": check_locales,
    "destination": check_destination,
}


def validate_seed_scope(scope: SeedScope) -> SeedScope:
    """``scope`` checked, its kinds filled in; or SeedScopeError naming each bad field."""
    errors: dict[str, list[str]] = {}
    values = {}
    for name, check in FIELD_CHECKS.items():
        try:
            values[name] = check(getattr(scope, name))
        except ValueError as exc:
            errors.setdefault(name, []).append(str(exc))
    if not scope.descendants and not scope.page_ids:
        errors.setdefault("descendants", []).append(
            "Leaving out descendants needs a root page: it seeds only the root pages."
        )
    if errors:
        raise SeedScopeError(errors)
    values["kinds"] = values["kinds"] or default_kinds(scope)
    return replace(scope, **values)


def default_kinds(scope: SeedScope) -> list[str]:
    """The kinds of a scope that names none: those it narrows, or every kind."""
    narrowed = {
        "root_pages": scope.page_ids,
        "collections": scope.collections,
        "snippet_models": scope.snippet_models,
    }
    implied = {kind for name, kinds in IMPLIED_KINDS.items() if narrowed[name] for kind in kinds}
    return [kind for kind in SEED_KINDS if kind in implied] or list(SEED_KINDS)
