"""Small, pure helpers for turning Python values into the plain JSON Enterspeed takes."""

from __future__ import annotations

import datetime
import decimal
import json
import re
import uuid
from typing import Any

from django.utils.duration import duration_iso_string
from django.utils.functional import Promise

PROPERTY_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Root-relative href/src attributes ("/about/", not "//cdn…" or "https://…").
RELATIVE_LINK_RE = re.compile(r"""(\s(?:href|src)=)(["'])(/(?!/)[^"']*)\2""")


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
    """
    Plain JSON for Enterspeed: ISO 8601 dates with zone, numbers as numbers, other objects
    by their own ``str()``. Raises TypeError for methods and objects without a ``__str__``.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return duration_iso_string(value)
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, uuid.UUID | Promise):
        return str(value)
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    if isinstance(value, set | frozenset):
        # Sets have no order of their own (string hashes differ per process): sort them.
        return sorted((to_json_value(item) for item in value), key=_sort_key)
    if callable(value) or type(value).__str__ is object.__str__:
        # A method, or an object without a text form of its own: its repr names a memory
        # address, so the payload would change on every send.
        raise TypeError(f"{type(value).__name__} values cannot be sent as JSON.")
    return str(value)


def _sort_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def absolute_url(url: str, base_url: str) -> str:
    """``/media/x.jpg`` → ``https://cdn.example.com/media/x.jpg``; absolute URLs stay as-is."""
    if url.startswith(("http://", "https://", "//")):
        return url
    return base_url.rstrip("/") + "/" + url.lstrip("/")


def absolutize_html(html: str, base_url: str) -> str:
    """Make root-relative ``href``/``src`` attributes absolute."""
    root = base_url.rstrip("/")
    return RELATIVE_LINK_RE.sub(lambda m: f"{m[1]}{m[2]}{root}{m[3]}{m[2]}", html)
