"""The reliability system checks (E010, W010–W018) and the sync status behind W016."""

from datetime import timedelta

import pytest
from django.core.checks import run_checks
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from enterspeed_sync.capture.outbox import JobSpec, queue_job
from enterspeed_sync.delivery import gate as sending
from enterspeed_sync.models import EnterspeedJob, SourceState
from enterspeed_sync.status import get_sync_status

VALID = {"API_KEY": "source-tests", "BASE_URL": "https://api.enterspeed.com"}
Q_GOOD = {
    "name": "t",
    "orm": "default",
    "timeout": 60,
    "retry": 120,
    "max_attempts": 1,
    "ack_failures": True,
    "sync": True,
}


def check_ids(databases=None):
    messages = run_checks(databases=databases)
    return sorted({m.id for m in messages if m.id and m.id.startswith("enterspeed_sync.")})


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"MAX_ATTEMPTS": 0}, "enterspeed_sync.E010"),
        ({"MAX_ATTEMPTS": 2.5}, "enterspeed_sync.E010"),
        ({"RETRY_BASE_DELAY": "soon"}, "enterspeed_sync.E010"),
        ({"LEASE_SECONDS": -1}, "enterspeed_sync.E010"),
        ({"RETRY_WAIT_SECONDS": -1}, "enterspeed_sync.E010"),
        ({"RATE_LIMIT": "fast"}, "enterspeed_sync.E010"),
        ({"LEASE_SECONDS": 5}, "enterspeed_sync.W010"),
        ({"RATE_LIMIT": 0}, "enterspeed_sync.W017"),
        ({"RATE_LIMIT": 100}, "enterspeed_sync.W017"),
    ],
)
def test_reliability_settings_problems_have_ids(setting, expected):
    with override_settings(ENTERSPEED_SYNC={**VALID, **setting}, Q_CLUSTER=Q_GOOD):
        assert expected in check_ids()


def test_recommended_settings_pass():
    with override_settings(ENTERSPEED_SYNC={**VALID, "RATE_LIMIT": 25}, Q_CLUSTER=Q_GOOD):
        assert check_ids() == []


@pytest.mark.parametrize(
    ("q_cluster", "expected"),
    [
        ({"retry": 60}, "enterspeed_sync.W011"),
        ({"timeout": None}, "enterspeed_sync.W011"),
        ({"timeout": 40}, "enterspeed_sync.W015"),
        ({"max_attempts": 0, "ack_failures": False}, "enterspeed_sync.W012"),
        ({"orm": "other"}, "enterspeed_sync.W013"),
    ],
)
def test_risky_django_q2_settings_warn(q_cluster, expected):
    with override_settings(ENTERSPEED_SYNC=VALID, Q_CLUSTER={**Q_GOOD, **q_cluster}):
        assert expected in check_ids()


def test_postgresql_without_persistent_connections_warns(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    with override_settings(ENTERSPEED_SYNC=VALID, Q_CLUSTER=Q_GOOD):
        assert "enterspeed_sync.W014" in check_ids()


def test_sqlite_without_wal_warns(monkeypatch):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    options = {**connection.settings_dict["OPTIONS"], "init_command": ""}
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)
    with override_settings(ENTERSPEED_SYNC=VALID, Q_CLUSTER=Q_GOOD):
        assert "enterspeed_sync.W018" in check_ids()


@pytest.mark.django_db
@override_settings(ENTERSPEED_SYNC={**VALID, "PROCESS_ON_COMMIT": False})
def test_the_status_says_why_nothing_moves():
    source = sending.current_source()
    assert get_sync_status().state == "ok"
    assert "enterspeed_sync.W016" not in check_ids(databases=["default"])

    sending.pause_for_rate_limit(source, 30, "HTTP 429")
    status = get_sync_status()
    assert status.state == "rate_limited" and status.until > timezone.now()

    for _ in range(5):
        sending.record_transient_failure(source, "Enterspeed had a server error (HTTP 503)")
    status = get_sync_status()
    assert status.state == "breaker_open" and "HTTP 503" in status.message

    sending.record_auth_failure(source, "Enterspeed refused the API key (HTTP 401)")
    status = get_sync_status()
    assert status.state == "auth_failed" and "--resume" in status.message
    assert "enterspeed_sync.W016" in check_ids(databases=["default"])

    sending.resume_sending()
    assert get_sync_status().state == "ok"
    queue_job(JobSpec(entity_type="page", entity_id="1", job_type="delete", origin_id="page-1"))
    EnterspeedJob.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=20))
    status = get_sync_status()
    assert status.state == "stalled" and status.due == 1 and "qcluster" in status.message
    assert SourceState.objects.count() == 1
    assert "source-tests" not in SourceState.objects.get().key_hint  # never the whole key


@pytest.mark.django_db
def test_the_status_reports_a_disabled_sync():
    with override_settings(ENTERSPEED_SYNC={**VALID, "ENABLED": False}):
        assert get_sync_status().state == "disabled"
