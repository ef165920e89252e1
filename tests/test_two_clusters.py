"""
The multi-machine set-up: two `qcluster` processes (two workers each) sharing one
PostgreSQL database and one ORM broker, processing a seed of 2,000 pages. Counted at the
stand-in: every entity is sent exactly once for its one instruction, never two requests for
one entity at once, the shared rate limit holds across both clusters, and no job is left.

``bench/two_clusters.py`` runs this with a report file and prints the numbers.
"""

import json
import math
import os
import time

import pytest
from django.db import connection, transaction
from django_q.conf import Conf
from django_q.models import Task
from wagtail.models import Page, Site

from enterspeed_sync.capture.enqueue import enqueue_processing
from enterspeed_sync.capture.outbox import pause_sync
from enterspeed_sync.capture.seeding import seed
from enterspeed_sync.models import EnterspeedJob
from tests.qcluster import log_tail, running_qcluster, wait_until, worker_pids
from tests.testapp.models import BlogIndexPage, BlogPage, HomePage

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.faults,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PAGES = int(os.environ.get("ENTERSPEED_TWO_CLUSTER_PAGES", "2000"))
RATE_LIMIT = 60  # requests per second, shared by both clusters (binding: they do ~90/s)
#: Processing tasks queued at once, as several editors' commits and the schedule would.
KICKS = 16


@pytest.fixture
def two_clusters(standin, monkeypatch, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("several machines need PostgreSQL; SQLite is one machine, one cluster")
    monkeypatch.setattr(Conf, "SYNC", False)
    overrides = {"RATE_LIMIT": RATE_LIMIT}
    with (
        running_qcluster(standin.url, tmp_path / "a.log", sync_overrides=overrides) as a,
        running_qcluster(standin.url, tmp_path / "b.log", sync_overrides=overrides) as b,
    ):
        yield a, b


def build_pages(count):
    with pause_sync(), transaction.atomic():
        root = Page.objects.get(depth=1)
        # Wagtail's welcome page would be outside the site: a delete, not an entity.
        Page.objects.filter(depth=2).delete()
        home = root.add_child(instance=HomePage(title="Home", slug="home-two"))
        Site.objects.update_or_create(
            is_default_site=True,
            defaults={"hostname": "www.example.com", "port": 443, "root_page": home},
        )
        sections = [
            home.add_child(instance=BlogIndexPage(title=f"Section {i}", slug=f"s-{i}"))
            for i in range(20)
        ]
        for i in range(count - 1 - len(sections)):
            sections[i % len(sections)].add_child(
                instance=BlogPage(title=f"Page {i}", slug=f"p-{i}")
            )


def test_two_clusters_send_every_entity_once(standin, two_clusters):
    build_pages(PAGES)
    queued = seed().total
    for _ in range(KICKS):
        enqueue_processing()
    started = time.monotonic()
    done = wait_until(lambda: not EnterspeedJob.objects.exists(), timeout=180, interval=0.5)
    elapsed = time.monotonic() - started
    assert done, "\n".join(log_tail(process) for process in two_clusters)

    sends = standin.sends()
    pages = {f"page-{pk}" for pk in Page.objects.filter(depth__gt=1).values_list("pk", flat=True)}
    assert set(sends) == pages and len(pages) == queued
    assert set(sends.values()) == {1}  # once per instruction, no duplicate delivery
    # No failed or repeated request either: every entity was in exactly one accepted request.
    assert sum(len(r.accepted_ids) for r in standin.requests) == queued
    assert all(r.status == 200 for r in standin.requests)
    assert standin.max_overlap == 1
    assert set(standin.entities) == pages
    # Slots are 1/60 s apart and a request goes out within its own slot; timestamps taken
    # at the stand-in add a little arrival jitter on a busy machine.
    peak = standin.peak_per_second()
    assert peak <= RATE_LIMIT + 3
    requests = len(standin.requests)  # bulk: about one per 50 entities
    assert elapsed >= (requests - RATE_LIMIT - 1) / RATE_LIMIT * 0.95

    # Both clusters did part of the work (task results name the worker's pid; the
    # monitor saves them shortly after each task ends).
    pids = {pid: index for index, p in enumerate(two_clusters) for pid in worker_pids(p)}

    def jobs_per_cluster():
        counts = dict.fromkeys(range(len(two_clusters)), 0)
        for result in Task.objects.values_list("result", flat=True):
            if isinstance(result, dict) and result.get("succeeded"):
                pid = int(str(result.get("worker", ":0")).rsplit(":", 1)[1])
                if pid in pids:
                    counts[pids[pid]] += result["succeeded"]
        return counts

    wait_until(lambda: sum(jobs_per_cluster().values()) >= queued, timeout=30)
    by_cluster = jobs_per_cluster()
    assert sum(by_cluster.values()) == queued and all(by_cluster.values()), by_cluster

    report = {
        "jobs": queued,
        "clusters": len(two_clusters),
        "workers per cluster": 2,
        "seconds": round(elapsed, 1),
        "jobs per second": round(queued / elapsed, 1),
        "rate limit": RATE_LIMIT,
        "peak requests in one second": peak,
        "entities sent once": sum(1 for n in sends.values() if n == 1),
        "entities sent more than once": sum(1 for n in sends.values() if n > 1),
        "jobs left": EnterspeedJob.objects.count(),
        "jobs per cluster (from task results)": by_cluster,
        "min seconds at the rate limit": math.floor(queued / RATE_LIMIT),
    }
    print(f"\ntwo clusters: {json.dumps(report)}")  # noqa: T201
    if path := os.environ.get("ENTERSPEED_TWO_CLUSTER_REPORT"):
        with open(path, "a") as file:
            file.write(json.dumps(report) + "\n")
