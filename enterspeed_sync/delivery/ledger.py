"""
The ledger: per entity, a hash of what Enterspeed last accepted from us (or that we
deleted it). Processing records every accepted save and delete (``record_many``) and skips a
save whose payload is identical to the last one accepted (``SKIP_UNCHANGED``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from enterspeed_sync.models import LedgerEntry

if TYPE_CHECKING:
    from enterspeed_sync.delivery.gate import Source
    from enterspeed_sync.models import EnterspeedJob

logger = logging.getLogger(__name__)


def payload_hash(entity: Mapping[str, Any], *, text: str | None = None) -> str:
    """
    sha256 of the entity as canonical JSON (sorted keys), the way it is compared. ``text``
    is that JSON when the caller has it already.
    """
    if text is None:
        text = json.dumps(entity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def last_sent_hashes(source: Source, origin_ids: Iterable[str]) -> dict[str, str]:
    """``{origin_id: payload hash}`` of what Enterspeed last accepted, for many at once."""
    entries = LedgerEntry.objects.filter(key_hash=source.key_hash, origin_id__in=set(origin_ids))
    return dict(entries.values_list("origin_id", "payload_hash"))


def record_many(source: Source, sent: Iterable[tuple[str, str, EnterspeedJob | None]]) -> None:
    """
    Note many accepted payloads at once: ``(origin_id, digest, job)`` ("" = deleted). One
    upsert, so concurrent workers never collide on the unique constraint.
    """
    now = timezone.now()
    entries = {}
    for origin_id, digest, job in sent:
        entry = LedgerEntry(
            key_hash=source.key_hash, origin_id=origin_id, payload_hash=digest, sent_at=now
        )
        if job is not None and origin_id == job.origin_id:
            entry.entity_type = job.entity_type
            entry.entity_id = job.entity_id
            entry.locale = job.locale
            entry.destination = job.destination
        entries[origin_id] = entry
    if not entries:
        return
    LedgerEntry.objects.bulk_create(
        entries.values(),
        update_conflicts=True,
        unique_fields=["key_hash", "origin_id"],
        update_fields=[
            "payload_hash",
            "sent_at",
            "entity_type",
            "entity_id",
            "locale",
            "destination",
        ],
    )


def forget(source: Source, origin_ids: Iterable[str] | None = None) -> int:
    """
    Drop the source's ledger (or the entries of ``origin_ids``), so the next job for those
    entities sends them even when nothing changed. Returns how many entries were dropped.
    """
    entries = LedgerEntry.objects.filter(key_hash=source.key_hash)
    if origin_ids is None:
        return entries.delete()[0]
    deleted = 0
    origin_ids = iter(origin_ids)
    while chunk := list(islice(origin_ids, 500)):
        deleted += entries.filter(origin_id__in=chunk).delete()[0]
    return deleted
