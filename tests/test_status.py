"""
One status model (enterspeed_sync.status) for every reader: the dashboard's notices, the
health report, the system check W016 and `enterspeed_process --status` agree, per
destination, with one stalled threshold and the cluster heartbeat django-q2's scheduler
leaves on our minute schedule.
"""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Schedule
from django_q.scheduler import scheduler

from enterspeed_sync.api.health import get_health_report
from enterspeed_sync.capture.outbox import JobSpec, queue_job
from enterspeed_sync.delivery import gate
from enterspeed_sync.models import EnterspeedJob
from enterspeed_sync.processing.schedules import SCHEDULES, ensure_schedules
from enterspeed_sync.status import (
    PROCESS_SCHEDULE,
    STALLED_AFTER,
    get_heartbeat,
    get_notices,
    get_sync_status,
)
from tests.qcluster import running_qcluster, wait_until

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
def test_the_heartbeat_is_django_q2s_scheduler_running_our_schedule(db, monkeypatch):
    assert PROCESS_SCHEDULE in SCHEDULES
    ensure_schedules()
    Schedule.objects.filter(name=PROCESS_SCHEDULE).update(next_run=timezone.now())
    # The schedule exists, but no cluster's scheduler has run it yet.
    assert not get_heartbeat().alive
    due_job(STALLED_AFTER.total_seconds() / 60 + 1)
    assert "None has been seen" in get_sync_status().message

    # django-q2's own scheduler, as a cluster's sentinel runs it (tasks run inline here).
    monkeypatch.setattr(Conf, "SYNC", True)
    Schedule.objects.exclude(name=PROCESS_SCHEDULE).update(next_run=timezone.now() + STALLED_AFTER)
    EnterspeedJob.objects.update(next_attempt_at=timezone.now() + timedelta(hours=1))
    scheduler(broker=get_broker())
    heartbeat = get_heartbeat()
    assert heartbeat.alive and heartbeat.next_run > timezone.now()

    EnterspeedJob.objects.update(next_attempt_at=timezone.now() - STALLED_AFTER * 2)
    message = get_sync_status().message
    assert "cluster is running, but the queue is behind" in message

    # The cluster stopped: its scheduler no longer moves next_run on.
    Schedule.objects.filter(name=PROCESS_SCHEDULE).update(
        next_run=timezone.now() - timedelta(minutes=3)
    )
    assert not get_heartbeat().alive
    assert "None has been seen" in get_sync_status().message


@pytest.mark.cluster
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_running_qcluster_is_seen_and_a_stopped_one_is_not(standin, monkeypatch, tmp_path):
    monkeypatch.setattr(Conf, "SYNC", False)
    ensure_schedules()
    Schedule.objects.update(next_run=timezone.now() - timedelta(seconds=1), task=None)
    assert not get_heartbeat().alive
    with running_qcluster(standin.url, tmp_path / "qcluster.log"):
        assert wait_until(lambda: get_heartbeat().alive, timeout=90)
    Schedule.objects.filter(name=PROCESS_SCHEDULE).update(
        next_run=timezone.now() - timedelta(minutes=3)
    )
    assert not get_heartbeat().alive
