"""
Pre-flight checks of an entity against the ingest contract, before any request is made. A
publish handler fails the job with these problems (``EntityValidationError``, naming the
field) instead of spending a request that would come back as a 413 or 422.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from enterspeed_sync.conf import conf
from enterspeed_sync.delivery.client import encode_body
from enterspeed_sync.mapping.values import is_valid_property_name


def find_problems(
    entity: Any, *, max_bytes: int | None = None, max_properties: int | None = None
) -> dict[str, str]:
    """
    ``{field path: what is wrong}`` for one entity body; empty when it can be sent. The
    limits default to ``MAX_PAYLOAD_BYTES`` and ``MAX_PROPERTIES``.
    """
    max_bytes = conf.MAX_PAYLOAD_BYTES if max_bytes is None else max_bytes
    max_properties = conf.MAX_PROPERTIES if max_properties is None else max_properties
    if not isinstance(entity, dict):
        return {"": "the entity must be a JSON object"}
    problems: dict[str, str] = {}
    if not entity.get("type") or not isinstance(entity["type"], str):
        problems["type"] = "a non-empty string is required"
    url = entity.get("url")
    if url is not None and not _is_valid_url(url):
        problems["url"] = f"{url!r} is neither absolute (http/https) nor starting with /"
    redirects = entity.get("redirects", [])
    if not isinstance(redirects, list) or not all(_is_valid_url(r) for r in redirects):
        problems["redirects"] = "must be a list of absolute or root-relative URLs"
    properties = entity.get("properties", {})
    if not isinstance(properties, dict):
        return {**problems, "properties": "must be a JSON object"}
    if len(properties) > max_properties:
        problems["properties"] = (
            f"{len(properties)} properties, more than the limit of {max_properties}"
        )
    for name in properties:
        if not is_valid_property_name(name):
            problems[f"properties.{name}"] = (
                "property names may only contain A-Z, a-z, 0-9 and _, must not start with a "
                "digit and must not be only underscores"
            )
    try:
        size = len(encode_body(entity))
    except (TypeError, ValueError) as e:
        problems[""] = f"not plain JSON: {e}"
        return problems
    if size > max_bytes:
        problems[""] = (
            f"{size:,} bytes, more than the limit of {max_bytes:,} bytes; largest properties: "
            + ", ".join(f"{name} ({n:,} bytes)" for name, n in _largest(properties))
        )
    return problems


def _is_valid_url(url: Any) -> bool:
    return isinstance(url, str) and (
        url.startswith("/") or urlsplit(url).scheme in ("http", "https")
    )


def _largest(properties: dict[str, Any], count: int = 3) -> list[tuple[str, int]]:
    sizes = []
    for name, value in properties.items():
        try:
            sizes.append((name, len(encode_body(value))))
        except (TypeError, ValueError):
            continue
    return sorted(sizes, key=lambda item: -item[1])[:count]
