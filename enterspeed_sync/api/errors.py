"""
Every answer of the operations API is JSON, errors included: ``{"error": code, "message":
sentence, "fields": {...}}``, never an HTML page. The exception handlers registered on the
ninja API, the JSON body reader, and the wrapper of each route (405, OPTIONS, HEAD and
no-cache headers, which ninja leaves to the project) live here.
"""

from __future__ import annotations

import json
import logging
from functools import wraps

from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import Http404, JsonResponse
from django.urls import Resolver404, resolve
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import ValidationError

from enterspeed_sync.api.auth import AuthenticationFailed, CSRFFailed, PermissionDenied

logger = logging.getLogger(__name__)

#: Request bodies larger than this are refused (413): no endpoint needs more.
MAX_BODY_BYTES = 64 * 1024
#: JSON nested deeper than this is refused (400) before it is parsed: no endpoint's body
#: nests more than a few levels, and Python's parser recurses once per level.
MAX_JSON_DEPTH = 32
#: The order methods are listed in an ``Allow`` header.
METHOD_ORDER = ("GET", "HEAD", "POST", "DELETE", "OPTIONS")


class APIError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields


class ValidationFailed(APIError):
    def __init__(self, fields: dict, message: str = "The request is not valid."):
        super().__init__(400, "invalid", message, fields)


class NotFound(APIError):
    def __init__(self, message: str = "Not found."):
        super().__init__(404, "not_found", message)


def error_response(status: int, code: str, message: str, fields: dict | None = None):
    body = {"error": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    response = JsonResponse(body, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="enterspeed_sync"'
    return response


def field_errors(exc: ValidationError, unknown: str) -> dict[str, list[str]]:
    """pydantic's errors per field; names the model does not know go to non_field_errors."""
    fields: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        loc = [part for part in error["loc"] if isinstance(part, str)]
        if error["type"] == "extra_forbidden":
            fields.setdefault("non_field_errors", []).append(unknown.format(loc[-1]))
        else:
            message = error["msg"].removeprefix("Value error, ")
            fields.setdefault(loc[0] if loc else "non_field_errors", []).append(message)
    return fields


def validate(model, data: dict, *, unknown: str, message: str):
    """``model`` validated from ``data``, or ValidationFailed (400) naming each bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc, unknown), message) from None


def read_json_body(request) -> dict:
    """The request's JSON object body; an empty body is ``{}``."""
    too_large = APIError(413, "too_large", f"The body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        body = request.body
    except RequestDataTooBig:
        raise too_large from None
    if len(body) > MAX_BODY_BYTES:
        raise too_large
    if not body.strip():
        return {}
    if (request.content_type or "") != "application/json":
        raise APIError(415, "unsupported_media_type", "Send the body as application/json.")
    if json_depth(body) > MAX_JSON_DEPTH:
        raise ValidationFailed({}, f"The body nests deeper than {MAX_JSON_DEPTH} levels.")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValidationFailed({}, f"The body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationFailed({}, "The body must be a JSON object.")
    return data


def refuse_malformed_json(request) -> None:
    """
    For an endpoint without body fields: a body sent as JSON must still be valid JSON
    within the limits (``read_json_body`` says what is wrong, 4xx); any other body (a
    browser's or a test client's empty form) is ignored, as before.
    """
    if (request.content_type or "") == "application/json":
        read_json_body(request)


def json_depth(body: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest, without parsing it (brackets
    inside strings do not count). Malformed JSON gets an answer, and the parser says why."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def register_exception_handlers(api) -> None:
    @api.exception_handler(APIError)
    def api_error(request, exc):
        return error_response(exc.status, exc.code, exc.message, exc.fields)

    @api.exception_handler(AuthenticationFailed)
    @api.exception_handler(AuthenticationError)
    def not_authenticated(request, exc):
        return error_response(401, "not_authenticated", str(exc) or "Authentication required.")

    @api.exception_handler(PermissionDenied)
    def permission_denied(request, exc):
        return error_response(403, "permission_denied", str(exc))

    @api.exception_handler(CSRFFailed)
    def csrf_failed(request, exc):
        return error_response(403, "csrf_failed", str(exc))

    @api.exception_handler(NinjaValidationError)
    def invalid_parameters(request, exc):
        # Only path parameters reach ninja's own validation (the query and body are the
        # endpoints' own): an id out of range, or a malformed seed id, names nothing.
        return error_response(404, "not_found", f"Nothing exists at {request.path}.")

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return error_response(404, "not_found", str(exc) or "Not found.")

    @api.exception_handler(Exception)
    def server_error(request, exc):  # logged in full; the client gets JSON, not HTML
        logger.exception("Operations API error: %s %s", request.method, request.path)
        # Under ATOMIC_REQUESTS the request's transaction would otherwise commit.
        if transaction.get_connection().in_atomic_block:
            transaction.set_rollback(True)
        return error_response(500, "server_error", "Internal error; see the server's log.")


def json_route(view):
    """
    Wrap a ninja route: HEAD is GET without a body, OPTIONS lists the methods, a method
    the route lacks is a JSON 405, and no answer is cached.
    """

    @csrf_exempt
    @wraps(view)
    def route(request, *args, **kwargs):
        method = request.method
        if method == "OPTIONS":
            response = JsonResponse({})
        else:
            request.method = "GET" if method == "HEAD" else method
            response = view(request, *args, **kwargs)
            request.method = method
        if response.status_code == 405 or method == "OPTIONS":
            allowed = allowed_methods(view, request, args, kwargs)
            if method != "OPTIONS":
                response = error_response(
                    405,
                    "method_not_allowed",
                    f"Method {method} is not allowed here; use {', '.join(allowed)}.",
                )
            response["Allow"] = ", ".join(allowed)
        elif method == "HEAD":
            response.content = b""
        add_never_cache_headers(response)
        return response

    return route


def allowed_methods(view, request, args, kwargs) -> list[str]:
    """The route's methods, from the ``Allow`` header of ninja's answer to an unknown one."""
    probe = request.method
    request.method = "TRACE"
    try:
        allowed = set(view(request, *args, **kwargs)["Allow"].replace(" ", "").split(","))
    finally:
        request.method = probe
    if "GET" in allowed:
        allowed.add("HEAD")
    allowed.add("OPTIONS")
    return [method for method in METHOD_ORDER if method in allowed]


@csrf_exempt
def not_found(request, *args, **kwargs):
    """Every other path under the API: a JSON 404, so no HTML page ever answers."""
    message = f"No API endpoint at {request.path}."
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not not_found:
            message += f" Did you mean {request.path}/ (with the trailing slash)?"
    response = error_response(404, "not_found", message)
    add_never_cache_headers(response)
    return response
