"""
A small client for Enterspeed's Ingest API v2. It imports no Django, so it can be used and
tested on its own::

    client = EnterspeedClient(api_key="source-…")
    client.save("page-12", {"type": "blogPage", "properties": {"title": "Hello"}})
    client.delete("page-12")

Every failure raises an ``EnterspeedError`` (``delivery.errors``) that says whether retrying
may help; answers are ``delivery.answers``. Only Enterspeed's own answer counts as accepted
(``answers.answer_problem``): anything else at the base URL is an error that says so.

The API key goes into the ``X-Api-Key`` header and nowhere else: a key that cannot go into
a header is refused before anything is sent (``InvalidAPIKey``), and every error text this
client builds, from an exception or from an answer, has the key masked out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urljoin

import requests

from enterspeed_sync import __version__
from enterspeed_sync.defaults import DEFAULT_BASE_URL
from enterspeed_sync.delivery.answers import (
    DELETE_RESULT_LISTS,
    SAVE_RESULT_LISTS,
    BulkResult,
    ConnectionTestResult,
    IngestResponse,
    answer_problem,
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
    EnterspeedUnexpectedAnswer,
    InvalidAPIKey,
    parse_retry_after,
)

INGEST_PATH = "/ingest/v2"
#: The most entities one bulk save or bulk delete may carry.
BULK_LIMIT = 50
#: Enterspeed's own integrations test a key by ingesting ``{}`` under a probe id: a 422
#: (validation failed) means the key was accepted.
CONNECTION_TEST_ORIGIN_ID = "enterspeed-sync-connection-test"

Timeout = float | tuple[float, float]

#: What a key may contain: visible ASCII. Enterspeed's keys are ``source-<guid>``; anything
#: else is a key read with a stray character (a file's newline, a pasted space).
_KEY_CHARACTERS = re.compile(r"[\x21-\x7e]+")
#: Pieces of a key this long or longer are masked out of error texts on their own too.
_MIN_KEY_PIECE = 8


def mask_api_key(key: str | None) -> str:
    """
    Enough of a key to recognise it in logs and the admin, never enough to use it: the
    ``source-`` prefix and the last four characters.
    """
    if not key:
        return ""
    prefix, _sep, rest = key.partition("-")
    if not rest:
        return "…" + _visible(key[-4:]) if len(key) > 8 else "…"
    return (
        f"{_visible(prefix)}-…{_visible(rest[-4:])}" if len(rest) > 8 else f"{_visible(prefix)}-…"
    )


def _visible(text: str) -> str:
    """``text`` with every character a header (or a PostgreSQL text column: NUL) cannot
    hold shown as ``?``: a hint of a key with a stray character stays printable."""
    return "".join(c if "\x21" <= c <= "\x7e" else "?" for c in text)


def key_problem(key: str) -> str | None:
    """
    Why ``key`` cannot be sent as the ``X-Api-Key`` header, or None. Says what kind of
    character is wrong, never which one or where: the text goes to logs and the admin.
    """
    if not key or _KEY_CHARACTERS.fullmatch(key):
        return None
    if key != key.strip():
        return "it starts or ends with whitespace (a space or a line break)"
    if "\n" in key or "\r" in key:
        return "it contains a line break"
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in key):
        return "it contains a control character"
    if any(ord(character) > 0x7E for character in key):
        return "it contains a character outside ASCII"
    return "it contains whitespace"


def scrub_key(text: str, key: str) -> str:
    """``text`` with ``key`` masked out: as it is, escaped as a repr shows it, and each
    long piece of it between stray characters (an error may quote one line of it)."""
    if not key or not text:
        return text
    masked = mask_api_key(key.strip()) or "…"
    escaped = repr(key)[1:-1]
    pieces = [piece for piece in re.split(r"[^\x21-\x7e]+", key) if len(piece) >= _MIN_KEY_PIECE]
    for secret in sorted({key, escaped, *pieces}, key=len, reverse=True):
        if len(secret) >= 4 or secret == key:
            text = text.replace(secret, masked)
    return text


def scrub_data(value: Any, key: str) -> Any:
    """``scrub_key`` through the strings of a JSON value (an answer's ``errors``)."""
    if isinstance(value, str):
        return scrub_key(value, key)
    if isinstance(value, list):
        return [scrub_data(item, key) for item in value]
    if isinstance(value, dict):
        return {scrub_key(str(k), key): scrub_data(item, key) for k, item in value.items()}
    return value


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
        """Delete the entity ``origin_id``. An entity that is already gone is a success,
        when Enterspeed says so (a 404 page of something else at the URL is not)."""
        response = self._request("DELETE", origin_id, answered=(404,))
        if response.status_code == 404:
            data = self._answer(response, expected=404)
            message = str(data.get("message") or "No entity found with that id")
            return IngestResponse(status=404, message=message, already_gone=True, data=data)
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
        data = self._bulk_request("POST", body, SAVE_RESULT_LISTS)
        accepted = id_list(data, *SAVE_RESULT_LISTS)
        return bulk_result(data, origin_ids, accepted)

    def delete_bulk(self, origin_ids: Sequence[str]) -> BulkResult:
        """Delete up to ``BULK_LIMIT`` entities in one request; already gone is a success."""
        origin_ids = list(origin_ids)
        _check_bulk_size(origin_ids)
        data = self._bulk_request("DELETE", {"originIds": origin_ids}, DELETE_RESULT_LISTS)
        accepted = id_list(data, *DELETE_RESULT_LISTS)
        return bulk_result(data, origin_ids, accepted)

    def _bulk_request(
        self, method: str, body: Any, result_lists: tuple[str, ...]
    ) -> dict[str, Any]:
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
        return {"status": response.status_code, **self._answer(response, result_lists)}

    def test_connection(self) -> ConnectionTestResult:
        """Check the URL and key without storing anything: connected only when Enterspeed
        itself answers (its 422 for the empty entity). Never raises."""
        try:
            response = self._request("POST", CONNECTION_TEST_ORIGIN_ID, body={}, answered=(422,))
            if response.status_code == 422:
                self._answer(response, expected=422)
            else:
                self._result(response)
        except EnterspeedHTTPError as e:
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
        answered: tuple[int, ...] = (),
    ) -> requests.Response:
        """Send one request; a 3xx, and an error status not in ``answered``, raise."""
        if problem := key_problem(self.api_key):
            raise InvalidAPIKey(
                f"The API key cannot be sent in the X-Api-Key header: {problem}. Nothing "
                "was sent; fix the key in the settings."
            )
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
            raise self._connection_error(
                e,
                f"Enterspeed at {self.base_url} did not answer within {self._timeout_text()}",
                timed_out=True,
            ) from None
        except requests.RequestException as e:
            raise self._connection_error(
                e, f"Could not reach Enterspeed at {self.base_url}"
            ) from None
        except Exception as e:  # noqa: BLE001  (its text may quote the key: masked)
            text = self._scrub(f"{type(e).__name__}: {e}")
            raise EnterspeedError(f"The request to {self.base_url} failed: {text}") from None
        if 300 <= response.status_code < 400:
            raise EnterspeedRedirectError(
                status=response.status_code,
                location=_location(url, response.headers.get("Location")),
                base_url=self.base_url,
                body=self._scrub(response.text),
            )
        if response.status_code >= 300 and response.status_code not in answered:
            raise self._http_error(response)
        return response

    def _scrub(self, text: str) -> str:
        return scrub_key(text, self.api_key)

    def _connection_error(
        self, exc: Exception, lead: str, *, timed_out: bool = False
    ) -> EnterspeedConnectionError:
        """The error for a request that got no answer, its text masked of the key. Raised
        ``from None``: the original exception's text may quote the key (``requests``
        refusing a header quotes it whole), and a chained cause would carry it into logs.
        The exception's type and masked text say what happened."""
        text = self._scrub(f"{type(exc).__name__}: {exc}" if not timed_out else str(exc))
        return EnterspeedConnectionError(f"{lead}: {text}", timed_out=timed_out)

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

    def _answer(
        self, response: requests.Response, result_lists: tuple[str, ...] = (), expected: int = 200
    ) -> dict[str, Any]:
        """The answer's JSON object when it is Enterspeed's answer (``answer_problem``);
        else ``EnterspeedUnexpectedAnswer``, which says what came instead."""
        what = answer_problem(
            response.status_code,
            response.headers.get("Content-Type", ""),
            response.text,
            result_lists=result_lists,
            expected=expected,
        )
        if what is not None:
            raise EnterspeedUnexpectedAnswer(
                status=response.status_code,
                what=what,
                base_url=self.base_url,
                body=self._scrub(response.text),
            )
        return scrub_data(self._json(response), self.api_key)

    def _result(self, response: requests.Response) -> IngestResponse:
        data = self._answer(response)
        return IngestResponse(
            status=response.status_code, message=str(data.get("message", "")), data=data
        )

    def _http_error(self, response: requests.Response) -> EnterspeedHTTPError:
        data = scrub_data(self._json(response), self.api_key)
        message = data.get("message") or data.get("title") or response.reason or "no message"
        errors = data.get("errors")
        return EnterspeedHTTPError(
            status=response.status_code,
            message=self._scrub(str(message)),
            error_code=data.get("errorCode") or data.get("code"),
            errors=errors if isinstance(errors, dict) else {},
            body=self._scrub(response.text),
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
    "EnterspeedUnexpectedAnswer",
    "IngestResponse",
    "InvalidAPIKey",
    "encode_body",
    "key_problem",
    "mask_api_key",
    "parse_retry_after",
    "scrub_key",
]
