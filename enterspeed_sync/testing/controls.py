"""
The fault switches of the stand-in's page: ``POST /_standin/faults/<switch>`` from a plain
HTML form, turned into the ``FaultInjection`` calls tests make in Python.

They need no login and no CSRF token because the stand-in is a local test server. So they
are taken only from loopback, and, when a browser says where the form came from
(``Origin``), only from the stand-in's own page: a web page elsewhere cannot switch them.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from enterspeed_sync.testing.contract import error_answer

if TYPE_CHECKING:
    from enterspeed_sync.testing.standin import IngestStandIn

SWITCHES_PREFIX = "/_standin/faults"

#: The statuses "fail the next N requests" offers, and what each shows an app.
FAIL_STATUSES = {
    500: "500 Internal server error (retried with backoff)",
    503: "503 Service unavailable (retried with backoff)",
    429: "429 Too many requests (sending pauses for Retry-After)",
    401: "401 Unauthorized (the key is refused: sending stops)",
    403: "403 Forbidden (no ingest access: sending stops)",
    422: "422 Invalid request (the job fails at once)",
}
#: The wrong upstream's answers (``FaultInjection.wrong_upstream``), and what each shows an app.
WRONG_UPSTREAM_LABELS = {
    "html": "200 with an HTML page (a proxy's, a load balancer's)",
    "empty": "200 with an empty body",
    "no_results": "200 with JSON that lists no results",
    "no_content": "204 No Content",
    "truncated": "200 with JSON cut short",
}
#: Statuses whose answer may carry ``Retry-After``.
RETRY_AFTER_STATUSES = (429, 503)
MAX_COUNT = 1000
MAX_LATENCY_MS = 120_000
MAX_RETRY_AFTER = 3600


class SwitchRefused(Exception):
    """A switch request that changed nothing; ``status`` and the reason go to the caller."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def check_caller(client_host: str, host_header: str | None, origin: str | None) -> None:
    """Refuse a switch request from another machine, or a browser's from another site."""
    try:
        loopback = ipaddress.ip_address(client_host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SwitchRefused(403, "The fault switches only answer requests from this machine.")
    if origin is not None and urlsplit(origin).netloc != (host_header or ""):
        raise SwitchRefused(403, "The fault switches only take forms from the stand-in's page.")


def apply_switch(standin: IngestStandIn, switch: str, form: dict[str, str]) -> None:
    """Switch ``switch`` (the path after ``/_standin/faults/``) with the form's values.
    Raises ``SwitchRefused`` (nothing changed) for an unknown switch or a bad value."""
    if switch == "fail-next":
        status = whole(form, "status", 100, 599)
        if status not in FAIL_STATUSES:
            raise SwitchRefused(400, f"status must be one of {', '.join(map(str, FAIL_STATUSES))}.")
        count = whole(form, "count", 1, MAX_COUNT)
        retry_after = None
        if status in RETRY_AFTER_STATUSES and form.get("retry_after", "").strip():
            retry_after = whole(form, "retry_after", 0, MAX_RETRY_AFTER)
        standin.fail_next(status, count=count, body=error_answer(status), retry_after=retry_after)
    elif switch == "outage":
        if form.get("on") not in ("0", "1"):
            raise SwitchRefused(400, "on must be 1 (start the outage) or 0 (end it).")
        standin.outage(form["on"] == "1")
    elif switch == "wrong-upstream":
        if form.get("kind") not in WRONG_UPSTREAM_LABELS:
            raise SwitchRefused(400, f"kind must be one of {', '.join(WRONG_UPSTREAM_LABELS)}.")
        standin.wrong_upstream(form["kind"])
    elif switch == "latency":
        standin.latency = whole(form, "ms", 0, MAX_LATENCY_MS) / 1000
    elif switch == "off":
        standin.faults_off()
    else:
        raise SwitchRefused(404, f"There is no fault switch {switch!r}.")


def whole(form: dict[str, str], name: str, low: int, high: int) -> int:
    """The form's ``name`` as a whole number from ``low`` to ``high``."""
    text = form.get(name, "").strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise SwitchRefused(400, f"{name} must be a whole number from {low} to {high}.")
    return int(text)


def describe(switches: dict) -> list[str]:
    """What is switched on, one sentence each (``FaultInjection.switches()``)."""
    lines = []
    for failure in switches["fail_next"]:
        n = failure["remaining"]
        what = {"drop": "closing", "slow": "answering late"}.get(str(failure["status"]))
        line = f"{what or 'Failing'} the next {n} request{'s' if n != 1 else ''}"
        if what is None:
            line += f" with {failure['status']}"
        if failure["retry_after"] is not None:
            line += f" (Retry-After: {failure['retry_after']} s)"
        if failure["origin_id"]:
            line += f", for {failure['origin_id']} only"
        lines.append(line[0].upper() + line[1:] + ".")
    if switches["outage"]:
        lines.append("Outage: every ingest connection is closed without an answer.")
    if switches["latency_ms"]:
        lines.append(f"Latency: {switches['latency_ms']} ms before each answer.")
    if plan := switches["random_faults"]:
        lines.append(f"Random faults: {plan['rate']:.0%} of requests.")
    if switches["throttle_every"]:
        lines.append(f"Every {switches['throttle_every']}th request is answered 429.")
    if switches["rate_limit"]:
        lines.append(f"Tenant limit: {switches['rate_limit']:g} requests per second.")
    if redirect := switches["redirect"]:
        lines.append(f"Redirecting every request ({redirect['status']}) to {redirect['target']}.")
    if kind := switches["wrong_upstream"]:
        lines.append(
            f"Answering like a wrong upstream: {WRONG_UPSTREAM_LABELS[kind]}; nothing is stored."
        )
    if switches["rejected"]:
        lines.append(f"Refusing every save of {', '.join(switches['rejected'])}.")
    return lines
