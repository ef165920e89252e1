"""
Fault injection: scripted failures, random fault plans, outages, redirects, a wrong
upstream's answers, throttling and the tenant rate limit. ``FaultInjection`` is the part of
``IngestStandIn`` that decides whether a request fails, and how; the server (``server``)
carries the decision out.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

#: ``Failure.status`` of a dropped connection: the request is read, no answer is sent.
DROP = 0
#: ``Failure.status`` of a slow answer: applied and answered after ``seconds``.
SLOW = -1

#: How something that is not Enterspeed answers at the base URL (``wrong_upstream``):
#: ``(status, Content-Type, body)``. Nothing such an answer is about is stored.
WRONG_UPSTREAM_ANSWERS: dict[str, tuple[int, str, bytes]] = {
    # A proxy's, a load balancer's or a parked domain's page.
    "html": (
        200,
        "text/html; charset=utf-8",
        b"<!doctype html><html><head><title>Welcome</title></head>"
        b"<body><h1>It works!</h1></body></html>",
    ),
    # A 200 with nothing in it.
    "empty": (200, "application/json", b""),
    # JSON that lists nothing: no per-entity results, no status, no message.
    "no_results": (200, "application/json", b'{"ok": true}'),
    # 204 No Content.
    "no_content": (204, "application/json", b""),
    # A bulk answer cut short (a proxy's buffer, a dropped tail).
    "truncated": (200, "application/json", b'{"status":200,"changedSourceEntities":["pa'),
}


@dataclass
class Failure:
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


class FaultInjection:
    """The fault controls of ``IngestStandIn`` and the per-request decisions they make."""

    _lock: threading.RLock

    def _init_faults(self) -> None:
        #: Seconds to wait before answering each ingest request.
        self.latency = 0.0
        #: Ingest requests per second the "tenant" takes (0: no limit); more get a 429.
        self.rate_limit = 0.0
        self._arrivals: deque[float] = deque()
        self._throttle_every = 0
        self._throttle_retry_after = "1"
        self._throttle_count = 0
        self._failures: list[Failure] = []
        self._rejections: dict[str, dict[str, str]] = {}
        self._plan: FaultPlan | None = None
        self._outage = False
        #: (status, target base URL) while every ingest request is redirected.
        self._redirect: tuple[int, str] | None = None
        #: The ``WRONG_UPSTREAM_ANSWERS`` kind every ingest request gets, while set.
        self._wrong_upstream: str | None = None
        #: Faults injected so far, by kind ("429", "500", "drop", "slow", "outage", …).
        self.faults: Counter[str] = Counter()

    # Controls -----------------------------------------------------------------------

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
                Failure(
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
            self._failures.append(Failure(SLOW, count, None, None, origin_id, seconds))

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

    def wrong_upstream(self, kind: str | None) -> None:
        """
        While set, answer every ingest request the way something that is not Enterspeed
        would, and store nothing: ``"html"`` (a 200 with a web page), ``"empty"`` (a 200
        without a body), ``"no_results"`` (a 200 with JSON that lists no results),
        ``"no_content"`` (a 204) or ``"truncated"`` (a 200 whose JSON is cut short). That is
        what a BASE_URL pointing at a proxy, a load balancer's default page or a typo'd
        host gives; an app must count none of it as accepted. None turns it off.
        """
        if kind is not None and kind not in WRONG_UPSTREAM_ANSWERS:
            raise ValueError(f"wrong_upstream is one of {', '.join(WRONG_UPSTREAM_ANSWERS)}")
        with self._lock:
            self._wrong_upstream = kind

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
            self._wrong_upstream = None
            self.latency = 0.0

    # State --------------------------------------------------------------------------

    def switches(self) -> dict[str, Any]:
        """What is switched on now, as plain data (the overview page and
        ``GET /_standin/faults`` show it): scripted failures with what is left of them,
        the outage, latency, random faults, throttling, the tenant limit, redirects and
        rejected entities."""
        with self._lock:
            plan = self._plan
            return {
                "fail_next": [
                    {
                        "status": {DROP: "drop", SLOW: "slow"}.get(f.status, f.status),
                        "remaining": f.remaining,
                        "retry_after": f.retry_after,
                        "origin_id": f.origin_id,
                    }
                    for f in self._failures
                ],
                "outage": self._outage,
                "latency_ms": round(self.latency * 1000),
                "random_faults": plan and {"rate": plan.rate, "weights": dict(plan.weights)},
                "throttle_every": self._throttle_every,
                "rate_limit": self.rate_limit,
                "redirect": self._redirect
                and {"status": self._redirect[0], "target": self._redirect[1]},
                "wrong_upstream": self._wrong_upstream,
                "rejected": sorted(self._rejections),
                "injected": dict(self.faults),
            }

    # Decisions (called from the server's threads) -----------------------------------

    def _take_failure(self, origin_ids: list[str | None]) -> Failure | str | None:
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
        return Failure(status, 1, None, retry_after, None)

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

    def _wrong_answer(self) -> tuple[str, tuple[int, str, bytes]] | None:
        """The wrong upstream's answer for this request, counted, if one is set."""
        with self._lock:
            kind = self._wrong_upstream
            if kind is None:
                return None
            self.faults[f"wrong upstream ({kind})"] += 1
        return kind, WRONG_UPSTREAM_ANSWERS[kind]

    def _in_outage(self) -> bool:
        with self._lock:
            return self._outage
