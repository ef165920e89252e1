"""
What following links costs in the editor's request (docs/jobs.md, "What links to a page"):
the bench site (bench/site.py: every post links to a section in its rich text, its stream
and its related page), with Wagtail's reference index built, then

- a slug change of one section (its posts move with it, and every post elsewhere that
  links to it is re-sent), with and without ``REINGEST_REFERRERS``;
- a publish of a post that keeps its title (no links re-sent; one read before the save);
- a publish that changes a section's title (what links to it is re-sent).

Each is timed (the median of five) as the editor's request runs it, receivers included (the
jobs are processed later by the cluster, which is not timed here), and its jobs are counted.

    python bench/links.py [--pages 5000] [--sections 50] [--postgres]

Prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.testdb import run_on_test_database

ROUNDS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--sections", type=int, default=50)
    parser.add_argument("--postgres", action="store_true", help="Use ENTERSPEED_TEST_PG_*.")
    args = parser.parse_args()
    # Tasks go to the broker and wait there: only the editor's request is timed.
    os.environ["ENTERSPEED_TEST_Q_SYNC"] = "0"
    run_on_test_database(
        lambda: run(args.pages, args.sections), postgres=args.postgres, prefix="bench-links-"
    )


def run(pages: int, sections: int) -> None:
    from django.core.management import call_command
    from django.test import override_settings
    from wagtail.models import Page, ReferenceIndex

    from bench.site import build_site
    from enterspeed_sync.models import EnterspeedJob
    from tests.testapp.models import BlogIndexPage, BlogPage

    started = time.perf_counter()
    counts = build_site(pages, sections=sections)
    call_command("rebuild_references_index", verbosity=0)
    print(
        f"site: {counts['pages']} pages, {ReferenceIndex.objects.count()} references,"
        f" built in {time.perf_counter() - started:.1f} s"
    )
    sync = {"API_KEY": "source-bench", "BASE_URL": "http://127.0.0.1:9"}

    def timed(label: str, change) -> None:
        """The median of ``ROUNDS`` runs of ``change(round)``, and the jobs one queued."""
        seconds = []
        for round_number in range(ROUNDS):
            EnterspeedJob.objects.all().delete()
            started = time.perf_counter()
            change(round_number)
            seconds.append(time.perf_counter() - started)
        jobs = EnterspeedJob.objects.count()
        bulk = EnterspeedJob.objects.filter(priority=0).count()
        median = statistics.median(seconds)
        print(f"{label:<52} {median * 1000:8.1f} ms  {jobs:6d} jobs ({bulk} bulk)")

    section = BlogIndexPage.objects.order_by("path")[1]
    post = BlogPage.objects.order_by("path").first()
    publish(post)  # warm up: the first request of a process loads what later ones reuse
    # Outside a transaction, as an editor's request: after-commit receivers run at once.
    with override_settings(ENTERSPEED_SYNC={**sync, "REINGEST_REFERRERS": False}):
        timed("slug change of a section, REINGEST_REFERRERS off", lambda n: rename(section, n))
    with override_settings(ENTERSPEED_SYNC=sync):
        timed("slug change of a section, REINGEST_REFERRERS on", lambda n: rename(section, n))
        timed("publish of a post, same title", lambda n: publish(post))
        timed(
            "publish of a section with a new title",
            lambda n: publish(section, title=f"New {n}"),
        )
    EnterspeedJob.objects.all().delete()
    Page.objects.all().delete()


def rename(page, round_number: int) -> None:
    page = type(page).objects.get(pk=page.pk)
    page.slug = f"{page.slug}-{round_number}"
    page.save_revision().publish()


def publish(page, *, title: str | None = None) -> None:
    page = type(page).objects.get(pk=page.pk)
    if title is not None:
        page.title = title
    page.save_revision().publish()


if __name__ == "__main__":
    main()
