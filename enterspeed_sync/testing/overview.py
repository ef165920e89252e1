"""
The stand-in's page at ``/``, for a person to look at: the fault switches (plain forms that
post to ``controls``), the latest requests with their answers, and what each source holds.
"""

from __future__ import annotations

import html
import json
import time
from typing import TYPE_CHECKING

from enterspeed_sync.testing.controls import (
    FAIL_STATUSES,
    MAX_COUNT,
    MAX_LATENCY_MS,
    MAX_RETRY_AFTER,
    SWITCHES_PREFIX,
    WRONG_UPSTREAM_LABELS,
    describe,
)
from enterspeed_sync.testing.faults import DROP

if TYPE_CHECKING:
    from enterspeed_sync.testing.recording import RecordedRequest
    from enterspeed_sync.testing.standin import IngestStandIn


def mask_key(key: str | None) -> str:
    """As the admin shows keys ("source-…cdef"); a short test key keeps its ends readable
    ("source-l…l"), so two stand-in keys never look alike."""
    if not key:
        return ""
    prefix, sep, rest = key.partition("-") if "-" in key else ("", "", key)
    if len(rest) > 8:
        return f"{prefix}{sep}…{rest[-4:]}"
    return f"{prefix}{sep}{rest[0]}…{rest[-1]}" if len(rest) > 2 else f"{prefix}{sep}{rest[:1]}…"


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem}table{border-collapse:"
    "collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;"
    "vertical-align:top}pre{margin:0;max-width:60rem;overflow:auto}"
    "form{display:inline-block;margin:.8rem 1.5rem 0 0;padding:.6rem .8rem;border:1px solid "
    "#ccc;border-radius:4px}input[type=number]{width:5.5rem}.state{padding:.6rem .8rem;"
    "border-left:4px solid #2e7d32;background:#f1f8f1}.state.on{border-color:#c62828;"
    "background:#fdf0f0}.failed td.answer{color:#c62828;font-weight:600}"
    ".note{color:#555;font-size:.9rem}"
)


SWITCHES_NOTE = (
    "<p class='note'>The switches act on every source at once. They take no login and no "
    "CSRF token because this is a local test server: they answer only requests from this "
    "machine, and only forms from this page. Tests use the same switches in Python "
    "(<code>fail_next</code>, <code>outage</code>, <code>latency</code>, "
    "<code>faults_off</code>).</p>"
)


def overview_html(standin: IngestStandIn) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Ingest stand-in</title>"
        f"<style>{STYLE}</style></head><body><h1>Ingest stand-in</h1>"
        f"<p>A local stand-in for Enterspeed's Ingest API at <code>{html.escape(standin.url)}"
        "</code>. <a href='/'>Reload</a> after publishing a page.</p>"
        f"{switches_html(standin)}{recent_html(standin.recent())}"
        f"<h2>What Enterspeed received</h2><p>{len(standin.requests)} requests so far.</p>"
        f"{sources_html(standin)}</body></html>"
    )


def switches_html(standin: IngestStandIn) -> str:
    lines = describe(standin.switches())
    state = (
        "<div class='state on' data-standin-switches>"
        + "".join(f"<div>{html.escape(line)}</div>" for line in lines)
        + "</div>"
        if lines
        else "<div class='state' data-standin-switches>No faults: every request is answered "
        "as Enterspeed would.</div>"
    )
    options = "".join(
        f"<option value='{status}'>{html.escape(label)}</option>"
        for status, label in FAIL_STATUSES.items()
    )
    wrong_options = "".join(
        f"<option value='{kind}'>{html.escape(label)}</option>"
        for kind, label in WRONG_UPSTREAM_LABELS.items()
    )
    action = SWITCHES_PREFIX
    return (
        f"<section id='faults'><h2>Fault switches</h2>{state}<div>"
        f"<form method='post' action='{action}/fail-next'><label>Fail the next "
        f"<input type='number' name='count' value='3' min='1' max='{MAX_COUNT}'> requests "
        f"with <select name='status'>{options}</select></label> <label>Retry-After "
        f"<input type='number' name='retry_after' value='5' min='0' max='{MAX_RETRY_AFTER}'>"
        " s (429, 503)</label> <button>Switch on</button></form>"
        f"<form method='post' action='{action}/outage'>Outage (connections closed unanswered): "
        "<button name='on' value='1'>Start</button> <button name='on' value='0'>End</button>"
        f"</form><form method='post' action='{action}/latency'><label>Latency "
        f"<input type='number' name='ms' value='{round(standin.latency * 1000)}' min='0' "
        f"max='{MAX_LATENCY_MS}'> ms</label> <button>Set</button></form>"
        f"<form method='post' action='{action}/wrong-upstream'><label>Answer like a wrong "
        f"upstream (store nothing) <select name='kind'>{wrong_options}</select></label> "
        "<button>Switch on</button></form>"
        f"<form method='post' action='{action}/off'><button>All faults off</button></form></div>"
        f"{SWITCHES_NOTE}</section>"
    )


def recent_html(requests: list[RecordedRequest]) -> str:
    if not requests:
        return "<section id='requests'><h2>Recent requests</h2><p>None yet.</p></section>"
    rows = "".join(
        "<tr class='{}' data-status='{}'><td>{}</td><td>{}</td><td>{} <code>{}</code>{}</td>"
        "<td class='answer'>{}</td></tr>".format(
            "failed" if r.status == DROP or r.status >= 300 or r.fault else "ok",
            r.status,
            time.strftime("%H:%M:%S", time.localtime(r.timestamp)),
            html.escape(mask_key(r.api_key)),
            html.escape(r.method),
            html.escape(r.path),
            html.escape(about(r)),
            html.escape(answer(r)),
        )
        for r in requests
    )
    return (
        "<section id='requests'><h2>Recent requests</h2><table><tr><th>Time</th>"
        "<th>Source</th><th>Request</th><th>Answer</th></tr>"
        f"{rows}</table></section>"
    )


def about(request: RecordedRequest) -> str:
    """The entities a request is about, for a person: a few of their origin ids."""
    if request.origin_id:
        return ""
    ids = request.origin_ids
    if not ids:
        return ""
    shown = ", ".join(ids[:4]) + (f", … ({len(ids)} in all)" if len(ids) > 4 else "")
    return f" ({shown})"


def answer(request: RecordedRequest) -> str:
    """The answer in words: status, Enterspeed's message, and the fault behind it."""
    if request.status == DROP:
        reason = "outage" if request.fault == "outage" else "dropped"
        return f"no answer: connection closed ({reason})"
    text = str(request.status)
    message = request.response.get("message") if isinstance(request.response, dict) else None
    if message and request.status != 200:
        text += f" {message}"
    if request.fault:
        text += f" ({request.fault})"
    return text


def refused_html(reason: str) -> str:
    """The page for a switch request that changed nothing."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Not switched</title></head>"
        f"<body><h1>Not switched</h1><p>{html.escape(reason)}</p>"
        "<p><a href='/#faults'>Back to the stand-in</a></p></body></html>"
    )


def sources_html(standin: IngestStandIn) -> str:
    sections = []
    for key in standin.api_keys:
        entities = standin.entities_for(key)
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
            f"<h3>Source {html.escape(mask_key(key))}: {len(entities)} entities</h3>"
            "<table><tr><th>Origin id</th><th>Type</th><th>URL</th><th>Entity</th></tr>"
            f"{rows}</table>"
        )
    return "".join(sections)
