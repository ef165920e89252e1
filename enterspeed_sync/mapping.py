"""
Content → Enterspeed source entity (``type``, ``url``, ``redirects``, ``originParentId``,
``properties``). Reads the database, never the network.
"""

from __future__ import annotations

import datetime
import decimal
import logging
import re
import uuid
from typing import Any

import swapper
from django.apps import apps
from django.conf import settings
from django.db import models
from django.test import RequestFactory
from django.utils.functional import Promise
from wagtail.fields import RichTextField, StreamField
from wagtail.models import AbstractPage, Site
from wagtail.rich_text import expand_db_html

logger = logging.getLogger(__name__)

PROPERTY_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Root-relative href/src attributes ("/about/", not "//cdn…" or "https://…").
RELATIVE_LINK_RE = re.compile(r"""(\s(?:href|src)=)(["'])(/(?!/)[^"']*)\2""")

#: Base page fields sent as properties of every page.
BASE_PAGE_PROPERTIES = ("title", "slug", "seo_title", "search_description")


def get_base_page_model() -> type[AbstractPage]:
    """The project's base page model (``WAGTAIL_PAGE_MODEL``, Wagtail's ``Page`` by default)."""
    return swapper.load_model("wagtailcore", "Page")


def page_origin_id(page_id: int | str) -> str:
    return f"page-{page_id}"


def image_origin_id(image_id: int | str) -> str:
    return f"image-{image_id}"


def document_origin_id(document_id: int | str) -> str:
    return f"document-{document_id}"


def lower_camel(name: str) -> str:
    """``BlogPage`` → ``blogPage``, ``HTMLPage`` → ``htmlPage``."""
    match = re.match(r"[A-Z]+(?=[A-Z][a-z]|$)|[A-Z]", name)
    if not match:
        return name
    return match.group(0).lower() + name[match.end() :]


def is_valid_property_name(name: str) -> bool:
    """Enterspeed property names: ``A-Z a-z 0-9 _``, no leading digit, not only underscores."""
    return bool(PROPERTY_NAME_RE.fullmatch(name)) and bool(name.strip("_"))


def to_json_value(value: Any) -> Any:
    """Plain JSON for Enterspeed: ISO 8601 dates with zone, numbers as numbers."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, uuid.UUID | Promise):
        return str(value)
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json_value(item) for item in value]
    return str(value)


class PageMapper:
    """
    Maps a live page to an Enterspeed source entity. Subclass it and override a ``get_*``
    method to change one part; a page model may also set ``enterspeed_type``.
    """

    def __init__(self, page: AbstractPage) -> None:
        self.page = page
        url_parts = page.get_url_parts()
        self.root_url: str = url_parts[1] if url_parts else self._fallback_root_url()

    def origin_id(self) -> str:
        return page_origin_id(self.page.pk)

    def to_entity(self) -> dict[str, Any]:
        entity: dict[str, Any] = {"type": self.get_type()}
        if url := self.get_url():
            entity["url"] = url
        if redirects := self.get_redirects():
            entity["redirects"] = redirects
        if parent_id := self.get_origin_parent_id():
            entity["originParentId"] = parent_id
        entity["properties"] = self.get_properties()
        return entity

    def get_type(self) -> str:
        page = self.page
        if explicit := getattr(page, "enterspeed_type", None):
            return str(explicit)
        return lower_camel(type(page).__name__)

    def get_url(self) -> str | None:
        return self.page.get_full_url()

    def get_redirects(self) -> list[str]:
        if not apps.is_installed("wagtail.contrib.redirects"):
            return []
        from wagtail.contrib.redirects.models import Redirect

        redirects = Redirect.objects.filter(redirect_page=self.page).select_related("site")
        urls = set()
        for redirect in redirects:
            root_url = redirect.site.root_url if redirect.site else self.root_url
            urls.add(root_url.rstrip("/") + redirect.old_path)
        return sorted(urls)

    def get_origin_parent_id(self) -> str | None:
        page = self.page
        if page.depth <= 2 or self._is_site_root():
            # The tree root (depth 1) is not content; a site's root page has no parent.
            return None
        return page_origin_id(page.get_parent().pk)

    def get_properties(self) -> dict[str, Any]:
        page = self.page
        properties: dict[str, Any] = {name: getattr(page, name) for name in BASE_PAGE_PROPERTIES}
        for field in self.get_content_fields():
            properties[field.name] = self.convert_field(field)
        properties["meta"] = self.get_meta()
        valid = {}
        for name, value in properties.items():
            if is_valid_property_name(name):
                valid[name] = to_json_value(value)
            else:
                logger.warning(
                    "Skipping property %r of page %s: not a valid Enterspeed property name",
                    name,
                    page.pk,
                )
        return valid

    def get_content_fields(self) -> list[models.Field]:
        """The concrete fields the page's own model (not the base page model) adds."""
        base_fields = {field.name for field in get_base_page_model()._meta.get_fields()}
        return [
            field
            for field in type(self.page)._meta.concrete_fields
            if field.name not in base_fields
            and not (isinstance(field, models.OneToOneField) and field.remote_field.parent_link)
        ]

    def get_meta(self) -> dict[str, Any]:
        page = self.page
        ancestors = page.get_ancestors().filter(depth__gt=1).values_list("pk", flat=True)
        return {
            "pk": page.pk,
            "locale": page.locale.language_code,
            "translation_key": page.translation_key,
            "depth": page.depth,
            "ancestors": [page_origin_id(pk) for pk in ancestors],
            "content_type": page._meta.label_lower,
            "first_published_at": page.first_published_at,
            "last_published_at": page.last_published_at,
        }

    def convert_field(self, field: models.Field) -> Any:
        value = getattr(self.page, field.attname)
        if value is None:
            return None
        if isinstance(field, RichTextField):
            return self.expand_rich_text(value)
        if isinstance(field, StreamField):
            representation = value.stream_block.get_api_representation(
                value, context={"request": self._api_request()}
            )
            return self.absolutize(to_json_value(representation))
        if isinstance(field, models.ForeignKey):
            related = getattr(self.page, field.name)
            return reference_for(related, self.root_url) if related else None
        return value

    def expand_rich_text(self, html: str) -> str:
        return self.absolutize_html(expand_db_html(html))

    def absolutize_html(self, html: str) -> str:
        root = self.root_url.rstrip("/")
        return RELATIVE_LINK_RE.sub(lambda m: f"{m[1]}{m[2]}{root}{m[3]}{m[2]}", html)

    def absolutize(self, value: Any) -> Any:
        """Make root-relative links absolute in every HTML string of a JSON structure."""
        if isinstance(value, str):
            return self.absolutize_html(value) if "=" in value and "/" in value else value
        if isinstance(value, list):
            return [self.absolutize(item) for item in value]
        if isinstance(value, dict):
            return {key: self.absolutize(item) for key, item in value.items()}
        return value

    def _api_request(self):
        # Blocks read the rich text format from the request, as the v2 API does.
        host = self.root_url.split("://", 1)[-1].split("/", 1)[0] or "localhost"
        return RequestFactory(SERVER_NAME=host.split(":")[0]).get("/", {"rich_text_format": "html"})

    def _is_site_root(self) -> bool:
        return Site.objects.filter(root_page_id=self.page.pk).exists()

    @staticmethod
    def _fallback_root_url() -> str:
        return getattr(settings, "WAGTAILADMIN_BASE_URL", "") or "http://localhost"


def absolute_media_url(url: str, root_url: str) -> str:
    if url.startswith(("http://", "https://", "//")):
        return url
    return root_url.rstrip("/") + "/" + url.lstrip("/")


def reference_for(obj: models.Model, root_url: str) -> dict[str, Any]:
    """A reference Enterspeed schemas can resolve: the origin id plus a few fields."""
    from wagtail.documents import get_document_model
    from wagtail.images import get_image_model

    if isinstance(obj, AbstractPage):
        return {"id": page_origin_id(obj.pk), "title": obj.title, "url": obj.get_full_url()}
    if isinstance(obj, get_image_model()):
        return {
            "id": image_origin_id(obj.pk),
            "title": obj.title,
            "url": absolute_media_url(obj.file.url, root_url),
            "width": obj.width,
            "height": obj.height,
        }
    if isinstance(obj, get_document_model()):
        return {
            "id": document_origin_id(obj.pk),
            "title": obj.title,
            "url": absolute_media_url(obj.file.url, root_url),
        }
    return {"id": obj.pk, "title": str(obj)}
