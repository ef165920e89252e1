"""
Who is calling the operations API, and may they: a bearer token (``Authorization: Bearer
esync_…``) or the Wagtail admin session, then the admin area's permissions. Token requests
ignore the session and need no CSRF token, since a browser never adds the header on its
own; session requests that change something must pass Django's CSRF check, as the admin's
own forms do.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.middleware.csrf import CsrfViewMiddleware
from ninja.security import APIKeyCookie, HttpBearer

from enterspeed_sync import permissions
from enterspeed_sync.api.tokens import find_active_token
from enterspeed_sync.models import APIToken

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuthenticationFailed(Exception):
    """The request carried credentials that do not work (401), or none at all."""


class CSRFFailed(Exception):
    """A session request that changes something failed the CSRF check (403)."""


class PermissionDenied(Exception):
    """The caller is who they say, but lacks a permission (403)."""


@dataclass(frozen=True)
class Credentials:
    user: object
    #: The token used, or None for a session.
    token: APIToken | None = None

    @property
    def via(self) -> str:
        return "token" if self.token is not None else "session"


def authenticate(request) -> Credentials:
    """The caller of ``request``; raises AuthenticationFailed or CSRFFailed."""
    header = request.headers.get("Authorization")
    if header is not None:
        return Credentials(*_authenticate_token(header))
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        raise AuthenticationFailed(
            "Authentication required: send 'Authorization: Bearer <token>' or log in to "
            "the Wagtail admin."
        )
    if request.method not in SAFE_METHODS:
        _enforce_csrf(request)
    return Credentials(user)


def _authenticate_token(header: str):
    scheme, _sep, raw = header.strip().partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw or " " in raw:
        raise AuthenticationFailed(
            "The Authorization header must be 'Bearer <token>' with one token."
        )
    token = find_active_token(raw)
    if token is None:
        raise AuthenticationFailed("The token is unknown, revoked or expired.")
    if not token.user.is_active:
        raise AuthenticationFailed("The token's user is inactive.")
    return token.user, token


def _enforce_csrf(request) -> None:
    # The views are csrf_exempt (tokens need no CSRF token), so Django's middleware let
    # the request through; run the same check here for session requests.
    check = CsrfViewMiddleware(lambda request: None)
    check.process_request(request)
    rejection = check.process_view(request, None, (), {})
    if rejection is not None:
        raise CSRFFailed(
            "CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken header, "
            "or authenticate with a token."
        )


# The API's access rules as ninja auth callbacks: ninja runs them before it reads any
# parameter, and documents each as a security scheme. Authentication and the permission
# test happen together, so a caller without permission never learns more than a 403.


def has_admin_access(user) -> bool:
    """The Wagtail admin's own gate, which every view of the admin area sits behind."""
    return bool(user and user.is_active and user.has_perm("wagtailadmin.access_admin"))


class Access:
    """Who may call an operation: the permission test of the admin area it needs."""

    def __init__(self, test, codenames: tuple[str, ...]):
        self.test = test
        self.codenames = codenames

    def check(self, request) -> Credentials:
        credentials = authenticate(request)
        if not (has_admin_access(credentials.user) and self.test(credentials.user)):
            needed = " and ".join(f"{permissions.APP_LABEL}.{name}" for name in self.codenames)
            raise PermissionDenied(
                f"You do not have permission: this needs Wagtail admin access, {needed}."
            )
        return credentials


class BearerToken(HttpBearer):
    """``Authorization: Bearer esync_…`` (``manage.py enterspeed_api_token create``)."""

    def __init__(self, access: Access):
        super().__init__()
        self.access = access

    def __call__(self, request):
        if "Authorization" not in request.headers:
            return None  # the session's turn
        return self.access.check(request)

    def authenticate(self, request, token):  # the work is done in __call__
        raise NotImplementedError


class AdminSession(APIKeyCookie):
    """The Wagtail admin's session cookie; writes need the CSRF token too."""

    def __init__(self, access: Access):
        super().__init__(csrf=False)
        self.access = access

    @property
    def param_name(self) -> str:
        return settings.SESSION_COOKIE_NAME

    def __call__(self, request):
        return self.access.check(request)

    def authenticate(self, request, key):  # the work is done in __call__
        raise NotImplementedError


def requires(test, *codenames: str) -> list:
    """The ``auth`` of an operation that needs ``test`` (from ``permissions``) to pass."""
    access = Access(test, (permissions.VIEW, *codenames))
    return [BearerToken(access), AdminSession(access)]
