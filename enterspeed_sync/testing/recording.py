"""
What the stand-in received: one ``RecordedRequest`` per ingest request it answered (and, in
the overview page's recent list only, per connection an outage or a drop closed unanswered).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from enterspeed_sync.testing.contract import bulk_ids


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
    #: The fault that shaped the answer ("injected", "outage", "drop", "rate limit"), if any.
    fault: str = ""

    @property
    def origin_ids(self) -> list[str]:
        """The entities the request is about: its own, or those of a bulk body."""
        if self.origin_id:
            return [self.origin_id]
        return [str(origin_id) for origin_id in bulk_ids(self.body) if origin_id]

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
