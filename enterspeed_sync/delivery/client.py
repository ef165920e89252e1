"""
A small client for Enterspeed's Ingest API v2. It imports no Django, so it can be used and
tested on its own::

    client = EnterspeedClient(api_key="source-…")
    client.save("page-12", {"type": "blogPage", "properties": {"title": "Hello"}})
    client.delete("page-12")

Every failure raises an ``EnterspeedError`` that says whether retrying may help.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

from enterspeed_sync import __version__

DEFAULT_BASE_URL = "https://api.enterspeed.com"
INGEST_PATH = "/ingest/v2"
#: The most entities one bulk save or bulk delete may carry.
BULK_LIMIT = 50
MAX_BODY_IN_ERROR = 4000
#: Enterspeed's own integrations test a key by ingesting ``{}`` under a probe id: a 422
#: (validation failed) means the key was accepted.
CONNECTION_TEST_ORIGIN_ID = "enterspeed-sync-connection-test"

Timeout = float | tuple[float, float]


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


class BulkNotAvailable(EnterspeedHTTPError):
    """
    Enterspeed refused a bulk request as such (a 400 or 404 on ``/ingest/v2``, e.g. "Bulk
    ingest not available for this tenant"): send the entities one request each instead.
    """


def mask_api_key(key: str | None) -> str:
    """Enough of a key to recognise it in logs and the admin, never the whole key."""
    if not key:
        return ""
    return key[:9] + "…" if len(key) > 12 else "…"


def is_retryable_status(status: int) -> bool:
    """The contract: 400/401/403/404/413/422 are final; 429, 5xx and surprises are not."""
    return status not in (400, 401, 403, 404, 413, 422)


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


def encode_body(body: Any) -> bytes:
    """
    The exact bytes sent for ``body``: compact UTF-8 JSON. Bytes, so requests sends a fixed
    Content-Length (Enterspeed refuses chunked bodies); NaN and infinity are refused.
    """
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


class EnterspeedClient:
    """Sends source entities to one Enterspeed source (one API key)."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: Timeout = (5.0, 30.0),
        session: requests.Session | None = None,
        user_agent: str | None = None,
        before_request: Callable[[], None] | None = None,
    ) -> None:
        self.api_key = api_key
        #: Called before every request; it may wait (rate limiting) or raise to stop it.
        self.before_request = before_request
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.user_agent = user_agent or (
            f"enterspeed-sync/{__version__} python-requests/{requests.__version__}"
        )

    def __repr__(self) -> str:
        return f"EnterspeedClient(base_url={self.base_url!r})"

    def __enter__(self) -> EnterspeedClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def save(
        self, origin_id: str, entity: Mapping[str, Any], *, force_type: bool = False
    ) -> IngestResponse:
        """Create or update the entity ``origin_id``. ``force_type`` changes its type
        (destructive on Enterspeed's side: only as an explicit admin action)."""
        headers = {"X-Enterspeed-Force-Type": "true"} if force_type else {}
        response = self._request("POST", origin_id, body=entity, headers=headers)
        return self._result(response)

    def delete(self, origin_id: str) -> IngestResponse:
        """Delete the entity ``origin_id``. An entity that is already gone is a success."""
        try:
            response = self._request("DELETE", origin_id)
        except EnterspeedHTTPError as e:
            if e.status == 404:
                return IngestResponse(status=404, message=e.message, already_gone=True)
            raise
        return self._result(response)

    def save_bulk(self, entities: Sequence[tuple[str, Mapping[str, Any]]]) -> BulkResult:
        """
        Create or update up to ``BULK_LIMIT`` entities in one request (``(origin_id,
        entity)`` pairs). One invalid entity does not fail the others: see ``BulkResult``.
        Raises ``BulkNotAvailable`` when the account takes no bulk requests.
        """
        origin_ids = [origin_id for origin_id, _entity in entities]
        _check_bulk_size(origin_ids)
        body = [{"originId": origin_id, **entity} for origin_id, entity in entities]
        data = self._bulk_request("POST", body)
        accepted = _id_list(data, "changedSourceEntities", "unchangedSourceEntities")
        return _bulk_result(data, origin_ids, accepted)

    def delete_bulk(self, origin_ids: Sequence[str]) -> BulkResult:
        """Delete up to ``BULK_LIMIT`` entities in one request; already gone is a success."""
        origin_ids = list(origin_ids)
        _check_bulk_size(origin_ids)
        data = self._bulk_request("DELETE", {"originIds": origin_ids})
        accepted = _id_list(data, "deletedSourceEntities", "notFoundSourceEntities")
        return _bulk_result(data, origin_ids, accepted)

    def _bulk_request(self, method: str, body: Any) -> dict[str, Any]:
        try:
            response = self._request(method, None, body=body)
        except EnterspeedHTTPError as e:
            if e.status in (400, 404):
                raise BulkNotAvailable(
                    status=e.status,
                    message=e.message,
                    error_code=e.error_code,
                    errors=e.errors,
                    body=e.body,
                ) from e
            if e.status == 422:  # every entity was invalid: the body says why, per entity
                return {"status": 422, "message": e.message, **_json_text(e.body)}
            raise
        return {"status": response.status_code, **self._json(response)}

    def test_connection(self) -> ConnectionTestResult:
        """Check the URL and key without storing anything. Never raises."""
        try:
            response = self._request("POST", CONNECTION_TEST_ORIGIN_ID, body={})
        except EnterspeedHTTPError as e:
            if e.status == 422:
                return ConnectionTestResult(True, 422, "Connected: Enterspeed accepted the key.")
            return ConnectionTestResult(False, e.status, str(e))
        except EnterspeedError as e:
            return ConnectionTestResult(False, None, str(e))
        return ConnectionTestResult(
            True, response.status_code, "Connected: Enterspeed accepted the key."
        )

    def url_for(self, origin_id: str | None) -> str:
        """The ingest URL of one entity, or of the bulk endpoints for None."""
        if origin_id is None:
            return f"{self.base_url}{INGEST_PATH}"
        return f"{self.base_url}{INGEST_PATH}/{quote(origin_id, safe='')}"

    def _headers(self) -> dict[str, str]:
        return {
            "X-Api-Key": self.api_key,
            "Accept": "application/json",
            "User-Agent": self.user_agent,
            "X-Enterspeed-System": f"enterspeed-sync/{__version__}",
        }

    def _request(
        self,
        method: str,
        origin_id: str | None,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        all_headers = {**self._headers(), **(headers or {})}
        data = None
        if body is not None:
            data = encode_body(body)
            all_headers["Content-Type"] = "application/json"
        url = self.url_for(origin_id)
        if self.before_request is not None:
            self.before_request()
        try:
            # Never follow a redirect: it would send the key to another host, and turn a
            # POST into a GET whose 200 looks like success.
            response = self.session.request(
                method,
                url,
                data=data,
                headers=all_headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as e:
            raise EnterspeedConnectionError(
                f"Enterspeed at {self.base_url} did not answer within {self._timeout_text()}: {e}",
                timed_out=True,
            ) from e
        except requests.RequestException as e:
            raise EnterspeedConnectionError(
                f"Could not reach Enterspeed at {self.base_url}: {type(e).__name__}: {e}"
            ) from e
        if 300 <= response.status_code < 400:
            raise EnterspeedRedirectError(
                status=response.status_code,
                location=_location(url, response.headers.get("Location")),
                base_url=self.base_url,
                body=response.text,
            )
        if response.status_code >= 300:
            raise self._http_error(response)
        return response

    def _timeout_text(self) -> str:
        if isinstance(self.timeout, tuple):
            return f"{self.timeout[0]:g} s (connect) / {self.timeout[1]:g} s (read)"
        return f"{self.timeout:g} s"

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {"data": data}

    def _result(self, response: requests.Response) -> IngestResponse:
        data = self._json(response)
        return IngestResponse(
            status=response.status_code, message=str(data.get("message", "")), data=data
        )

    def _http_error(self, response: requests.Response) -> EnterspeedHTTPError:
        data = self._json(response)
        message = data.get("message") or data.get("title") or response.reason or "no message"
        errors = data.get("errors")
        return EnterspeedHTTPError(
            status=response.status_code,
            message=str(message),
            error_code=data.get("errorCode") or data.get("code"),
            errors=errors if isinstance(errors, dict) else {},
            body=response.text,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )


def _location(url: str, header: str | None) -> str:
    """Where a redirect points, made absolute against the request's URL ("" without one)."""
    return urljoin(url, header) if header else ""


def _check_bulk_size(origin_ids: list[str]) -> None:
    if len(origin_ids) > BULK_LIMIT:
        raise ValueError(
            f"A bulk request takes at most {BULK_LIMIT} entities, not {len(origin_ids)}"
        )


def _json_text(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _id_list(data: dict[str, Any], *keys: str) -> list[str] | None:
    """The ids listed under ``keys``; None when the answer has none of those lists."""
    if not any(isinstance(data.get(key), list) for key in keys):
        return None
    return [str(item) for key in keys for item in data.get(key) or ()]


def _bulk_result(
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
    what it reports no error for, unless one of its errors could not be attributed.
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
        accepted = [] if unattributed else [i for i in origin_ids if i not in errors]
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
