"""
Shaping a batch's changes into as few ingest requests as possible.

A handler returns what a job should change in Enterspeed as ``Operation`` objects (save an
entity, delete an origin id); processing collects them for a whole batch and
``plan_requests`` packs them into requests: saves into bulk saves and deletes into bulk
deletes of at most ``BULK_LIMIT`` entities and ``MAX_PAYLOAD_BYTES`` each. A save that
changes an entity's type (``force_type``) needs a header of its own and always goes alone.

An account that refuses bulk requests (``BulkNotAvailable``) is remembered per process for
``BULK_RECHECK_SECONDS``; meanwhile, and always with ``BULK_INGEST: False``, every entity
is sent in a request of its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from enterspeed_sync.conf import conf
from enterspeed_sync.delivery.client import BULK_LIMIT
from enterspeed_sync.delivery.ledger import payload_hash

if TYPE_CHECKING:
    from enterspeed_sync.models import EnterspeedJob

#: How long a process sends single requests after an account refused a bulk request.
BULK_RECHECK_SECONDS = 3600.0
#: Bytes a bulk body adds around its entities: brackets, commas and ``"originId"``.
BULK_OVERHEAD_PER_ENTITY = 32


@dataclass(eq=False)
class Operation:
    """
    One change a handler asks for on behalf of ``job``: save an entity, or delete an
    origin id. Build one with ``Operation.save(...)`` or ``Operation.delete(...)``.
    """

    job: EnterspeedJob
    action: Literal["save", "delete"]
    origin_id: str
    entity: Mapping[str, Any] | None = None
    force_type: bool = False
    #: The payload's hash (the ledger's) and its size as JSON, for saves.
    digest: str = ""
    size: int = 0
    #: Pre-flight validation problems of a save, ``{field path: message}``: processing
    #: fails the job with them instead of sending the entity.
    problems: dict[str, str] = field(default_factory=dict)
    #: Why a delete (the object is gone, not published, or a guard vetoed it).
    reason: str = ""

    @classmethod
    def save(
        cls,
        job: EnterspeedJob,
        origin_id: str,
        entity: Mapping[str, Any],
        *,
        force_type: bool = False,
        problems: dict[str, str] | None = None,
    ) -> Operation:
        """Save ``entity`` as ``origin_id`` (``force_type``: it changes the entity's type)."""
        text = json.dumps(entity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return cls(
            job,
            "save",
            origin_id,
            entity,
            force_type=force_type,
            digest=payload_hash(entity, text=text),
            size=len(text.encode()),
            problems=problems or {},
        )

    @classmethod
    def delete(cls, job: EnterspeedJob, origin_id: str, *, reason: str = "") -> Operation:
        """Delete the entity ``origin_id`` from Enterspeed (``reason`` says why)."""
        return cls(job, "delete", origin_id, reason=reason)


@dataclass(eq=False)
class Request:
    """Operations sent together: a bulk request, or one single request (``bulk=False``)."""

    action: Literal["save", "delete"]
    operations: list[Operation]
    bulk: bool = True

    @property
    def origin_ids(self) -> list[str]:
        return [operation.origin_id for operation in self.operations]

    def singles(self) -> list[Request]:
        """The same operations, one request each."""
        return [Request(self.action, [operation], bulk=False) for operation in self.operations]


@dataclass
class BulkSupport:
    """Whether this process sends bulk requests to a source, and since when it does not."""

    refused_at: dict[str, float] = field(default_factory=dict)

    def available(self, key_hash: str) -> bool:
        if not conf.BULK_INGEST:
            return False
        refused = self.refused_at.get(key_hash)
        return refused is None or time.monotonic() - refused >= BULK_RECHECK_SECONDS

    def refused(self, key_hash: str) -> None:
        self.refused_at[key_hash] = time.monotonic()


#: Per process: what each source said about bulk requests.
bulk_support = BulkSupport()


def plan_requests(operations: list[Operation], *, bulk: bool, max_bytes: int) -> Iterator[Request]:
    """
    Pack ``operations`` into requests, in order per kind: deletes first (an entity deleted
    and another saved in one batch are unrelated), then saves.
    """
    deletes = [op for op in operations if op.action == "delete"]
    saves = [op for op in operations if op.action == "save"]
    if not bulk:
        for op in deletes + saves:
            yield Request(op.action, [op], bulk=False)
        return
    for start in range(0, len(deletes), BULK_LIMIT):
        yield Request("delete", deletes[start : start + BULK_LIMIT])
    chunk: list[Operation] = []
    chunk_bytes = 2
    for op in saves:
        if op.force_type or op.size + BULK_OVERHEAD_PER_ENTITY + 2 > max_bytes:
            # Alone: a type change needs its own header; an oversized entity gets its own
            # 413 instead of failing its neighbours.
            yield Request("save", [op], bulk=False)
            continue
        size = op.size + BULK_OVERHEAD_PER_ENTITY + len(op.origin_id)
        if chunk and (len(chunk) >= BULK_LIMIT or chunk_bytes + size > max_bytes):
            yield Request("save", chunk)
            chunk, chunk_bytes = [], 2
        chunk.append(op)
        chunk_bytes += size
    if chunk:
        yield Request("save", chunk)
