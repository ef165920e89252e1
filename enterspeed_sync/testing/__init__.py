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
and open http://127.0.0.1:8765/ to see what arrived, and to switch faults on and off.

It is an independent oracle: it imports no Django and nothing else of this app (not its
client, mapping or validation), so its contract checks are written from the Ingest API
contract, and a product that drifts from the contract fails against it. The modules:

- ``standin``: ``IngestStandIn``, its sources (one per API key), life cycle and recording;
- ``contract``: limits, entity validation and the error bodies Enterspeed answers with;
- ``faults``: scripted and random failures, outages, redirects, a wrong upstream's answers
  (an HTML 200, an empty 200, JSON without results, a 204, JSON cut short), throttling and
  the rate limit;
- ``server``: the HTTP request handler; ``overview``: the page at ``/``; ``controls``: its
  fault switches (forms posting to ``/_standin/faults/<switch>``, loopback only);
- ``recording``: ``RecordedRequest``; ``cli``: ``python -m enterspeed_sync.testing``.
"""

from enterspeed_sync.testing.cli import main
from enterspeed_sync.testing.contract import (
    BULK_LIMIT,
    ENTITY_KEYS,
    INGEST_PREFIX,
    PROPERTY_NAME_RE,
    invalid,
    validate_entity,
)
from enterspeed_sync.testing.faults import DROP, SLOW, WRONG_UPSTREAM_ANSWERS, FaultPlan
from enterspeed_sync.testing.overview import mask_key
from enterspeed_sync.testing.recording import RecordedRequest
from enterspeed_sync.testing.standin import IngestStandIn

__all__ = [
    "BULK_LIMIT",
    "DROP",
    "ENTITY_KEYS",
    "INGEST_PREFIX",
    "PROPERTY_NAME_RE",
    "SLOW",
    "WRONG_UPSTREAM_ANSWERS",
    "FaultPlan",
    "IngestStandIn",
    "RecordedRequest",
    "invalid",
    "main",
    "mask_key",
    "validate_entity",
]
