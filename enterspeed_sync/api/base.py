"""
The base of every operations API view: method check, authentication, permission, and
errors as JSON (``{"error": code, "message": sentence, "fields": {...}}``), never HTML.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import JsonResponse
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from enterspeed_sync import permissions
from enterspeed_sync.api.auth import AuthenticationFailed, Credentials, CSRFFailed, authenticate

logger = logging.getLogger(__name__)

#: Request bodies larger than this are refused (413): no endpoint needs more.
MAX_BODY_BYTES = 64 * 1024


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


def has_admin_access(user) -> bool:
    """The Wagtail admin's own gate, which every view of the admin area sits behind."""
    return bool(user and user.is_active and user.has_perm("wagtailadmin.access_admin"))


@method_decorator(csrf_exempt, name="dispatch")
class APIView(View):
    """
    Subclasses implement ``get``/``post``/``delete`` returning a JsonResponse or raising
    APIError, and map methods to the admin area's permission tests in ``permission_tests``
    (reading needs ``permissions.can_view``).
    """

    http_method_names = ["get", "head", "post", "delete", "options"]
    permission_tests: dict[str, Callable] = {}
    #: Set for the view's methods: who called.
    credentials: Credentials

    def dispatch(self, request, *args, **kwargs):
        method = request.method.lower()
        handler = getattr(self, method, None) if method in self.http_method_names else None
        if handler is None:
            response = self.http_method_not_allowed(request, *args, **kwargs)
        else:
            response = self._run(request, handler, method, *args, **kwargs)
        add_never_cache_headers(response)
        return response

    def _run(self, request, handler, method, *args, **kwargs):
        if method == "options":
            return handler(request, *args, **kwargs)
        try:
            self.credentials = authenticate(request)
            user = self.credentials.user
            test = self.permission_tests.get(method, permissions.can_view)
            if not (has_admin_access(user) and test(user)):
                raise APIError(403, "permission_denied", self.permission_message(method))
            return handler(request, *args, **kwargs)
        except AuthenticationFailed as exc:
            return error_response(401, "not_authenticated", str(exc))
        except CSRFFailed as exc:
            return error_response(403, "csrf_failed", str(exc))
        except APIError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.fields)
        except Exception:  # logged in full; the client gets JSON, not an HTML page
            logger.exception("Operations API error: %s %s", request.method, request.path)
            # Under ATOMIC_REQUESTS the request's transaction would otherwise commit.
            if transaction.get_connection().in_atomic_block:
                transaction.set_rollback(True)
            return error_response(500, "server_error", "Internal error; see the server's log.")

    def permission_message(self, method: str) -> str:
        test = self.permission_tests.get(method, permissions.can_view)
        needed = {
            permissions.can_view: permissions.VIEW,
            permissions.can_seed: permissions.SEED,
            permissions.can_manage: permissions.MANAGE,
        }.get(test, permissions.VIEW)
        extra = "" if needed == permissions.VIEW else f" and {permissions.APP_LABEL}.{needed}"
        return (
            "You do not have permission: this needs Wagtail admin access, "
            f"{permissions.APP_LABEL}.{permissions.VIEW}{extra}."
        )

    def http_method_not_allowed(self, request, *args, **kwargs):
        allowed = [m.upper() for m in self._allowed_methods()]
        response = error_response(
            405,
            "method_not_allowed",
            f"Method {request.method} is not allowed here; use {', '.join(allowed)}.",
        )
        response["Allow"] = ", ".join(allowed)
        return response

    def options(self, request, *args, **kwargs):
        response = JsonResponse({}, status=200)
        response["Allow"] = ", ".join(m.upper() for m in self._allowed_methods())
        return response

    def read_json_body(self, request) -> dict:
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
        content_type = request.content_type or ""
        if content_type != "application/json":
            raise APIError(415, "unsupported_media_type", "Send the body as application/json.")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValidationFailed({}, f"The body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValidationFailed({}, "The body must be a JSON object.")
        return data


@csrf_exempt
def not_found(request, *args, **kwargs):
    """Every other path under the API: a JSON 404, so no HTML page ever answers."""
    from django.urls import Resolver404, resolve

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
