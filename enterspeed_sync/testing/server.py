"""
The HTTP side of the stand-in: a request handler for ``http.server`` that routes, reads
bodies the way the Ingest API does (a fixed ``Content-Length``, JSON, the size limit), and
sends the answer the stand-in decides on.
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from enterspeed_sync.testing.contract import INGEST_PREFIX, bulk_ids, message, too_large
from enterspeed_sync.testing.controls import (
    SWITCHES_PREFIX,
    SwitchRefused,
    apply_switch,
    check_caller,
)
from enterspeed_sync.testing.faults import DROP, SLOW, Failure
from enterspeed_sync.testing.overview import mask_key, overview_html, refused_html
from enterspeed_sync.testing.recording import RecordedRequest

if TYPE_CHECKING:
    from enterspeed_sync.testing.standin import IngestStandIn


class IngestRequestHandler(BaseHTTPRequestHandler):
    """One connection to the stand-in: routing, reading and answering. What an answer
    says is decided by the stand-in (``standin``), its contract and its faults."""

    standin: IngestStandIn
    protocol_version = "HTTP/1.1"
    server_version = "IngestStandIn/1"
    # Send headers and body in one segment: written separately, Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every answer.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the recorded requests are the log

    def handle(self) -> None:
        try:
            super().handle()
        except (OSError, ValueError):
            # The client gave up (its timeout ran out during `latency`) or the server is
            # closing; neither is an error of the stand-in.
            self.close_connection = True

    # Routing --------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/":
            self._send(200, overview_html(self.standin).encode(), "text/html; charset=utf-8")
        elif path == "/_standin/entities":
            data = {mask_key(k): self.standin.entities_for(k) for k in self.standin.api_keys}
            self._send_json(200, data)
        elif path == SWITCHES_PREFIX:
            self._send_json(200, self.standin.switches())
        else:
            self._send_json(404, {"status": 404, "message": "Not found"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith(SWITCHES_PREFIX + "/"):
            self._switch(path[len(SWITCHES_PREFIX) + 1 :])
        else:
            self._ingest("POST")

    def _switch(self, switch: str) -> None:
        """A fault switch from the overview page's forms; back to the page when it is on."""
        raw = self._drain_body() or b""
        try:
            check_caller(
                self.client_address[0], self.headers.get("Host"), self.headers.get("Origin")
            )
            fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
            apply_switch(self.standin, switch, {k: v[-1] for k, v in fields.items()})
        except SwitchRefused as refused:
            page = refused_html(str(refused)).encode()
            return self._send(refused.status, page, "text/html; charset=utf-8")
        return self._send(303, b"", "text/plain", {"Location": "/#faults"})

    def do_DELETE(self) -> None:
        self._ingest("DELETE")

    def _ingest(self, method: str) -> None:
        standin = self.standin
        arrived = time.time()  # when the request arrived, for rate measurements
        path = urlsplit(self.path).path
        if path != INGEST_PREFIX and not path.startswith(INGEST_PREFIX + "/"):
            self._drain_body()
            return self._send_json(404, {"status": 404, "message": "Not found"})
        origin_id = unquote(path[len(INGEST_PREFIX) + 1 :]) or None
        api_key = self.headers.get("X-Api-Key")
        with standin._lock:
            redirect = standin._redirect
            if redirect is not None:
                standin.faults["redirect"] += 1
        if redirect is not None:
            self._drain_body()
            status, target = redirect
            return self._send_json(
                status, message(status, "Moved"), {"Location": target + self.path}
            )
        headers = {k: ("…" if k.lower() == "x-api-key" else v) for k, v in self.headers.items()}
        if (wrong := standin._wrong_answer()) is not None:
            kind, (status, content_type, page) = wrong
            body = json_text(self._drain_body())
            # Not Enterspeed's answer: shown on the page, never among ``requests`` (whose
            # 200s count as accepted), and nothing is stored.
            standin._record_unanswered(
                RecordedRequest(
                    method,
                    path,
                    origin_id,
                    api_key,
                    headers,
                    body,
                    status,
                    {},
                    arrived,
                    fault=f"wrong upstream ({kind})",
                )
            )
            return self._send(status, page, content_type)
        retry_after = standin._throttled(arrived)
        if retry_after is not None:
            raw = self._drain_body()
            response = message(429, "Too many requests")
            body = json_text(raw)
            standin._record(
                RecordedRequest(
                    method,
                    path,
                    origin_id,
                    api_key,
                    headers,
                    body,
                    429,
                    response,
                    arrived,
                    fault="rate limit",
                )
            )
            return self._send_json(429, response, {"Retry-After": retry_after})
        if standin._in_outage():
            with standin._lock:
                standin.faults["outage"] += 1
            standin._record_unanswered(
                RecordedRequest(
                    method, path, origin_id, api_key, headers, None, DROP, {}, arrived, "outage"
                )
            )
            self.close_connection = True
            self.connection.close()
            return None
        status, response, body = self._respond(method, origin_id, api_key)
        if status == DROP:
            standin._record_unanswered(
                RecordedRequest(
                    method, path, origin_id, api_key, headers, body, DROP, {}, arrived, "drop"
                )
            )
            self.close_connection = True
            self.connection.close()
            return None
        fault = response.pop("_fault", "")
        standin._record(
            RecordedRequest(
                method, path, origin_id, api_key, headers, body, status, response, arrived, fault
            )
        )
        extra = {}
        if (retry_after := response.pop("_retry_after", None)) is not None:
            extra["Retry-After"] = retry_after
        self._send_json(status, response, extra)
        return None

    def _respond(
        self, method: str, origin_id: str | None, api_key: str | None
    ) -> tuple[int, dict[str, Any], Any]:
        standin = self.standin
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if chunked:
            self.close_connection = True
            return 400, message(400, "Chunked transfer encoding is not supported"), None
        raw = self._drain_body()
        if raw is None:
            return 413, too_large(standin.max_body_bytes), None
        if api_key not in standin.api_keys:
            return 401, message(401, "Unauthorized: missing or invalid X-Api-Key"), None
        body = None
        if method == "POST" or raw:
            if method == "POST" and "Content-Length" not in self.headers:
                return 400, message(400, "Content-Length is required"), None
            content_type = self.headers.get("Content-Type", "")
            if not content_type.startswith("application/json"):
                return 400, message(400, "Content-Type must be application/json"), None
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                return 400, message(400, "The body is not valid JSON"), None
        ids = [origin_id] if origin_id else bulk_ids(body)
        for tracked in ids:
            standin._track(tracked, 1)
        try:
            if standin.latency:
                time.sleep(standin.latency)
            return self._apply(method, origin_id, api_key, body, ids)
        finally:
            for tracked in ids:
                standin._track(tracked, -1)

    def _apply(
        self, method: str, origin_id: str | None, api_key: str, body: Any, ids: list
    ) -> tuple[int, dict[str, Any], Any]:
        standin = self.standin
        failure = standin._take_failure(ids)
        if failure == "slow":
            time.sleep(standin._plan.slow_seconds if standin._plan else 3.0)
            failure = None
        elif isinstance(failure, Failure) and failure.status == SLOW:
            time.sleep(failure.seconds)
            failure = None
        if failure is not None:
            response = failure.body or message(failure.status, "Injected failure")
            response = {**response, "_fault": "injected"}
            if failure.retry_after is not None:
                response["_retry_after"] = failure.retry_after
            return failure.status, response, body
        if origin_id is None:
            return (*standin._bulk(method, api_key, body), body)
        if method == "POST":
            force = self.headers.get("X-Enterspeed-Force-Type", "").lower() == "true"
            return (*standin._save(api_key, origin_id, body, force), body)
        return (*standin._delete(api_key, origin_id), body)

    # I/O ------------------------------------------------------------------------------

    def _drain_body(self) -> bytes | None:
        """The request body; None when it is over the size limit (read and discarded)."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if length > self.standin.max_body_bytes:
            return None
        return raw

    def _send_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", headers)

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def json_text(raw: bytes | None) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return None
