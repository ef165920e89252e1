"""
The health endpoint's report: the status model's verdict (``state``, and the HTTP status
it maps to), queue depth and age, failures, whether sending is paused, the django-q2
clusters running and when Enterspeed last accepted something. Three queries (job counts,
the sending state, the ledger's newest entry) and a read of django-q2's cluster statistics,
so a monitor may ask every few seconds.
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
from enterspeed_sync.status.clusters import Clusters


def last_successful_ingest(source=None) -> datetime | None:
    """When Enterspeed last accepted a save or delete from the configured source."""
    source = source or current_source()
    entries = LedgerEntry.objects.filter(key_hash=source.key_hash)
    return entries.aggregate(last=Max("sent_at"))["last"]


def get_health_report(now: datetime | None = None) -> dict:
    now = now or timezone.now()
    status = sync_status.get_sync_status(now)
    # Every destination's state that is not ok, most serious first, then failed jobs.
    reasons = sorted(
        {row.state for row in status.destinations if not row.ok}, key=sync_status.SEVERITY.index
    )
    if status.failed:
        reasons.append("failed_jobs")
    if status.http_status != 200:
        verdict = "failing"
    else:
        verdict = "degraded" if reasons else "ok"
    oldest = status.oldest_pending_at
    return {
        "status": verdict,
        "http_status": status.http_status,
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
        "clusters": clusters_report(status.clusters),
        "checked_at": isoformat(now),
    }


def clusters_report(clusters: Clusters) -> dict:
    return {
        "needed": clusters.needed,
        "visible": clusters.visible,
        "live": [
            {
                "cluster_id": cluster.cluster_id,
                "host": cluster.host,
                "pid": cluster.pid,
                "status": cluster.status,
                "workers": cluster.workers,
                "started_at": isoformat(cluster.started_at),
                "last_beat_at": isoformat(cluster.last_beat),
            }
            for cluster in clusters.live
        ],
    }
