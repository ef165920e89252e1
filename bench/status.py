"""
What asking for the sync status costs (``enterspeed_sync.status.get_sync_status``, read by
the dashboard, the health endpoint, check W016 and ``enterspeed_process --status``):
queries and milliseconds per call with N jobs in the table (pending, due, failed, on both
destinations), for a healthy queue and for a stalled one (which also reads the heartbeat).

    python bench/status.py [--jobs 20000] [--calls 50] [--postgres]

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
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--postgres", action="store_true", help="Use ENTERSPEED_TEST_PG_*.")
    args = parser.parse_args()
    run_on_test_database(
        lambda: run(args.jobs, args.calls), postgres=args.postgres, prefix="bench-status-"
    )


def run(count: int, calls: int) -> None:
    from datetime import timedelta

    from django.db import connection
    from django.test import override_settings
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from enterspeed_sync.models import EnterspeedJob
    from enterspeed_sync.status import get_sync_status

    now = timezone.now()
    states = ("pending", "pending", "pending", "failed")
    EnterspeedJob.objects.bulk_create(
        [
            EnterspeedJob(
                entity_type="page",
                entity_id=str(i),
                job_type="publish",
                origin_id=f"page-{i}",
                destination="preview" if i % 5 == 0 else "publish",
                state=states[i % len(states)],
                # Half are waiting out a retry, half due since a minute.
                next_attempt_at=now + timedelta(minutes=5 if i % 2 else -1),
            )
            for i in range(count)
        ],
        batch_size=2000,
    )
    keys = {"API_KEY": "source-bench-publish", "PREVIEW_API_KEY": "source-bench-preview"}
    with override_settings(ENTERSPEED_SYNC=keys):
        for label in ("healthy", "stalled"):
            if label == "stalled":
                EnterspeedJob.objects.filter(pk=EnterspeedJob.objects.order_by("pk")[0].pk).update(
                    state="pending", next_attempt_at=now - timedelta(hours=1)
                )
            with CaptureQueriesContext(connection) as queries:
                status = get_sync_status()
                status.message  # noqa: B018  (the stalled sentence reads the heartbeat)
            started = time.perf_counter()
            for _ in range(calls):
                get_sync_status().message  # noqa: B018
            per_call = (time.perf_counter() - started) / calls * 1000
            print(
                f"{connection.vendor} {count} jobs, {label:<7}: {len(queries)} queries, "
                f"{per_call:6.1f} ms per get_sync_status() (state {status.state})"
            )


if __name__ == "__main__":
    main()
