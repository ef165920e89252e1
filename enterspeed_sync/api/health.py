"""
The health endpoint's report: queue depth and age, failures, whether sending is paused and
when Enterspeed last accepted something. Three queries (job counts, the sending state, the
ledger's newest entry; a fourth, the cluster heartbeat, only while a queue is stalled), so a
monitor may ask every few seconds.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Max
from django.utils import timezone

from enterspeed_sync import status as sync_status
from enterspeed_sync.api.schemas import isoformat
from enterspeed_sync.conf import conf
from enterspeed_sync.delivery.gate import current_source
from enterspeed_sync.models import LedgerEntry


def last_successful_ingest(source=None) -> datetime | None:
    """When Enterspeed last accepted a save or delete from the configured source."""
    source = source or current_source()
    entries = LedgerEntry.objects.filter(key_hash=source.key_hash)
    return entries.aggregate(last=Max("sent_at"))["last"]


def get_health_report(now: datetime | None = None) -> dict:
    now = now or timezone.now()
    status = sync_status.get_sync_status(now)
    reasons = []
    if not conf.API_KEY:
        reasons.append("no_api_key")
    if status.state != sync_status.OK:
        reasons.append(status.state)
    if status.failed:
        reasons.append("failed_jobs")
    oldest = status.oldest_pending_at
    return {
        "status": "degraded" if reasons else "ok",
        "reasons": reasons,
        "state": status.state,
        "message": status.message,
        "pending": status.pending,
        "due": status.due,
        "processing": status.processing,
        "failed": status.failed,
        "oldest_pending_age_seconds": (
            round(max((now - oldest).total_seconds(), 0.0), 3) if oldest else None
        ),
        "last_successful_ingest_at": isoformat(last_successful_ingest()),
        "sending_paused": status.worst.paused,
        "paused_until": isoformat(status.until) if status.worst.paused else None,
        "last_error": status.last_error,
        "enabled": conf.ENABLED,
        "checked_at": isoformat(now),
    }
