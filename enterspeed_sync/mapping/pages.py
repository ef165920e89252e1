from __future__ import annotations

from functools import cached_property
from typing import Any

from django.apps import apps
from wagtail.models import AbstractPage, Site

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

    @cached_property
    def url_parts(self):
        return self.page.get_url_parts()

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
        from wagtail.contrib.redirects.models import Redirect

        redirects = Redirect.objects.filter(redirect_page=self.page).select_related("site")
        urls = set()
        for redirect in redirects:
            root_url = redirect.site.root_url if redirect.site else self.base_url
            urls.add(root_url.rstrip("/") + redirect.old_path)
        return sorted(urls)

    def get_origin_parent_id(self) -> str | None:
        page = self.page
        if page.depth <= 2 or Site.objects.filter(root_page_id=page.pk).exists():
            # The tree root (depth 1) is not content; a site's root page has no parent.
            return None
        parent = page.get_parent()
        if parent.locale_id != page.locale_id:
            # Wagtail keeps each locale in its own tree, but a page can be created under a
            # parent of another locale; point at the parent's variant in the page's locale.
            parent = parent.get_translation_or_none(page.locale) or parent
        return page_origin_id(parent.pk)

    def get_base_properties(self) -> dict[str, Any]:
        return {name: getattr(self.page, name) for name in BASE_PAGE_PROPERTIES}

    def get_meta(self) -> dict[str, Any]:
        page = self.page
        ancestors = page.get_ancestors().filter(depth__gt=1).values_list("pk", flat=True)
        return {
            **super().get_meta(),
            "depth": page.depth,
            "ancestors": [page_origin_id(pk) for pk in ancestors],
            "first_published_at": page.first_published_at,
            "last_published_at": page.last_published_at,
        }
