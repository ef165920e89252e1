"""
The Ingest API contract as the stand-in enforces it: limits, entity validation and the
error bodies Enterspeed answers with (docs/testing.md lists what it checks).

Written from the contract, not from this app: it imports nothing from the product, so a
mapper or client that drifts from the contract fails here instead of agreeing with itself.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

INGEST_PREFIX = "/ingest/v2"
BULK_LIMIT = 50
PROPERTY_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ENTITY_KEYS = {"type", "url", "redirects", "originParentId", "properties"}


def validate_entity(entity: Any, *, max_properties: int) -> dict[str, str]:
    """Contract checks for one entity body; returns ``{field path: message}``."""
    if not isinstance(entity, dict):
        return {"": "The body must be a JSON object"}
    errors: dict[str, str] = {}
    for key in sorted(set(entity) - ENTITY_KEYS - {"originId"}):
        errors[key] = "Unknown field"
    if not isinstance(entity.get("type"), str) or not entity.get("type"):
        errors["type"] = "Type is required"
    url = entity.get("url")
    if url is not None and not (
        isinstance(url, str) and (url.startswith("/") or urlsplit(url).scheme in ("http", "https"))
    ):
        errors["url"] = "Url must be absolute (http/https) or start with /"
    redirects = entity.get("redirects")
    if redirects is not None and not (
        isinstance(redirects, list) and all(isinstance(r, str) for r in redirects)
    ):
        errors["redirects"] = "Redirects must be an array of strings"
    parent = entity.get("originParentId")
    if parent is not None and not isinstance(parent, str):
        errors["originParentId"] = "OriginParentId must be a string"
    properties = entity.get("properties", {})
    if not isinstance(properties, dict):
        errors["properties"] = "Properties must be an object"
        return errors
    if len(properties) > max_properties:
        errors["properties"] = f"An entity can have at most {max_properties} properties"
    for name in properties:
        if name[:1].isdigit():
            errors[f"properties.{name}"] = "Property name cannot start with a digit"
        elif not name.strip("_"):
            errors[f"properties.{name}"] = "Property name cannot consist of only underscores"
        elif not PROPERTY_NAME_RE.fullmatch(name):
            errors[f"properties.{name}"] = "Property name can only contain A-Z, a-z, 0-9 and _"
    return errors


def invalid(errors: dict[str, str]) -> dict[str, Any]:
    return {"status": 422, "message": "Invalid request", "errorCode": "s-1001", "errors": errors}


def message(status: int, message: str) -> dict[str, Any]:
    return {"status": status, "message": message}


#: What Enterspeed says with each error status the stand-in's page can switch on.
ERROR_MESSAGES = {
    401: "Unauthorized: missing or invalid X-Api-Key",
    403: "Forbidden: the API key does not grant ingest access",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def error_answer(status: int) -> dict[str, Any]:
    """The body Enterspeed answers ``status`` with; a 422 names no entity (a field path),
    as a validation error does."""
    if status == 422:
        return invalid({"properties": "Refused by the stand-in's fault switch"})
    return message(status, ERROR_MESSAGES.get(status, "Error"))


def too_large(limit: int) -> dict[str, Any]:
    return {
        "status": 413,
        "message": f"Source entity size exceeds the limit of {limit} bytes",
        "errorCode": "s-1007",
    }


def bulk_error(
    keys: str, index: int, origin_id: str, errors: dict[str, str]
) -> dict[str, list[str]]:
    """One refused entity's errors in a bulk answer, keyed as ``keys`` says."""
    if keys == "path":
        return {path: [message] for path, message in errors.items()}
    key = f"entities[{index}]" if keys == "index" else origin_id
    return {key: [f"{k}: {v}" for k, v in errors.items()]}


def bulk_ids(body: Any) -> list[str | None]:
    """The origin ids a bulk body names (a save's entities, or a delete's ``originIds``)."""
    if isinstance(body, list):
        return [e.get("originId") for e in body if isinstance(e, dict)]
    if isinstance(body, dict) and isinstance(body.get("originIds"), list):
        return list(body["originIds"])
    return []
