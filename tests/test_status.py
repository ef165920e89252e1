"""
One status model (enterspeed_sync.status) for every reader: the dashboard's notices, the
health report, the system check W016 and `enterspeed_process --status` agree, per
destination, with one stalled threshold and the clusters django-q2's own statistics show.
"""

import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf

from enterspeed_sync.api.health import get_health_report
from enterspeed_sync.capture.outbox import JobSpec, queue_job
from enterspeed_sync.delivery import gate
from enterspeed_sync.models import EnterspeedJob
from enterspeed_sync.status import STALLED_AFTER, get_notices, get_sync_status
from enterspeed_sync.status.clusters import get_clusters
from tests.clusters import cluster_beats, cluster_stops
from tests.qcluster import running_qcluster, wait_until

LOCMEM = "django.core.cache.backends.locmem.LocMemCache"
KEYS = {
    "API_KEY": "source-publish-0123456789",
    "PREVIEW_API_KEY": "source-preview-0123456789",
    "PROCESS_ON_COMMIT": False,
}


def due_job(minutes_ago, *, destination="publish", entity_id="1"):
    """A pending job due (and created) ``minutes_ago``; negative: due in the future."""
    queue_job(
        JobSpec(
            entity_type="page",
            entity_id=entity_id,
            job_type="delete",
            origin_id=f"page-{entity_id}",
            destination=destination,
        )
    )
    job = EnterspeedJob.objects.get(entity_id=entity_id, destination=destination)
    EnterspeedJob.objects.filter(pk=job.pk).update(
        created_at=timezone.now() - timedelta(minutes=max(minutes_ago, 30)),
        next_attempt_at=timezone.now() - timedelta(minutes=minutes_ago),
    )
    return job


def every_reader_says_stalled(admin_client) -> dict[str, bool]:
    out = StringIO()
    call_command("enterspeed_process", "--status", stdout=out)
    dashboard = admin_client.get(reverse("enterspeed_sync:dashboard")).content.decode()
    return {
        "status": get_sync_status().state == "stalled",
        "notice": any("jobs are due" in str(notice.message) for notice in get_notices()),
        "dashboard": "jobs are due" in dashboard,
        "health": "stalled" in get_health_report()["reasons"],
        "check": "enterspeed_sync.W016" in {m.id for m in run_checks(databases=["default"])},
        "command": "jobs are due" in out.getvalue(),
    }


@override_settings(ENTERSPEED_SYNC=KEYS)
def test_every_reader_uses_the_one_stalled_threshold(admin_client):
    minutes = STALLED_AFTER.total_seconds() / 60
    job = due_job(minutes - 1)
    assert set(every_reader_says_stalled(admin_client).values()) == {False}
    EnterspeedJob.objects.filter(pk=job.pk).update(
        next_attempt_at=timezone.now() - STALLED_AFTER - timedelta(minutes=1)
    )
    assert set(every_reader_says_stalled(admin_client).values()) == {True}


@override_settings(ENTERSPEED_SYNC=KEYS)
def test_a_job_waiting_for_its_retry_is_not_stalled(db):
    # Created long ago, failed since, and waiting out its backoff: not due, not stalled.
    due_job(-10)
    status = get_sync_status()
    assert status.state == "ok" and status.pending == 1 and status.due == 0
    assert not get_notices()


@override_settings(ENTERSPEED_SYNC=KEYS)
def test_each_destination_has_its_own_status(db):
    due_job(1, destination="preview")
    gate.pause_for_rate_limit(gate.current_source("preview"), 60, "HTTP 429")
    status = get_sync_status()
    publish, preview = status.get("publish"), status.get("preview")
    assert publish.state == "ok" and publish.pending == 0
    assert preview.state == "rate_limited" and preview.pending == 1 and preview.paused
    assert preview.message.startswith("Preview source: ") and preview.until > timezone.now()
    # The whole: the most serious destination's state, every destination's jobs.
    assert status.state == "rate_limited" and status.pending == 1
    assert [notice.message for notice in get_notices()] == [preview.message]
    warnings = [m for m in run_checks(databases=["default"]) if m.id == "enterspeed_sync.W016"]
    assert [m.msg for m in warnings] == [f"Enterspeed sync: {preview.message}"]
    out = StringIO()
    call_command("enterspeed_process", "--status", stdout=out)
    assert "Status (Published source): The sync is running." in out.getvalue()
    assert f"Status (Preview source): {preview.message}" in out.getvalue()


@override_settings(ENTERSPEED_SYNC=KEYS)
def test_the_homepage_panel_says_why_nothing_is_sent(admin_client):
    home = reverse("wagtailadmin_home")
    assert "data-enterspeed-problem" not in admin_client.get(home).content.decode()
    gate.record_auth_failure(gate.current_source(), "Enterspeed refused the API key (HTTP 401)")
    content = admin_client.get(home).content.decode()
    assert "data-enterspeed-problem" in content and "refused the API key" in content


@override_settings(ENTERSPEED_SYNC=KEYS)
def test_clusters_are_django_q2s_own_statistics(db, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)
    assert not get_clusters().alive
    status = get_sync_status()
    assert (status.state, status.http_status) == ("no_cluster", 503)
    assert "No django-q2 cluster is running" in status.message

    cluster_beats(workers=3)
    clusters = get_clusters()
    assert clusters.visible and clusters.needed and clusters.workers == 3
    assert get_sync_status().state == "ok"
    due_job(STALLED_AFTER.total_seconds() / 60 + 1)
    message = get_sync_status().message
    assert "1 django-q2 cluster(s) are running, but the queue is behind" in message

    # A statistic not saved for a few seconds, or a cluster stopping, is no live cluster.
    cluster_beats(when=timezone.now() - timedelta(seconds=10))
    assert get_sync_status().state == "no_cluster"
    cluster_beats(status=Conf.STOPPING)
    assert get_sync_status().state == "no_cluster"
    cluster_beats()
    assert get_sync_status().state == "stalled"
    cluster_stops()
    assert get_sync_status().state == "no_cluster"


@override_settings(ENTERSPEED_SYNC=KEYS)
def test_claims_past_their_lease_with_no_cluster_are_stuck(db, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)
    job = due_job(0)
    EnterspeedJob.objects.filter(pk=job.pk).update(
        state="processing", leased_until=timezone.now() - timedelta(seconds=40)
    )
    status = get_sync_status()
    assert (status.state, status.http_status, status.expired) == ("stuck", 503, 1)
    # A live cluster takes them back on its next run; past the stall threshold it is late.
    cluster_beats()
    assert get_sync_status().state == "ok"
    EnterspeedJob.objects.filter(pk=job.pk).update(
        leased_until=timezone.now() - STALLED_AFTER - timedelta(seconds=1)
    )
    assert get_sync_status().state == "stalled"


@override_settings(ENTERSPEED_SYNC=KEYS, CACHES={"default": {"BACKEND": LOCMEM}})
def test_a_per_process_cache_hides_the_clusters_and_the_check_says_so(db, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "CACHE", "default")
    clusters = get_clusters()
    assert not clusters.visible and not clusters.missing
    assert get_sync_status().state == "ok"  # not known, so not said
    ids = {message.id for message in run_checks()}
    assert "enterspeed_sync.W030" in ids


def test_the_test_settings_share_the_cluster_statistics(db):
    assert "enterspeed_sync.W030" not in {message.id for message in run_checks()}


@pytest.mark.cluster
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_running_qcluster_is_seen_within_seconds_and_a_stopped_one_is_not(
    standin, monkeypatch, tmp_path
):
    monkeypatch.setattr(Conf, "SYNC", False)
    assert not get_clusters().alive
    with running_qcluster(standin.url, tmp_path / "qcluster.log", workers=2) as process:
        started = time.monotonic()
        assert wait_until(lambda: get_clusters().alive, timeout=30)
        seen_after = time.monotonic() - started
        (cluster,) = get_clusters().live
        assert cluster.pid == process.pid
        # Its first statistic may be from before its workers started ("Starting", 0 workers).
        assert wait_until(lambda: get_clusters().workers == 2, timeout=10)
        out = StringIO()
        call_command("enterspeed_process", "--status", stdout=out)
        assert f"pid {process.pid}: " in out.getvalue() and "2 workers" in out.getvalue()
    stopped = time.monotonic()
    assert wait_until(lambda: not get_clusters().alive, timeout=10)
    gone_after = time.monotonic() - stopped
    # Seen once Django has started in the cluster (its first statistic); gone within the
    # statistic's 3-second expiry plus the freshness margin.
    print(f"\ncluster seen {seen_after:.1f} s after start, gone {gone_after:.1f} s after stop")  # noqa: T201
    assert seen_after < 15 and gone_after < 6, (seen_after, gone_after)
