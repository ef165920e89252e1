"""
The sync as Prometheus metrics, in the text exposition format (version 0.0.4), for the
operations API's ``metrics/`` endpoint. Every gauge comes from the status model
(``get_sync_status``), so the metrics say what the health endpoint and the dashboard say;
the counters are the running totals each batch adds to (``processing.totals``).

The format is written here rather than with ``prometheus_client``: its registry holds
numbers of the process it runs in, while these live in the database and are read at
scrape time (a custom collector either way), and the format is a few lines of text.

Per destination: jobs by state and priority, due jobs, the age of the oldest pending and
of the oldest due job, the status model's state (one series per state, 1 for the current
one), the breaker, failures in a row, the last time Enterspeed accepted something, and the
totals (sent, unchanged, failed attempts and failed jobs by reason, 429s, request latency
as a histogram). For the whole sync: live clusters and their workers.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.db.models import Count, Max
from django.utils import timezone

from enterspeed_sync import status as sync_status
from enterspeed_sync.delivery.gate import current_source
from enterspeed_sync.models import DeliveryTotal, EnterspeedJob, JobPriority, JobState, LedgerEntry
from enterspeed_sync.processing.totals import LATENCY_BUCKETS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "enterspeed_sync_"

#: name: (type, help) of every family, in the order they are written.
FAMILIES = {
    "jobs": ("gauge", "Jobs in the queue, by state and priority."),
    "jobs_due": ("gauge", "Pending jobs whose attempt is due now."),
    "oldest_pending_job_age_seconds": (
        "gauge",
        "Seconds since the oldest pending job was created; 0 when none is pending.",
    ),
    "oldest_due_job_age_seconds": (
        "gauge",
        "Seconds the longest-waiting due job could have been sent; 0 when none is due. "
        "Over 300 the status is stalled.",
    ),
    "state": ("gauge", "The status model's state: 1 for the current one, 0 for the others."),
    "failing": ("gauge", "1 when nothing reaches Enterspeed (the health endpoint's 503)."),
    "breaker_open": ("gauge", "1 while the circuit breaker is open or probing."),
    "consecutive_failures": ("gauge", "Transient failures in a row talking to Enterspeed."),
    "last_accepted_timestamp_seconds": (
        "gauge",
        "When Enterspeed last accepted a save or delete (Unix time).",
    ),
    "jobs_sent_total": ("counter", "Jobs Enterspeed accepted."),
    "jobs_unchanged_total": ("counter", "Jobs not sent: Enterspeed already had the payload."),
    "job_attempts_failed_total": ("counter", "Failed attempts that were retried later."),
    "job_attempts_failed_by_reason_total": (
        "counter",
        "Failed attempts that were retried later, by reason.",
    ),
    "jobs_failed_total": ("counter", "Jobs that failed for good."),
    "jobs_failed_by_reason_total": ("counter", "Jobs that failed for good, by reason."),
    "requests_throttled_total": ("counter", "Requests Enterspeed answered with 429."),
    "request_duration_seconds": ("histogram", "Seconds each request to Enterspeed took."),
    "clusters_live": ("gauge", "django-q2 clusters running (from django-q2's Stat)."),
    "cluster_workers": ("gauge", "Workers of the django-q2 clusters running."),
    "clusters_visible": (
        "gauge",
        "1 when this process can see django-q2's cluster statistics (a shared cache).",
    ),
}
#: Counters written even before the first batch adds to them: Prometheus's increase() and
#: rate() need two samples of a series, so a series that appears with its first failure
#: would never show it. The by-reason series do appear then; alert on the sums.
ALWAYS_COUNTED = ("jobs_sent_total", "jobs_unchanged_total", "requests_throttled_total")
#: Totals stored by reason: exposed as their sum and as ``<name>_by_reason_total``.
BY_REASON = ("job_attempts_failed_total", "jobs_failed_total")


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def labels_of(**labels: str) -> str:
    return ",".join(f'{name}="{escape(str(value))}"' for name, value in labels.items())


def number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Exposition:
    """Samples grouped by family, written in ``FAMILIES`` order."""

    def __init__(self) -> None:
        self.samples: dict[str, list[str]] = defaultdict(list)

    def add(self, family: str, value: float, labels: str = "", suffix: str = "") -> None:
        name = PREFIX + family + suffix
        self.samples[family].append(
            f"{name}{{{labels}}} {number(value)}" if labels else f"{name} {number(value)}"
        )

    def text(self) -> str:
        lines = []
        for family, (kind, help_text) in FAMILIES.items():
            if family not in self.samples:
                continue
            lines.append(f"# HELP {PREFIX}{family} {help_text}")
            lines.append(f"# TYPE {PREFIX}{family} {kind}")
            lines.extend(self.samples[family])
        return "\n".join(lines) + "\n"


def render_metrics(now: datetime | None = None) -> str:
    """The metrics now, as Prometheus text. Queries: the status model's two, jobs by state
    and priority, the totals, and the ledger's newest entry per destination (an index)."""
    now = now or timezone.now()
    status = sync_status.get_sync_status(now)
    out = Exposition()
    destinations = [row.destination for row in status.destinations]
    counts = {
        (row["destination"], row["state"], row["priority"]): row["n"]
        for row in EnterspeedJob.objects.order_by()
        .values("destination", "state", "priority")
        .annotate(n=Count("pk"))
    }
    totals: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    for total in DeliveryTotal.objects.filter(destination__in=destinations):
        totals[total.destination][total.name, total.labels] = total.value
    for row in status.destinations:
        destination = row.destination
        where = labels_of(destination=destination)
        for state in JobState:
            for priority in JobPriority:
                out.add(
                    "jobs",
                    counts.get((destination, state.value, priority.value), 0),
                    labels_of(
                        destination=destination, state=state.value, priority=priority.name.lower()
                    ),
                )
        out.add("jobs_due", row.due, where)
        out.add("oldest_pending_job_age_seconds", _age(now, row.oldest_pending_at), where)
        out.add("oldest_due_job_age_seconds", _age(now, row.oldest_due_at), where)
        for state in sync_status.SEVERITY:
            out.add(
                "state", int(row.state == state), labels_of(destination=destination, state=state)
            )
        out.add("failing", int(row.failing), where)
        out.add("breaker_open", int(row.breaker_trips > 0), where)
        out.add("consecutive_failures", row.consecutive_failures, where)
        last = _last_accepted(destination)
        if last is not None:
            out.add("last_accepted_timestamp_seconds", round(last.timestamp(), 3), where)
        _add_totals(out, destination, totals[destination])
    clusters = status.clusters
    out.add("clusters_live", len(clusters.live))
    out.add("cluster_workers", clusters.workers)
    out.add("clusters_visible", int(clusters.visible))
    return out.text()


def _add_totals(out: Exposition, destination: str, totals: dict[tuple[str, str], float]) -> None:
    where = labels_of(destination=destination)
    for name in ALWAYS_COUNTED:
        out.add(name, totals.get((name, ""), 0), where)
    for name in BY_REASON:
        by_reason = sorted(
            (labels, value) for (total, labels), value in totals.items() if total == name
        )
        out.add(name, sum(value for _labels, value in by_reason), where)
        for labels, value in by_reason:
            out.add(name.removesuffix("_total") + "_by_reason_total", value, f"{where},{labels}")
    # Stored per bucket; Prometheus buckets are cumulative.
    cumulative = 0.0
    for bound in LATENCY_BUCKETS:
        cumulative += totals.get(("request_duration_seconds_bucket", f'le="{bound:g}"'), 0)
        out.add("request_duration_seconds", cumulative, f'{where},le="{bound:g}"', "_bucket")
    count = totals.get(("request_duration_seconds_count", ""), 0)
    out.add("request_duration_seconds", count, f'{where},le="+Inf"', "_bucket")
    out.add(
        "request_duration_seconds",
        totals.get(("request_duration_seconds_sum", ""), 0),
        where,
        "_sum",
    )
    out.add("request_duration_seconds", count, where, "_count")


def _age(now: datetime, since: datetime | None) -> float:
    return round(max((now - since).total_seconds(), 0.0), 3) if since else 0


def _last_accepted(destination: str) -> datetime | None:
    # One query per destination, each the newest entry of its source through the ledger's
    # (key_hash, sent_at) index, as the health endpoint reads it.
    key_hash = current_source(destination).key_hash
    return LedgerEntry.objects.filter(key_hash=key_hash).aggregate(last=Max("sent_at"))["last"]
