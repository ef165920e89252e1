"""
Who is calling the operations API: a bearer token (``Authorization: Bearer esync_…``) or
the Wagtail admin session. Token requests ignore the session and need no CSRF token, since
a browser never adds the header on its own; session requests that change something must
pass Django's CSRF check, as the admin's own forms do.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.middleware.csrf import CsrfViewMiddleware

from enterspeed_sync.api.tokens import find_active_token
from enterspeed_sync.models import APIToken

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuthenticationFailed(Exception):
    """The request carried credentials that do not work (401), or none at all."""


class CSRFFailed(Exception):
    """A session request that changes something failed the CSRF check (403)."""


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
