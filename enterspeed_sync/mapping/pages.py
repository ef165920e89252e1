from __future__ import annotations

from functools import cached_property
from typing import Any

from django.apps import apps
from wagtail.models import AbstractPage

from enterspeed_sync.mapping import batch
from enterspeed_sync.mapping.base import BaseMapper
from enterspeed_sync.mapping.identity import get_base_page_model, page_origin_id

#: Base page fields sent as properties of every page.
BASE_PAGE_PROPERTIES = ("title", "slug", "seo_title", "search_description")


class PageMapper(BaseMapper):
    """
    A live page: its full URL, redirects to it, its parent in the same locale, the
    base page fields and the fields its model adds.
    """

    obj: AbstractPage

    @property
    def page(self) -> AbstractPage:
        return self.obj

    @cached_property
    def excluded_fields(self) -> frozenset[str]:  # type: ignore[override]
        # Everything on the base page model (tree, revisions, locking, workflow…) is either
        # a base property, meta, or bookkeeping.
        return frozenset(field.name for field in get_base_page_model()._meta.get_fields())

    @property
    def translation_model(self) -> type[AbstractPage]:
        return get_base_page_model()

    @cached_property
    def url_parts(self):
        return batch.url_parts_of(self.page)

    @cached_property
    def base_url(self) -> str:
        if self.url_parts:
            return self.url_parts[1]
        return super().base_url

    def get_url(self) -> str | None:
        if not self.url_parts:
            return None
        _site_id, root_url, path = self.url_parts
        return root_url + path

    def get_redirects(self) -> list[str]:
        if not apps.is_installed("wagtail.contrib.redirects"):
            return []
        pairs = batch.redirects_of(self.page)
        if pairs is None:
            # wagtail.contrib.redirects is optional: its models load only when it is installed.
            from wagtail.contrib.redirects.models import Redirect

            redirects = Redirect.objects.filter(redirect_page=self.page).select_related("site")
            pairs = [(r.old_path, r.site.root_url if r.site else None) for r in redirects]
        return sorted({(root_url or self.base_url).rstrip("/") + path for path, root_url in pairs})

    def get_origin_parent_id(self) -> str | None:
        page = self.page
        if page.depth <= 2 or batch.is_site_root(page):
            # The tree root (depth 1) is not content; a site's root page has no parent.
            return None
        parent_id, parent_locale_id = batch.parent_of(page)
        if parent_locale_id != page.locale_id:
            # Wagtail keeps each locale in its own tree, but a page can be created under a
            # parent of another locale; point at the parent's variant in the page's locale.
            parent = get_base_page_model().objects.get(pk=parent_id)
            parent_id = (parent.get_translation_or_none(page.locale) or parent).pk
        return page_origin_id(parent_id)

    def get_base_properties(self) -> dict[str, Any]:
        return {name: getattr(self.page, name) for name in BASE_PAGE_PROPERTIES}

    def get_meta(self) -> dict[str, Any]:
        page = self.page
        meta = {
            **super().get_meta(),
            "depth": page.depth,
            "ancestors": [page_origin_id(pk) for pk in batch.ancestor_ids(page)],
            "first_published_at": page.first_published_at,
            "last_published_at": page.last_published_at,
        }
        if page.alias_of_id is not None:
            meta["alias_of"] = self.get_alias_of()
        return meta

    def get_alias_of(self) -> dict[str, Any]:
        """
        What an alias page shows: its original (the page whose content it mirrors, in
        another place or locale), as ``{"id", "url"}``, so a head can treat both as the
        same content (a canonical link, one search result).
        """
        original = get_base_page_model().objects.get(pk=self.page.alias_of_id)
        return {
            "id": page_origin_id(original.pk),
            "url": batch.full_url_of(original.specific_deferred),
        }
