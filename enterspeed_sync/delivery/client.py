"""
A small client for Enterspeed's Ingest API v2. It imports no Django, so it can be used and
tested on its own::

    client = EnterspeedClient(api_key="source-…")
    client.save("page-12", {"type": "blogPage", "properties": {"title": "Hello"}})
    client.delete("page-12")

Every failure raises an ``EnterspeedError`` (``delivery.errors``) that says whether retrying
may help; answers are ``delivery.answers``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urljoin

import requests

from enterspeed_sync import __version__
from enterspeed_sync.delivery.answers import (
    BulkResult,
    ConnectionTestResult,
    IngestResponse,
    bulk_result,
    id_list,
    json_text,
)
from enterspeed_sync.delivery.errors import (
    BulkNotAvailable,
    EnterspeedConnectionError,
    EnterspeedError,
    EnterspeedHTTPError,
    EnterspeedRedirectError,
    parse_retry_after,
)

DEFAULT_BASE_URL = "https://api.enterspeed.com"
INGEST_PATH = "/ingest/v2"
#: The most entities one bulk save or bulk delete may carry.
BULK_LIMIT = 50
#: Enterspeed's own integrations test a key by ingesting ``{}`` under a probe id: a 422
#: (validation failed) means the key was accepted.
CONNECTION_TEST_ORIGIN_ID = "enterspeed-sync-connection-test"

Timeout = float | tuple[float, float]


def mask_api_key(key: str | None) -> str:
    """
    Enough of a key to recognise it in logs and the admin, never enough to use it: the
    ``source-`` prefix and the last four characters.
    """
    if not key:
        return ""
    prefix, _sep, rest = key.partition("-")
    if not rest:
        return "…" + key[-4:] if len(key) > 8 else "…"
    return f"{prefix}-…{rest[-4:]}" if len(rest) > 8 else f"{prefix}-…"


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
        accepted = id_list(data, "changedSourceEntities", "unchangedSourceEntities")
        return bulk_result(data, origin_ids, accepted)

    def delete_bulk(self, origin_ids: Sequence[str]) -> BulkResult:
        """Delete up to ``BULK_LIMIT`` entities in one request; already gone is a success."""
        origin_ids = list(origin_ids)
        _check_bulk_size(origin_ids)
        data = self._bulk_request("DELETE", {"originIds": origin_ids})
        accepted = id_list(data, "deletedSourceEntities", "notFoundSourceEntities")
        return bulk_result(data, origin_ids, accepted)

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
                return {"status": 422, "message": e.message, **json_text(e.body)}
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


__all__ = [
    "BULK_LIMIT",
    "CONNECTION_TEST_ORIGIN_ID",
    "DEFAULT_BASE_URL",
    "BulkNotAvailable",
    "BulkResult",
    "ConnectionTestResult",
    "EnterspeedClient",
    "EnterspeedConnectionError",
    "EnterspeedError",
    "EnterspeedHTTPError",
    "EnterspeedRedirectError",
    "IngestResponse",
    "encode_body",
    "mask_api_key",
    "parse_retry_after",
]
