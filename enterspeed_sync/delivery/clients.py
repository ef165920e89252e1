"""
The ingest client as the settings configure it, one per destination. ``client`` itself
imports no Django; this is where the settings meet it (``conf`` imports nothing of
delivery).
"""

from __future__ import annotations

from enterspeed_sync.conf import PUBLISH, conf, get_api_key
from enterspeed_sync.delivery.client import EnterspeedClient


def get_client(*, before_request=None, destination: str = PUBLISH) -> EnterspeedClient:
    """The ingest client for a destination's source. Handlers receive it; never build one.
    ``before_request`` is called before every request (the job runner's rate limiter)."""
    return EnterspeedClient(
        api_key=get_api_key(destination),
        base_url=conf.BASE_URL,
        timeout=conf.TIMEOUT,
        before_request=before_request,
    )
