"""
What the ingest client returns: an answer per request, and for bulk requests a verdict per
entity, sorted out of Enterspeed's answer failing safe. No Django here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class IngestResponse:
    status: int
    message: str
    already_gone: bool = False
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BulkResult:
    """
    What Enterspeed said about each entity of a bulk request. ``accepted`` holds the origin
    ids it saved (changed or unchanged) or deleted (or found already gone), ``errors`` a
    readable reason per refused origin id, and ``unreported`` the ids it said nothing about.
    ``unresolved`` holds the ids whose fate the answer leaves open because one of its
    errors names no entity (a field path, say): any of them may be the one refused, so
    none counts as accepted; send them one per request to learn which.
    """

    status: int
    accepted: tuple[str, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)
    unreported: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectionTestResult:
    ok: bool
    status: int | None
    message: str


#: The result lists of a bulk save's and a bulk delete's answer.
SAVE_RESULT_LISTS = ("changedSourceEntities", "unchangedSourceEntities")
DELETE_RESULT_LISTS = ("deletedSourceEntities", "notFoundSourceEntities")


def answer_problem(
    status: int,
    content_type: str,
    text: str,
    *,
    result_lists: tuple[str, ...] = (),
    expected: int = 200,
) -> str | None:
    """
    Why an answer is not Enterspeed's (None: it is), completing "BASE_URL answered
    <status> with …". Enterspeed answers a request it took with 200 and a JSON object:
    ``{"status", "message"}`` for one entity, and for a bulk request (``result_lists``)
    the lists of what it saved or deleted, or the errors per entity. Anything else (an
    HTML page, an empty body, a 204, JSON cut short, JSON that says nothing about the
    entities) comes from something else at BASE_URL, which may well have dropped the
    request: nothing in it counts as accepted. ``expected`` is the status that means
    success here (404 for a delete of an entity already gone, 422 for the connection test).
    """
    media_type = content_type.partition(";")[0].strip().lower()
    if not text.strip():
        return "no body" if status == 204 else "an empty body"
    if not media_type.endswith("json"):
        return media_type or "a body without Content-Type"
    try:
        data = json.loads(text)
    except ValueError:
        return "a truncated or malformed JSON body"
    if not isinstance(data, dict):
        return f"JSON that is not an object ({type(data).__name__})"
    if status != expected:
        return f"a status Enterspeed does not answer with (it answers {expected})"
    if result_lists:
        if id_list(data, *result_lists) is None and not isinstance(data.get("errors"), dict):
            return f"JSON without result lists ({', '.join(result_lists)})"
    elif "status" not in data and "message" not in data:
        return "JSON without Enterspeed's status and message"
    return None


def json_text(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def id_list(data: dict[str, Any], *keys: str) -> list[str] | None:
    """The ids listed under ``keys``; None when the answer has none of those lists."""
    if not any(isinstance(data.get(key), list) for key in keys):
        return None
    return [str(item) for key in keys for item in data.get(key) or ()]


def bulk_result(
    data: dict[str, Any], origin_ids: list[str], accepted: list[str] | None
) -> BulkResult:
    """
    Sort a bulk answer's verdicts onto the origin ids sent, failing safe: only an entity
    the answer accepts, and no error names, counts as accepted.

    Errors may be keyed by origin id or by position (``entities[2]``). A 422 accepts
    nothing; without per-entity errors it refuses everything (the contract: a 422 means
    every entity was invalid). An error keyed by anything else (a field path) cannot be
    attributed: with one entity it is that entity's, with several every entity the answer
    does not list as accepted is ``unresolved``. An answer without result lists accepts
    nothing: what it names no error for is ``unreported`` (sent again).
    """
    status = int(data.get("status") or 200)
    message = str(data.get("message") or "Enterspeed refused the entity")
    raw_errors = data.get("errors") if isinstance(data.get("errors"), dict) else {}
    sent = set(origin_ids)
    errors: dict[str, str] = {}
    unattributed: list[str] = []
    for key, value in raw_errors.items():
        origin_id = str(key)
        if origin_id.startswith("entities[") and origin_id.endswith("]"):
            index = origin_id[len("entities[") : -1]
            if index.isdigit() and int(index) < len(origin_ids):
                origin_id = origin_ids[int(index)]
        if origin_id in sent:
            errors[origin_id] = _error_text(value)
        else:
            unattributed.append(f"{key}: {_error_text(value)}" if key else _error_text(value))
    if unattributed and len(origin_ids) == 1:
        # One entity: the error can only be about it.
        (only,) = origin_ids
        errors[only] = "; ".join(filter(None, [errors.get(only, ""), *unattributed]))
        unattributed = []
    if status == 422:
        accepted = []
        if not errors and not unattributed:
            errors = dict.fromkeys(origin_ids, message)
    elif accepted is None:
        accepted = []
    accepted_set = set(accepted) - set(errors)
    rest = tuple(i for i in origin_ids if i not in accepted_set and i not in errors)
    uncertain = bool(unattributed) or status == 422
    return BulkResult(
        status=status,
        accepted=tuple(origin_id for origin_id in origin_ids if origin_id in accepted_set),
        errors=errors,
        unreported=() if uncertain else rest,
        unresolved=rest if uncertain else (),
        data=data,
    )


def _error_text(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(_error_text(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_error_text(item)}" for key, item in value.items())
    return str(value)
