"""
What an editor's publish costs when django-q2's Redis broker is down (docs/production.md,
"Several machines"): the page editor's Publish (bench/suite.py's ``measure_publish``, the
app's receivers connected, no cluster running), with this process queueing on a Redis
started for the run (as tests/__main__.py starts it), then with Redis stopped (its port
refusing connections), alternating; median and p95 of each.

    python bench/broker_outage.py [--publishes 40]

Prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.testdb import run_on_test_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--publishes", type=int, default=40)
    args = parser.parse_args()
    os.environ["ENTERSPEED_TEST_Q_SYNC"] = "0"
    from tests.__main__ import REDIS_URL_ENV, throwaway_redis

    with throwaway_redis():
        if not os.environ.get(REDIS_URL_ENV):
            raise SystemExit("no redis-server to measure with")
        run_on_test_database(lambda: measure(args), postgres=False, prefix="enterspeed-redis-")


def measure(args) -> None:
    import time

    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings
    from django.urls import reverse
    from django_q.conf import Conf
    from wagtail.test.utils.form_data import inline_formset, nested_form_data, rich_text

    from bench.site import build_site
    from bench.suite import stream_form_data
    from enterspeed_sync.capture import enqueue
    from tests.testapp.models import BlogPage

    build_site(200)
    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    client = Client()
    client.force_login(user)
    page = BlogPage.objects.order_by("pk").first()
    url = reverse("wagtailadmin_pages:edit", args=[page.pk])

    def publish(n: int) -> float:
        """The page editor's Publish, as bench/suite.py's measure_publish times it."""
        data = nested_form_data(
            {
                "title": f"Edited {n}",
                "slug": page.slug,
                "body": rich_text(f"<p>Edited body {n}</p>"),
                "content": stream_form_data(page),
                "comments": inline_formset([]),
                "action-publish": "publish",
            }
        )
        started = time.perf_counter()
        response = client.post(url, data)
        seconds = time.perf_counter() - started
        if response.status_code != 302:
            raise RuntimeError(f"publish failed: HTTP {response.status_code}")
        return seconds

    # Q_CLUSTER["redis"] as docs/production.md writes it (redis-py retries a refused
    # connection made so; one made from a URL it does not).
    port = int(os.environ["ENTERSPEED_TEST_REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
    urls = {
        "up": {"host": "127.0.0.1", "port": port, "db": 0},
        "down": {"host": "127.0.0.1", "port": 9, "db": 0},  # nothing listens: Redis stopped
    }
    times: dict[str, list[float]] = {name: [] for name in urls}
    Conf.ORM, Conf.SYNC = None, False
    with override_settings(ENTERSPEED_SYNC={"API_KEY": "source-bench"}):
        for n in range(4):  # warm up
            Conf.REDIS = urls["up"]
            publish(n)
        for n in range(args.publishes):
            for name, redis_url in urls.items():
                Conf.REDIS = redis_url
                times[name].append(publish(n))
    enqueue._broker_down_until = ((), 0.0)
    for name, found in times.items():
        found.sort()
        p95 = found[min(len(found) - 1, round(0.95 * len(found)) - 1)]
        print(
            f"editor publish, Redis {name}: median {statistics.median(found) * 1000:.1f} ms, "
            f"p95 {p95 * 1000:.1f} ms ({len(found)} publishes)"
        )


if __name__ == "__main__":
    main()
