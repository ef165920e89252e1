"""
A stand-in for Enterspeed's Ingest API v2: a real HTTP server on loopback that validates
requests the way the contract describes, keeps what it received, and can be told to fail.
Use it in your project's tests::

    from enterspeed_sync.testing import IngestStandIn

    with IngestStandIn(api_keys=["source-test"]) as standin:
        with override_settings(ENTERSPEED_SYNC={"API_KEY": "source-test",
                                                "BASE_URL": standin.url}):
            page.save_revision().publish()
            call_command("enterspeed_process")
        assert standin.entities[f"page-{page.pk}"]["type"] == "blogPage"

Or run it on its own: ``python -m enterspeed_sync.testing --port 8765 --api-key source-x``
and open http://127.0.0.1:8765/ to see what arrived.

It imports no Django.
"""

from __future__ import annotations

import argparse
import copy
import html
import json
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

INGEST_PREFIX = "/ingest/v2"
BULK_LIMIT = 50
PROPERTY_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ENTITY_KEYS = {"type", "url", "redirects", "originParentId", "properties"}


@dataclass
class RecordedRequest:
    method: str
    path: str
    origin_id: str | None
    api_key: str | None
    headers: dict[str, str]
    body: Any
    status: int
    response: dict[str, Any]
    #: When the request arrived (``time.time()``).
    timestamp: float = field(default_factory=time.time)

    @property
    def origin_ids(self) -> list[str]:
        """The entities the request is about: its own, or those of a bulk body."""
        if self.origin_id:
            return [self.origin_id]
        return [str(origin_id) for origin_id in _bulk_ids(self.body) if origin_id]

    @property
    def accepted_ids(self) -> list[str]:
        """The entities the request saved or deleted (a delete of a missing one counts)."""
        if self.origin_id:
            ok = self.status == 200 or (self.method == "DELETE" and self.status == 404)
            return [self.origin_id] if ok else []
        if self.status != 200:
            return []
        keys = (
            ("changedSourceEntities", "unchangedSourceEntities")
            if self.method == "POST"
            else ("deletedSourceEntities", "notFoundSourceEntities")
        )
        return [str(i) for key in keys for i in self.response.get(key) or ()]

    def entity(self, origin_id: str) -> Any:
        """The body sent for ``origin_id`` (a bulk save carries it among others)."""
        if self.origin_id == origin_id:
            return self.body
        for item in self.body if isinstance(self.body, list) else ():
            if isinstance(item, dict) and item.get("originId") == origin_id:
                return item
        return None


#: ``_Failure.status`` of a dropped connection: the request is read, no answer is sent.
DROP = 0
#: ``_Failure.status`` of a slow answer: applied and answered after ``seconds``.
SLOW = -1


@dataclass
class _Failure:
    status: int
    remaining: int
    body: dict[str, Any] | None
    retry_after: str | None
    origin_id: str | None
    seconds: float = 0.0


@dataclass
class FaultPlan:
    """Random faults: each ingest request fails with probability ``rate``, the kind picked
    by ``weights`` (``429``, ``500``, ``503``, ``drop``, ``slow``)."""

    rate: float
    weights: dict[str, float]
    retry_after: str = "1"
    slow_seconds: float = 3.0
    rng: random.Random = field(default_factory=random.Random)


def mask_key(key: str | None) -> str:
    """As the admin shows keys ("source-…cdef"); a short test key keeps its ends readable
    ("source-l…l"), so two stand-in keys never look alike."""
    if not key:
        return ""
    prefix, sep, rest = key.partition("-") if "-" in key else ("", "", key)
    if len(rest) > 8:
        return f"{prefix}{sep}…{rest[-4:]}"
    return f"{prefix}{sep}{rest[0]}…{rest[-1]}" if len(rest) > 2 else f"{prefix}{sep}{rest[:1]}…"


def validate_entity(entity: Any, *, max_properties: int) -> dict[str, str]:
    """Contract checks for one entity body; returns ``{field path: message}``."""
    if not isinstance(entity, dict):
        return {"": "The body must be a JSON object"}
    errors: dict[str, str] = {}
    for key in sorted(set(entity) - ENTITY_KEYS - {"originId"}):
        errors[key] = "Unknown field"
    if not isinstance(entity.get("type"), str) or not entity.get("type"):
        errors["type"] = "Type is required"
    url = entity.get("url")
    if url is not None and not (
        isinstance(url, str) and (url.startswith("/") or urlsplit(url).scheme in ("http", "https"))
    ):
        errors["url"] = "Url must be absolute (http/https) or start with /"
    redirects = entity.get("redirects")
    if redirects is not None and not (
        isinstance(redirects, list) and all(isinstance(r, str) for r in redirects)
    ):
        errors["redirects"] = "Redirects must be an array of strings"
    parent = entity.get("originParentId")
    if parent is not None and not isinstance(parent, str):
        errors["originParentId"] = "OriginParentId must be a string"
    properties = entity.get("properties", {})
    if not isinstance(properties, dict):
        errors["properties"] = "Properties must be an object"
        return errors
    if len(properties) > max_properties:
        errors["properties"] = f"An entity can have at most {max_properties} properties"
    for name in properties:
        if name[:1].isdigit():
            errors[f"properties.{name}"] = "Property name cannot start with a digit"
        elif not name.strip("_"):
            errors[f"properties.{name}"] = "Property name cannot consist of only underscores"
        elif not PROPERTY_NAME_RE.fullmatch(name):
            errors[f"properties.{name}"] = "Property name can only contain A-Z, a-z, 0-9 and _"
    return errors


class IngestStandIn:
    """A contract-faithful ingest server on loopback. Each API key is its own source."""

    def __init__(
        self,
        *,
        api_keys: Iterable[str] = ("source-standin",),
        host: str = "127.0.0.1",
        port: int = 0,
        max_body_bytes: int = 1_048_576,
        max_properties: int = 5000,
        bulk_enabled: bool = True,
        bulk_error_keys: str = "origin_id",
        bulk_atomic: bool = False,
    ) -> None:
        self.api_keys = list(api_keys)
        if not self.api_keys:
            raise ValueError("IngestStandIn needs at least one API key")
        self.host = host
        self.port = port
        self.max_body_bytes = max_body_bytes
        self.max_properties = max_properties
        self.bulk_enabled = bulk_enabled
        if bulk_error_keys not in ("origin_id", "index", "path"):
            raise ValueError("bulk_error_keys is 'origin_id', 'index' or 'path'")
        #: How a bulk answer keys its errors: by ``originId``, by position
        #: (``entities[2]``), or by field path (``properties.title``: no entity named).
        self.bulk_error_keys = bulk_error_keys
        #: A bulk save with one invalid entity is refused whole (422, nothing saved).
        self.bulk_atomic = bulk_atomic
        #: Seconds to wait before answering each ingest request.
        self.latency = 0.0
        #: Ingest requests per second the "tenant" takes (0: no limit); more get a 429.
        self.rate_limit = 0.0
        self._arrivals: deque[float] = deque()
        self._throttle_every = 0
        self._throttle_retry_after = "1"
        self._throttle_count = 0
        self._lock = threading.RLock()
        self._sources: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in self.api_keys}
        self._requests: list[RecordedRequest] = []
        self._failures: list[_Failure] = []
        self._rejections: dict[str, dict[str, str]] = {}
        self._plan: FaultPlan | None = None
        self._outage = False
        #: (status, target base URL) while every ingest request is redirected.
        self._redirect: tuple[int, str] | None = None
        #: Faults injected so far, by kind ("429", "500", "drop", "slow", "outage", …).
        self.faults: Counter[str] = Counter()
        self._in_flight: Counter[str] = Counter()
        #: The most requests for one origin id that were ever in flight at once.
        self.max_overlap = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Life cycle ---------------------------------------------------------------------

    def start(self) -> IngestStandIn:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="IngestStandIn", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> IngestStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # What arrived -------------------------------------------------------------------

    @property
    def entities(self) -> dict[str, dict[str, Any]]:
        """What the first key's source holds now: origin id → entity (a copy)."""
        return self.entities_for(self.api_keys[0])

    def entity_count(self, api_key: str | None = None) -> int:
        """How many entities a source holds (cheap: nothing is copied)."""
        with self._lock:
            return len(self._sources[api_key or self.api_keys[0]])

    def entities_for(self, api_key: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._sources[api_key])

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def wait_for(self, predicate: Callable[[IngestStandIn], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.05)
        return predicate(self)

    def clear_requests(self) -> None:
        """Forget the recorded requests; the sources keep their entities."""
        with self._lock:
            self._requests.clear()

    def reset(self) -> None:
        with self._lock:
            for source in self._sources.values():
                source.clear()
            self._requests.clear()
            self._failures.clear()
            self._rejections.clear()
            self._plan = None
            self._outage = False
            self._redirect = None
            self._throttle_every = 0
            self.latency = 0.0
            self.faults.clear()
            self.max_overlap = 0

    # Failure injection --------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        body: dict[str, Any] | None = None,
        retry_after: str | int | None = None,
        origin_id: str | None = None,
    ) -> None:
        """Answer the next ``count`` ingest requests (for ``origin_id`` only, if given)
        with ``status``."""
        with self._lock:
            self._failures.append(
                _Failure(
                    status,
                    count,
                    body,
                    None if retry_after is None else str(retry_after),
                    origin_id,
                )
            )

    def reject_entity(self, origin_id: str, errors: dict[str, str]) -> None:
        """Refuse every save of ``origin_id`` with a 422 and ``errors`` (in a bulk save,
        only that entity), until ``reset()`` or ``faults_off()``."""
        with self._lock:
            self._rejections[origin_id] = dict(errors)

    def slow_next(self, seconds: float, *, count: int = 1, origin_id: str | None = None) -> None:
        """Apply and answer the next ``count`` ingest requests only after ``seconds``: past
        the client's timeout, the change still lands, late (as a slow server's would)."""
        with self._lock:
            self._failures.append(_Failure(SLOW, count, None, None, origin_id, seconds))

    def drop_next(self, *, count: int = 1, origin_id: str | None = None) -> None:
        """Read the next ``count`` ingest requests and close the connection unanswered."""
        self.fail_next(DROP, count=count, origin_id=origin_id)

    def outage(self, on: bool = True) -> None:
        """While on, ingest connections are closed without an answer."""
        with self._lock:
            self._outage = on

    def redirect(self, target: str | None, *, status: int = 302) -> None:
        """While set, answer every ingest request with ``status`` and a ``Location`` on
        ``target`` (a base URL; the request's path is kept), the way a proxy or an
        http-to-https rule in front of a wrong BASE_URL would. None turns it off."""
        with self._lock:
            self._redirect = None if target is None else (status, target.rstrip("/"))

    def random_faults(
        self,
        rate: float,
        *,
        weights: dict[str, float] | None = None,
        retry_after: str | int = 1,
        slow_seconds: float = 3.0,
        seed: int | None = None,
    ) -> None:
        """Fail a random share ``rate`` of ingest requests (0 turns it off). ``weights``
        picks the kind: ``429`` (with ``Retry-After``), ``500``, ``503``, ``drop`` (no
        answer) and ``slow`` (answered after ``slow_seconds``, likely past the client's
        timeout, but the change is applied)."""
        with self._lock:
            if rate <= 0:
                self._plan = None
                return
            self._plan = FaultPlan(
                rate,
                weights or {"429": 1, "500": 1, "503": 1, "drop": 1, "slow": 0.2},
                str(retry_after),
                slow_seconds,
                random.Random(seed),  # noqa: S311  (fault injection, not security)
            )

    def throttle_every(self, n: int, *, retry_after: str | int = 1) -> None:
        """Answer every ``n``-th ingest request (counted from now) with a 429 and
        ``Retry-After``, whatever else it is: deterministic 429s in the middle of a batch
        (0 turns it off). It adds to ``rate_limit``, the tenant limit."""
        with self._lock:
            self._throttle_every = n
            self._throttle_retry_after = str(retry_after)
            self._throttle_count = 0

    def faults_off(self) -> None:
        """Stop every kind of injected fault (scripted, random, outage, latency,
        throttling); ``rate_limit``, the tenant's limit, stays."""
        with self._lock:
            self._throttle_every = 0
            self._failures.clear()
            self._rejections.clear()
            self._plan = None
            self._outage = False
            self._redirect = None
            self.latency = 0.0

    def sends(self) -> Counter[str]:
        """Accepted saves and deletes per origin id (what a 200, or a 404 on delete, did)."""
        counts: Counter[str] = Counter()
        for request in self.requests:
            counts.update(request.accepted_ids)
        return counts

    def peak_per_second(self) -> int:
        """The most requests (429s included) that arrived within any one second."""
        arrivals = sorted(request.timestamp for request in self.requests)
        peak = start = 0
        for end, arrived in enumerate(arrivals):
            while arrived - arrivals[start] >= 1.0:
                start += 1
            peak = max(peak, end - start + 1)
        return peak

    # Request handling (called from the server's threads) ----------------------------

    def _take_failure(self, origin_ids: list[str | None]) -> _Failure | str | None:
        """A scripted failure, else maybe a random one; "slow" means answer late."""
        with self._lock:
            for failure in self._failures:
                if failure.origin_id is None or failure.origin_id in origin_ids:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                    kind = {DROP: "drop", SLOW: "slow"}.get(failure.status, str(failure.status))
                    self.faults[kind] += 1
                    return failure
            plan = self._plan
            if plan is None or plan.rng.random() >= plan.rate:
                return None
            kinds, weights = zip(*plan.weights.items(), strict=True)
            kind = plan.rng.choices(kinds, weights)[0]
            self.faults[kind] += 1
        if kind == "slow":
            return kind
        status = DROP if kind == "drop" else int(kind)
        retry_after = plan.retry_after if status == 429 else None
        return _Failure(status, 1, None, retry_after, None)

    def _track(self, origin_id: str | None, delta: int) -> None:
        if origin_id is None:
            return
        with self._lock:
            self._in_flight[origin_id] += delta
            self.max_overlap = max(self.max_overlap, self._in_flight[origin_id])
            if not self._in_flight[origin_id]:
                del self._in_flight[origin_id]

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _over_rate_limit(self, arrived: float) -> bool:
        """Whether this request is over ``rate_limit`` in the last second (a tenant limit):
        a sliding window, strict to the request; refused requests do not count."""
        if self.rate_limit <= 0:
            return False
        with self._lock:
            while self._arrivals and arrived - self._arrivals[0] >= 1.0:
                self._arrivals.popleft()
            if len(self._arrivals) >= self.rate_limit:
                return True
            self._arrivals.append(arrived)
            return False

    def _throttled(self, arrived: float) -> str | None:
        """The ``Retry-After`` of a 429 for this request, if it gets one: over the tenant
        limit, or the ``throttle_every``-th request."""
        if self._over_rate_limit(arrived):
            with self._lock:
                self.faults["rate_limit"] += 1
            return "1"
        with self._lock:
            if not self._throttle_every:
                return None
            self._throttle_count += 1
            if self._throttle_count % self._throttle_every:
                return None
            self.faults["throttled"] += 1
            return self._throttle_retry_after

    def _in_outage(self) -> bool:
        with self._lock:
            return self._outage

    def _save(self, api_key: str, origin_id: str, entity: dict, force: bool) -> tuple[int, dict]:
        errors = validate_entity(entity, max_properties=self.max_properties)
        with self._lock:
            errors.update(self._rejections.get(origin_id, {}))
            source = self._sources[api_key]
            current = source.get(origin_id)
            if not errors and current and current["type"] != entity["type"] and not force:
                errors["type"] = "Type cannot be changed"
            if errors:
                return 422, invalid(errors)
            stored = {k: v for k, v in entity.items() if k != "originId"}
            changed = current != stored
            source[origin_id] = stored
        return 200, {"status": 200, "message": "Processing has been initiated.", "changed": changed}

    def _bulk_refusals(self, api_key: str, body: list) -> dict[int, dict[str, str]]:
        """Per position in a bulk save, the errors of each entity that would be refused."""
        refused = {}
        with self._lock:
            source = self._sources[api_key]
            for index, entity in enumerate(body):
                origin_id = entity.get("originId") if isinstance(entity, dict) else None
                if not isinstance(origin_id, str) or not origin_id:
                    continue
                errors = validate_entity(entity, max_properties=self.max_properties)
                errors.update(self._rejections.get(origin_id, {}))
                current = source.get(origin_id)
                if not errors and current and current["type"] != entity["type"]:
                    errors["type"] = "Type cannot be changed"
                if errors:
                    refused[index] = errors
        return refused

    def _delete(self, api_key: str, origin_id: str) -> tuple[int, dict]:
        with self._lock:
            if self._sources[api_key].pop(origin_id, None) is None:
                return 404, {"status": 404, "message": "No entity found with that id"}
        return 200, {"status": 200, "message": "Entity deleted"}


def invalid(errors: dict[str, str]) -> dict[str, Any]:
    return {"status": 422, "message": "Invalid request", "errorCode": "s-1001", "errors": errors}


class _Handler(BaseHTTPRequestHandler):
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
            self._send(200, self._overview_html().encode(), "text/html; charset=utf-8")
        elif path == "/_standin/entities":
            data = {mask_key(k): self.standin.entities_for(k) for k in self.standin.api_keys}
            self._send_json(200, data)
        else:
            self._send_json(404, {"status": 404, "message": "Not found"})

    def do_POST(self) -> None:
        self._ingest("POST")

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
                status, _message(status, "Moved"), {"Location": target + self.path}
            )
        headers = {k: ("…" if k.lower() == "x-api-key" else v) for k, v in self.headers.items()}
        retry_after = standin._throttled(arrived)
        if retry_after is not None:
            raw = self._drain_body()
            response = _message(429, "Too many requests")
            body = _json_text(raw)
            standin._record(
                RecordedRequest(
                    method, path, origin_id, api_key, headers, body, 429, response, arrived
                )
            )
            return self._send_json(429, response, {"Retry-After": retry_after})
        if standin._in_outage():
            with standin._lock:
                standin.faults["outage"] += 1
            self.close_connection = True
            self.connection.close()
            return None
        status, response, body = self._respond(method, origin_id, api_key)
        if status == DROP:
            self.close_connection = True
            self.connection.close()
            return None
        standin._record(
            RecordedRequest(
                method, path, origin_id, api_key, headers, body, status, response, arrived
            )
        )
        extra = {}
        if status == 429 and response.get("_retry_after"):
            extra["Retry-After"] = response.pop("_retry_after")
        self._send_json(status, response, extra)
        return None

    def _respond(
        self, method: str, origin_id: str | None, api_key: str | None
    ) -> tuple[int, dict[str, Any], Any]:
        standin = self.standin
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if chunked:
            self.close_connection = True
            return 400, _message(400, "Chunked transfer encoding is not supported"), None
        raw = self._drain_body()
        if raw is None:
            return 413, _too_large(standin.max_body_bytes), None
        if api_key not in standin.api_keys:
            return 401, _message(401, "Unauthorized: missing or invalid X-Api-Key"), None
        body = None
        if method == "POST" or raw:
            if method == "POST" and "Content-Length" not in self.headers:
                return 400, _message(400, "Content-Length is required"), None
            content_type = self.headers.get("Content-Type", "")
            if not content_type.startswith("application/json"):
                return 400, _message(400, "Content-Type must be application/json"), None
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                return 400, _message(400, "The body is not valid JSON"), None
        ids = [origin_id] if origin_id else _bulk_ids(body)
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
        elif isinstance(failure, _Failure) and failure.status == SLOW:
            time.sleep(failure.seconds)
            failure = None
        if failure is not None:
            response = failure.body or _message(failure.status, "Injected failure")
            if failure.retry_after is not None:
                response = {**response, "_retry_after": failure.retry_after}
            return failure.status, response, body
        if origin_id is None:
            return (*self._bulk(method, api_key, body), body)
        if method == "POST":
            force = self.headers.get("X-Enterspeed-Force-Type", "").lower() == "true"
            return (*standin._save(api_key, origin_id, body, force), body)
        return (*standin._delete(api_key, origin_id), body)

    def _bulk(self, method: str, api_key: str, body: Any) -> tuple[int, dict[str, Any]]:
        standin = self.standin
        if not standin.bulk_enabled:
            return 400, _message(400, "Bulk ingest not available for this tenant")
        if method == "POST":
            if not isinstance(body, list) or len(body) > BULK_LIMIT:
                return 400, _message(400, f"The body must be an array of at most {BULK_LIMIT}")
            changed, unchanged, errors = [], [], {}
            refused = standin._bulk_refusals(api_key, body)
            for index, entity in enumerate(body):
                origin_id = entity.get("originId") if isinstance(entity, dict) else None
                if not isinstance(origin_id, str) or not origin_id:
                    errors[f"entities[{index}]"] = ["originId is required"]
                    continue
                if index in refused:
                    errors.update(
                        _bulk_error(standin.bulk_error_keys, index, origin_id, refused[index])
                    )
                    continue
                if refused and standin.bulk_atomic:
                    continue  # refused whole: nothing is saved
                status, response = standin._save(api_key, origin_id, entity, False)
                if status != 200:  # lost a race with a change of type: refused
                    errors[origin_id] = [f"{k}: {v}" for k, v in response["errors"].items()]
                else:
                    (changed if response["changed"] else unchanged).append(origin_id)
            status = 200 if changed or unchanged or not body else 422
            return status, {
                "status": status,
                "changedSourceEntities": changed,
                "unchangedSourceEntities": unchanged,
                "errors": errors,
            }
        ids = body.get("originIds") if isinstance(body, dict) else None
        if not isinstance(ids, list) or len(ids) > BULK_LIMIT:
            return 400, _message(400, f"originIds must be an array of at most {BULK_LIMIT}")
        deleted, not_found = [], []
        for origin_id in ids:
            status, _ = standin._delete(api_key, str(origin_id))
            (deleted if status == 200 else not_found).append(origin_id)
        return 200, {
            "status": 200,
            "deletedSourceEntities": deleted,
            "notFoundSourceEntities": not_found,
            "errors": {},
        }

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

    def _overview_html(self) -> str:
        sections = []
        for key in self.standin.api_keys:
            entities = self.standin.entities_for(key)
            rows = "".join(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td><details><summary>"
                "JSON</summary><pre>{}</pre></details></td></tr>".format(
                    html.escape(origin_id),
                    html.escape(str(entity.get("type", ""))),
                    html.escape(str(entity.get("url", ""))),
                    html.escape(json.dumps(entity, indent=2, ensure_ascii=False)),
                )
                for origin_id, entity in sorted(entities.items())
            )
            sections.append(
                f"<h2>Source {html.escape(mask_key(key))}: {len(entities)} entities</h2>"
                "<table><tr><th>Origin id</th><th>Type</th><th>URL</th><th>Entity</th></tr>"
                f"{rows}</table>"
            )
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>Ingest stand-in</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:"
            "collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;"
            "vertical-align:top}pre{margin:0;max-width:60rem;overflow:auto}</style></head>"
            "<body><h1>What Enterspeed received</h1><p>Reload after publishing a page. "
            f"{len(self.standin.requests)} requests so far.</p>{''.join(sections)}</body></html>"
        )


def _message(status: int, message: str) -> dict[str, Any]:
    return {"status": status, "message": message}


def _too_large(limit: int) -> dict[str, Any]:
    return {
        "status": 413,
        "message": f"Source entity size exceeds the limit of {limit} bytes",
        "errorCode": "s-1007",
    }


def _bulk_error(
    keys: str, index: int, origin_id: str, errors: dict[str, str]
) -> dict[str, list[str]]:
    """One refused entity's errors in a bulk answer, keyed as ``keys`` says."""
    if keys == "path":
        return {path: [message] for path, message in errors.items()}
    key = f"entities[{index}]" if keys == "index" else origin_id
    return {key: [f"{k}: {v}" for k, v in errors.items()]}


def _json_text(raw: bytes | None) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return None


def _bulk_ids(body: Any) -> list[str | None]:
    if isinstance(body, list):
        return [e.get("originId") for e in body if isinstance(e, dict)]
    if isinstance(body, dict) and isinstance(body.get("originIds"), list):
        return list(body["originIds"])
    return []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the Enterspeed ingest stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", action="append", dest="api_keys", metavar="KEY")
    args = parser.parse_args(argv)
    standin = IngestStandIn(
        api_keys=args.api_keys or ["source-standin"], host=args.host, port=args.port
    )
    standin.start()
    print(f"Ingest stand-in listening on {standin.url} (Ctrl-C stops it)")  # noqa: T201
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        standin.stop()


if __name__ == "__main__":
    main()
