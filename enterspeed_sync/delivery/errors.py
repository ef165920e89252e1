"""
The errors the ingest client raises. Each says, for people, what Enterspeed answered and,
for the job runner, whether retrying may help (``retryable``). No Django here.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any
from urllib.parse import urlsplit

MAX_BODY_IN_ERROR = 4000


class EnterspeedError(Exception):
    """Base error: ``message`` for people, ``retryable`` for the job runner."""

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable


class EnterspeedConnectionError(EnterspeedError):
    """Enterspeed could not be reached, or did not answer in time. Worth retrying."""

    retryable = True

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class EnterspeedHTTPError(EnterspeedError):
    """Enterspeed answered with an error status."""

    def __init__(
        self,
        *,
        status: int,
        message: str,
        error_code: str | None = None,
        errors: dict[str, Any] | None = None,
        body: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.errors = errors or {}
        self.body = body[:MAX_BODY_IN_ERROR]
        self.retry_after = retry_after
        super().__init__(message, retryable=is_retryable_status(status))

    @property
    def is_auth_error(self) -> bool:
        return self.status in (401, 403)

    def __str__(self) -> str:
        if self.status == 401:
            lead = "Enterspeed refused the API key"
        elif self.status == 403:
            lead = "The API key has no ingest access"
        elif self.status == 429:
            lead = "Enterspeed is rate limiting requests"
        elif self.status >= 500:
            lead = "Enterspeed had a server error"
        else:
            lead = "Enterspeed rejected the request"
        code = f", {self.error_code}" if self.error_code else ""
        text = f"{lead} (HTTP {self.status}{code}): {self.message}"
        details = "; ".join(
            f"{key}: {', '.join(map(str, value)) if isinstance(value, list) else value}"
            for key, value in self.errors.items()
        )
        if details:
            text = f"{text.rstrip('.')}. {details}"
        if self.retry_after is not None:
            text += f" (retry after {self.retry_after:g} s)"
        return text

    def __repr__(self) -> str:
        return f"EnterspeedHTTPError(status={self.status}, error_code={self.error_code!r})"


class EnterspeedRedirectError(EnterspeedHTTPError):
    """
    Enterspeed's ingest API never redirects: a 3xx means ``base_url`` points somewhere else
    (a proxy, a login page, http instead of https). The redirect is never followed, so the
    API key never travels to the other host and a POST never turns into a GET; the request
    fails for good with a message that says where it was sent.
    """

    def __init__(self, *, status: int, location: str, base_url: str, body: str = "") -> None:
        self.location = location
        target = urlsplit(location).netloc or location or "(no Location header)"
        super().__init__(
            status=status,
            message=f"redirect to {target}: check BASE_URL ({base_url}); it was not followed",
            body=body,
        )
        self.retryable = False

    def __str__(self) -> str:
        return f"Enterspeed answered {self.status} {self.message}"


class EnterspeedUnexpectedAnswer(EnterspeedHTTPError):
    """
    An answer Enterspeed never gives (an HTML page, an empty 200, a 204, JSON cut short or
    without a bulk request's result lists): something else answers at ``base_url`` (a
    proxy, a load balancer's default page, a typo'd host), and the request may never have
    reached Enterspeed. Nothing in it counts as accepted. Retried: a wrong upstream may be
    fixed, and then the jobs go through.
    """

    def __init__(self, *, status: int, what: str, base_url: str, body: str = "") -> None:
        self.what = what
        self.base_url = base_url
        super().__init__(status=status, message=f"answered {status} with {what}", body=body)
        self.retryable = True

    def __str__(self) -> str:
        return (
            f"BASE_URL answered {self.status} with {self.what}: is it Enterspeed? "
            f"({self.base_url}; nothing in it counts as accepted, so it is sent again)"
        )


class InvalidAPIKey(EnterspeedError):
    """
    The API key cannot go into the ``X-Api-Key`` header (a line break, a control character,
    a space, a character outside ASCII): a configuration error, raised before any request.
    The message says what is wrong with the key, never the key.
    """

    retryable = False


class BulkNotAvailable(EnterspeedHTTPError):
    """
    Enterspeed refused a bulk request as such (a 400 or 404 on ``/ingest/v2``, e.g. "Bulk
    ingest not available for this tenant"): send the entities one request each instead.
    """


def is_retryable_status(status: int) -> bool:
    """The contract: 400/401/403/404/413/422 are final; 429, 5xx and surprises are not."""
    return status not in (400, 401, 403, 404, 413, 422)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now (it may be seconds or an HTTP date); never < 0."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
