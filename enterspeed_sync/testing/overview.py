"""The stand-in's page at ``/``: what each source holds, for a person to look at."""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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


def overview_html(standin: IngestStandIn) -> str:
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
        f"{len(standin.requests)} requests so far.</p>{''.join(sections)}</body></html>"
    )
