"""
django-q2's Redis broker. Real clusters on the redis-server tests/__main__.py starts
(``ENTERSPEED_TEST_REDIS_URL``) share a seed. With Redis stopped (nothing listens on its
port), queueing a task fails fast: an editor's publish commits and asks Redis once, without
redis-py's retries (about 4.5 s), and not again for a while; the admin's Seed answers with a
message instead of a 500, and the audit log says the seed was not started; a large "retry all
failed" is done in the request instead of by tasks.
"""

import os
import socket

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_q.conf import Conf
from django_q.models import Task
from wagtail.models import ModelLogEntry, Page, Site

from enterspeed_sync import actions
from enterspeed_sync.capture import enqueue
from enterspeed_sync.capture.outbox import JobSpec, pause_sync, queue_jobs
from enterspeed_sync.capture.seeding import seed
from enterspeed_sync.models import EnterspeedJob, JobState
from enterspeed_sync.status.clusters import get_clusters
from tests.qcluster import log_tail, running_qcluster, wait_until, worker_pids
from tests.testapp.models import BlogIndexPage, BlogPage, HomePage

redis = pytest.importorskip("redis")

REDIS_URL = os.environ.get("ENTERSPEED_TEST_REDIS_URL", "")


def use_redis(monkeypatch, redis_settings) -> None:
    """This process queues on django-q2's Redis broker (``Q_CLUSTER["redis"]``)."""
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", redis_settings)
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(enqueue, "_broker_down_until", ((), 0.0))


@pytest.fixture
def redis_down(monkeypatch):
    """Redis stopped: its port refuses connections. Returns the connection attempts made."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # As docs/production.md writes it: redis-py retries a refused connection made so.
    use_redis(monkeypatch, {"host": "127.0.0.1", "port": port, "db": 0})
    attempts = []
    connect = redis.connection.Connection._connect

    def counting_connect(self):
        attempts.append(self.port)
        return connect(self)

    monkeypatch.setattr(redis.connection.Connection, "_connect", counting_connect)
    return attempts


@pytest.fixture
def admin_client(django_user_model):
    client = Client()
    client.force_login(
        django_user_model.objects.create_superuser(username="admin", password="pw", email="")
    )
    return client


# Redis stopped ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_publish_with_redis_down_commits_and_asks_redis_once(
    site_tree, redis_down, django_capture_on_commit_callbacks
):
    first, second = site_tree["posts"][:2]
    with django_capture_on_commit_callbacks(execute=True):
        first.save_revision().publish()
    # One connection attempt, no retries; the job row is the record, for the schedule.
    assert len(redis_down) == 1
    assert EnterspeedJob.objects.filter(origin_id=f"page-{first.pk}").exists()
    with django_capture_on_commit_callbacks(execute=True):
        second.save_revision().publish()
    assert len(redis_down) == 1, "asked again while it was known to be down"
    assert EnterspeedJob.objects.filter(origin_id=f"page-{second.pk}").exists()


@pytest.mark.django_db
def test_redis_is_asked_again_after_a_while(redis_down, monkeypatch):
    enqueue.enqueue_processing()
    enqueue.enqueue_processing()
    assert len(redis_down) == 1
    settings, until = enqueue._broker_down_until
    monkeypatch.setattr(enqueue, "_broker_down_until", (settings, until - 60))
    enqueue.enqueue_processing()
    assert len(redis_down) == 2


# No transaction around the request, as in production: the task is queued at once.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_seed_view_says_the_cluster_cannot_be_reached(admin_client, site_tree, redis_down):
    response = admin_client.post(reverse("enterspeed_sync:seed"), {"kinds": ["pages"]})
    assert response.status_code == 302
    page = admin_client.get(response["Location"])
    assert "the cluster cannot be reached" in page.content.decode()
    assert not ModelLogEntry.objects.filter(action="enterspeed_sync.seed").exists()
    entry = ModelLogEntry.objects.get(action="enterspeed_sync.seed_not_started")
    assert entry.user.username == "admin"
    assert not EnterspeedJob.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_large_retry_with_redis_down_is_done_in_the_request(site_tree, redis_down):
    queue_jobs(
        [
            JobSpec(entity_type="page", entity_id=str(i), job_type="delete", origin_id=f"page-{i}")
            for i in range(5)
        ]
    )
    EnterspeedJob.objects.update(state=JobState.FAILED)
    retried = actions.retry_all_failed(inline_limit=2)
    assert (retried.background, retried.queued) == (False, 5)
    assert EnterspeedJob.objects.pending().count() == 5


# Real clusters on Redis -----------------------------------------------------------------


def build_pages(count: int) -> None:
    with pause_sync():
        root = Page.objects.get(depth=1)
        Page.objects.filter(depth=2).delete()
        home = root.add_child(instance=HomePage(title="Home", slug="home-redis"))
        Site.objects.update_or_create(
            is_default_site=True,
            defaults={"hostname": "www.example.com", "port": 443, "root_page": home},
        )
        sections = [
            home.add_child(instance=BlogIndexPage(title=f"Section {i}", slug=f"s-{i}"))
            for i in range(10)
        ]
        for i in range(count - 1 - len(sections)):
            sections[i % len(sections)].add_child(
                instance=BlogPage(title=f"Page {i}", slug=f"p-{i}")
            )


@pytest.mark.cluster
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_seed_spreads_over_every_cluster_on_redis(standin, tmp_path, monkeypatch):
    if not REDIS_URL:
        pytest.skip("no redis-server: tests/__main__.py starts one (ENTERSPEED_TEST_REDIS_URL)")
    if connection.vendor != "postgresql":
        pytest.skip("several machines need PostgreSQL; SQLite is one machine, one cluster")
    redis.from_url(REDIS_URL).flushdb()
    use_redis(monkeypatch, REDIS_URL)
    build_pages(600)
    with (
        running_qcluster(standin.url, tmp_path / "a.log", redis_url=REDIS_URL) as a,
        running_qcluster(standin.url, tmp_path / "b.log", redis_url=REDIS_URL) as b,
    ):
        assert wait_until(lambda: get_clusters().workers == 4, timeout=30), log_tail(a)
        pids = {"a": set(worker_pids(a)), "b": set(worker_pids(b))}
        queued = seed().total
        drained = wait_until(lambda: not EnterspeedJob.objects.exists(), timeout=120)
        assert drained, log_tail(a) + log_tail(b)
    assert queued >= 600
    pages = Page.objects.filter(depth__gt=1).values_list("pk", flat=True)
    assert set(standin.entities) >= {f"page-{pk}" for pk in pages}
    sent_by = {"a": 0, "b": 0}
    for task in Task.objects.filter(func="enterspeed_sync.tasks.process_pending_jobs"):
        pid = int(task.result["worker"].rsplit(":", 1)[1])
        for name, cluster_pids in pids.items():
            if pid in cluster_pids:
                sent_by[name] += task.result["succeeded"]
    # django-q2 keeps the last save_limit (50) task results: enough to see both.
    assert sent_by["a"] > 0 and sent_by["b"] > 0, sent_by
