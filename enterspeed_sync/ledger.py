"""
The ledger: per entity, a hash of what Enterspeed last accepted from us (or that we
deleted it). Handlers keep their interface: the job runner hands them a ``LedgerClient``
that wraps the real client, records every successful save and delete, and skips a save
whose payload is identical to the last one accepted (``SKIP_UNCHANGED``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from enterspeed_sync.client import EnterspeedError, IngestResponse
from enterspeed_sync.conf import conf
from enterspeed_sync.models import LedgerEntry

if TYPE_CHECKING:
    from enterspeed_sync.models import EnterspeedJob
    from enterspeed_sync.sending import Source

logger = logging.getLogger(__name__)


def payload_hash(entity: Mapping[str, Any]) -> str:
    """sha256 of the entity as canonical JSON (sorted keys), the way it is compared."""
    text = json.dumps(entity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def last_sent(source: Source, origin_id: str) -> LedgerEntry | None:
    return LedgerEntry.objects.filter(key_hash=source.key_hash, origin_id=origin_id).first()


def record(source: Source, origin_id: str, digest: str, job: EnterspeedJob | None = None) -> None:
    """Note that Enterspeed accepted ``digest`` for ``origin_id`` ("" = deleted)."""
    values = {"payload_hash": digest, "sent_at": timezone.now()}
    if job is not None and origin_id == job.origin_id:
        values.update(
            entity_type=job.entity_type,
            entity_id=job.entity_id,
            locale=job.locale,
            destination=job.destination,
        )
    for _attempt in range(3):
        try:
            with transaction.atomic():
                LedgerEntry.objects.update_or_create(
                    key_hash=source.key_hash, origin_id=origin_id, defaults=values
                )
            return
        except IntegrityError:
            continue  # another worker inserted the row between our read and write
    logger.warning("Could not record %s in the Enterspeed ledger", origin_id)


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


class LeaseLost(EnterspeedError):
    """The job's lease ran out and another worker has it: do not send (it sends newer)."""


class LedgerClient:
    """
    Wraps an ingest client for one claimed job: checks the claim is still ours right
    before each request (fencing), records successes, skips unchanged saves.
    """

    def __init__(self, client: Any, source: Source, job: EnterspeedJob | None = None) -> None:
        self._client = client
        self._source = source
        self._job = job
        #: Saves skipped because Enterspeed already has the identical payload.
        self.skipped = 0
        #: ``(origin id, "save" or "delete")`` of every request Enterspeed accepted.
        self.sent: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def save(self, origin_id: str, entity: Mapping[str, Any], **kwargs: Any) -> Any:
        digest = payload_hash(entity)
        if conf.SKIP_UNCHANGED and not kwargs.get("force_type"):
            entry = last_sent(self._source, origin_id)
            if entry is not None and entry.payload_hash == digest:
                self.skipped += 1
                return IngestResponse(status=200, message="Unchanged; not sent again.")
        self._check_claim()
        response = self._client.save(origin_id, entity, **kwargs)
        record(self._source, origin_id, digest, self._job)
        self.sent.append((origin_id, "save"))
        return response

    def delete(self, origin_id: str, **kwargs: Any) -> Any:
        self._check_claim()
        response = self._client.delete(origin_id, **kwargs)
        record(self._source, origin_id, "", self._job)
        self.sent.append((origin_id, "delete"))
        return response

    def _check_claim(self) -> None:
        # A worker that was frozen past its lease (a paused VM, a long GC) must not send
        # the state it mapped before: the job's new owner sends a newer one.
        job = self._job
        if job is None or job.lease_token is None:
            return
        from enterspeed_sync.models import EnterspeedJob, JobState

        held = EnterspeedJob.objects.filter(
            pk=job.pk, lease_token=job.lease_token, state=JobState.PROCESSING
        )
        if not held.exists():
            raise LeaseLost(f"Lost the lease on job {job.pk} ({job.origin_id}); not sent.")
