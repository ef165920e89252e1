"""
What the dashboard's glance costs (``enterspeed_sync.status.overview``) and what keeping
its counters costs processing (``processing.counters.record_outcomes``): queries and
milliseconds with N jobs (half failed, with errors of a few kinds; half pending), two days
of per-minute counters on both destinations, and N ledger entries.

    python bench/dashboard.py [--jobs 20000] [--calls 20] [--postgres]

Prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.testdb import run_on_test_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--postgres", action="store_true", help="Use ENTERSPEED_TEST_PG_*.")
    args = parser.parse_args()
    run_on_test_database(
        lambda: run(args.jobs, args.calls), postgres=args.postgres, prefix="bench-dash-"
    )


def measure(label: str, calls: int, func) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        func()
    started = time.perf_counter()
    for _ in range(calls):
        func()
    per_call = (time.perf_counter() - started) / calls * 1000
    print(f"{connection.vendor}: {label:<44} {len(queries):>2} queries, {per_call:7.2f} ms")


def run(count: int, calls: int) -> None:
    from datetime import timedelta

    from django.test import override_settings
    from django.utils import timezone

    from enterspeed_sync.delivery.gate import current_source
    from enterspeed_sync.models import EnterspeedJob, LedgerEntry, SyncCounter
    from enterspeed_sync.processing import counters
    from enterspeed_sync.processing.transitions import Outcome
    from enterspeed_sync.status import get_sync_status
    from enterspeed_sync.status.overview import (
        get_activity,
        get_failure_reasons,
        get_status_lines,
    )

    keys = {"API_KEY": "source-bench-publish", "PREVIEW_API_KEY": "source-bench-preview"}
    errors = (
        "Enterspeed rejected the request (HTTP 422, ValidationError): bad title {i}",
        "Gave up after 10 attempts. Last error: Enterspeed had a server error (HTTP 503)",
        "TypeError: unsupported operand {i}\n\nTraceback (most recent call last): ...",
    )
    now = timezone.now()
    with override_settings(ENTERSPEED_SYNC=keys):
        EnterspeedJob.objects.bulk_create(
            [
                EnterspeedJob(
                    entity_type="page",
                    entity_id=str(i),
                    job_type="publish",
                    origin_id=f"page-{i}",
                    state="failed" if i % 2 else "pending",
                    error=errors[i % len(errors)].format(i=i),
                )
                for i in range(count)
            ],
            batch_size=2000,
        )
        key_hash = current_source("publish").key_hash
        LedgerEntry.objects.bulk_create(
            [
                LedgerEntry(key_hash=key_hash, origin_id=f"page-{i}", payload_hash="x")
                for i in range(count)
            ],
            batch_size=2000,
        )
        start = counters.minute_of(now) - counters.KEEP_COUNTERS
        SyncCounter.objects.bulk_create(
            [
                SyncCounter(
                    minute=start + timedelta(minutes=m), destination=d, sent=m % 7, queued=m % 5
                )
                for m in range(int(counters.KEEP_COUNTERS.total_seconds() // 60))
                for d in ("publish", "preview")
            ],
            batch_size=2000,
        )
        print(
            f"{count} jobs (half failed, half pending), {count} ledger entries, "
            f"{SyncCounter.objects.count()} counters"
        )
        status = get_sync_status()
        measure("status lines (2 destinations)", calls, lambda: get_status_lines(status))
        measure("activity, last hour per minute", calls, lambda: get_activity("hour"))
        measure("activity, last day per hour", calls, lambda: get_activity("day"))
        measure("failed jobs by reason", calls, get_failure_reasons)
        outcomes = dict.fromkeys(range(90), Outcome.SUCCEEDED) | {90: Outcome.FAILED}
        counters.record_outcomes("publish", outcomes)  # the minute's row exists from here on
        measure(
            "record_outcomes, one batch of 91",
            calls * 10,
            lambda: counters.record_outcomes("publish", outcomes),
        )


if __name__ == "__main__":
    main()
