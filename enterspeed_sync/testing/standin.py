"""``IngestStandIn``: the sources it keeps, its life cycle and what it received."""

from __future__ import annotations

import copy
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from http.server import ThreadingHTTPServer
from typing import Any

from enterspeed_sync.testing.contract import (
    BULK_LIMIT,
    bulk_error,
    invalid,
    message,
    validate_entity,
)
from enterspeed_sync.testing.faults import FaultInjection
from enterspeed_sync.testing.recording import RecordedRequest
from enterspeed_sync.testing.server import IngestRequestHandler

#: How many of the latest requests the overview page lists.
RECENT_REQUESTS = 30


class IngestStandIn(FaultInjection):
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
        self._lock = threading.RLock()
        self._init_faults()
        self._sources: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in self.api_keys}
        self._requests: list[RecordedRequest] = []
        #: The latest ingest requests, unanswered ones included, for the overview page.
        self._recent: deque[RecordedRequest] = deque(maxlen=RECENT_REQUESTS)
        self._in_flight: Counter[str] = Counter()
        #: The most requests for one origin id that were ever in flight at once.
        self.max_overlap = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Life cycle ---------------------------------------------------------------------

    def start(self) -> IngestStandIn:
        handler = type("Handler", (IngestRequestHandler,), {"standin": self})
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

    def recent(self) -> list[RecordedRequest]:
        """The latest ingest requests, newest first, with those an outage or a drop closed
        unanswered (status 0, not in ``requests``)."""
        with self._lock:
            return list(reversed(self._recent))

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
            self._recent.clear()

    def reset(self) -> None:
        """Forget everything: entities, requests, injected faults and their counts."""
        with self._lock:
            for source in self._sources.values():
                source.clear()
            self._requests.clear()
            self._recent.clear()
            self.faults_off()
            self.faults.clear()
            self.max_overlap = 0

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

    # Sources (called from the server's threads) -------------------------------------

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
            self._recent.append(request)

    def _record_unanswered(self, request: RecordedRequest) -> None:
        """A connection closed without an answer, or answered as a wrong upstream would:
        listed on the page, not in ``requests`` (nothing of it was accepted)."""
        with self._lock:
            self._recent.append(request)

    def _refusal(self, source: dict, origin_id: str, entity: dict, force: bool) -> dict[str, str]:
        """Why a save of ``entity`` is refused (none: accepted): the contract's checks, an
        injected rejection, or a change of type. The caller holds the lock."""
        errors = validate_entity(entity, max_properties=self.max_properties)
        errors.update(self._rejections.get(origin_id, {}))
        current = source.get(origin_id)
        if not errors and current and current["type"] != entity["type"] and not force:
            errors["type"] = "Type cannot be changed"
        return errors

    def _save(self, api_key: str, origin_id: str, entity: dict, force: bool) -> tuple[int, dict]:
        with self._lock:
            source = self._sources[api_key]
            current = source.get(origin_id)
            if errors := self._refusal(source, origin_id, entity, force):
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
                if errors := self._refusal(source, origin_id, entity, False):
                    refused[index] = errors
        return refused

    def _delete(self, api_key: str, origin_id: str) -> tuple[int, dict]:
        with self._lock:
            if self._sources[api_key].pop(origin_id, None) is None:
                return 404, {"status": 404, "message": "No entity found with that id"}
        return 200, {"status": 200, "message": "Entity deleted"}

    def _bulk(self, method: str, api_key: str, body: Any) -> tuple[int, dict[str, Any]]:
        if not self.bulk_enabled:
            return 400, message(400, "Bulk ingest not available for this tenant")
        if method == "POST":
            if not isinstance(body, list) or len(body) > BULK_LIMIT:
                return 400, message(400, f"The body must be an array of at most {BULK_LIMIT}")
            changed, unchanged, errors = [], [], {}
            refused = self._bulk_refusals(api_key, body)
            for index, entity in enumerate(body):
                origin_id = entity.get("originId") if isinstance(entity, dict) else None
                if not isinstance(origin_id, str) or not origin_id:
                    errors[f"entities[{index}]"] = ["originId is required"]
                    continue
                if index in refused:
                    errors.update(
                        bulk_error(self.bulk_error_keys, index, origin_id, refused[index])
                    )
                    continue
                if refused and self.bulk_atomic:
                    continue  # refused whole: nothing is saved
                status, response = self._save(api_key, origin_id, entity, False)
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
            return 400, message(400, f"originIds must be an array of at most {BULK_LIMIT}")
        deleted, not_found = [], []
        for origin_id in ids:
            status, _ = self._delete(api_key, str(origin_id))
            (deleted if status == 200 else not_found).append(origin_id)
        return 200, {
            "status": 200,
            "deletedSourceEntities": deleted,
            "notFoundSourceEntities": not_found,
            "errors": {},
        }
