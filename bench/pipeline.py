"""
Measure the core pipeline on this machine: queueing jobs for a seed, processing them
against the ingest stand-in over loopback, and the cost the app adds to an editor's publish.

    python bench/pipeline.py [--pages 1000] [--latency 0.0] [--postgres]

Uses the test settings (tests/settings.py) on a fresh database; prints numbers, asserts
nothing.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.0, help="stand-in delay per request (s)")
    parser.add_argument("--publishes", type=int, default=30, help="editor publishes to time")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ["ENTERSPEED_TEST_Q_SYNC"] = "1"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import override_settings
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        from enterspeed_sync.testing import IngestStandIn

        with IngestStandIn(api_keys=["source-bench"]) as standin:
            standin.latency = args.latency
            sync = {
                "API_KEY": "source-bench",
                "BASE_URL": standin.url,
                "PROCESS_ON_COMMIT": False,
            }
            with override_settings(ENTERSPEED_SYNC=sync):
                run(args, standin, call_command)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(f"database: {connection.vendor}, python {sys.version.split()[0]}")
    del settings


def run(args, standin, call_command) -> None:
    from wagtail.models import Page, Site

    from enterspeed_sync.jobs import pause_sync
    from enterspeed_sync.models import EnterspeedJob
    from enterspeed_sync.processing import process_pending_jobs
    from enterspeed_sync.seeding import seed
    from tests.testapp.models import BlogIndexPage, BlogPage, HomePage

    started = time.perf_counter()
    with pause_sync():
        root = Page.objects.get(depth=1)
        home = root.add_child(instance=HomePage(title="Home", slug="bench-home"))
        Site.objects.update_or_create(
            is_default_site=True, defaults={"hostname": "bench.example", "root_page": home}
        )
        index = home.add_child(instance=BlogIndexPage(title="Blog", slug="blog"))
        for i in range(args.pages):
            index.add_child(
                instance=BlogPage(
                    title=f"Post {i}",
                    slug=f"post-{i}",
                    body=f"<p>Body of post {i} with <b>rich</b> text.</p>",
                    content=[("heading", f"Heading {i}"), ("paragraph", "<p>Text</p>")],
                )
            )
    print(f"created {args.pages} pages in {time.perf_counter() - started:.1f} s (not measured)")

    started = time.perf_counter()
    result = seed()
    seconds = time.perf_counter() - started
    rate = result.total / seconds
    print(f"seed: queued {result.total} jobs in {seconds:.2f} s ({rate:,.0f} jobs/s)")

    started = time.perf_counter()
    processed = process_pending_jobs()
    seconds = time.perf_counter() - started
    print(
        f"process: {processed.succeeded} sent, {processed.failed} failed in {seconds:.2f} s "
        f"({processed.processed / seconds:,.1f} jobs/s, "
        f"stand-in latency {args.latency * 1000:.0f} ms)"
    )
    assert not EnterspeedJob.objects.exists() or processed.failed
    print(f"stand-in holds {len(standin.entities)} entities")

    post = BlogPage.objects.order_by("pk").first()

    def time_publishes(enabled: bool) -> list[float]:
        from django.test import override_settings

        timings = []
        with override_settings(
            ENTERSPEED_SYNC={
                "API_KEY": "source-bench",
                "ENABLED": enabled,
                "PROCESS_ON_COMMIT": False,
            }
        ):
            for i in range(args.publishes):
                post.title = f"Edited {i}"
                t = time.perf_counter()
                post.save_revision().publish()
                timings.append(time.perf_counter() - t)
        return timings

    time_publishes(True)  # warm up
    off = time_publishes(False)
    on = time_publishes(True)
    print(
        f"editor publish: median {statistics.median(off) * 1000:.1f} ms without the app, "
        f"{statistics.median(on) * 1000:.1f} ms with it "
        f"(+{(statistics.median(on) / statistics.median(off) - 1) * 100:.1f} %)"
    )


if __name__ == "__main__":
    main()
