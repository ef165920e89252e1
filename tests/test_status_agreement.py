"""
With a real cluster, every reader of the status model says the same thing within 10 s of a
fault, and again within 10 s of its end: the health endpoint (state and HTTP status), the
dashboard's status line, `enterspeed_process --status` and the Prometheus metrics.
Faults: an outage, a refused key, a killed cluster, a stalled queue.
"""

import os
import re
import signal
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf

from enterspeed_sync.capture.outbox import JobSpec, queue_job
from enterspeed_sync.models import EnterspeedJob
from enterspeed_sync.status import SEVERITY
from tests.prometheus import parse
from tests.qcluster import log_tail, running_qcluster, wait_until

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

#: The longest readers may take to agree on a fault, or on its end (the issue's bound).
AGREE_WITHIN = 10.0


@pytest.fixture
def admin(django_user_model, monkeypatch):
    # In this process async_task must enqueue for the cluster instead of running inline.
    monkeypatch.setattr(Conf, "SYNC", False)
    user = django_user_model.objects.create_superuser("admin", "a@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def readers(client) -> dict[str, tuple[str, int] | str]:
    """What each reader says now: the health endpoint's (state, HTTP status), the
    dashboard line's state and HTTP status, `--status`'s state line, and the metrics'
    ``enterspeed_sync_state`` and ``enterspeed_sync_failing`` (of the most serious
    destination, as health reports)."""
    health = client.get(reverse("enterspeed_sync_api:health"))
    fragment = client.get(reverse("enterspeed_sync:status")).content.decode()
    line = re.search(
        r'data-kind="([a-z_]+)" data-http-status="(\d+)" data-enterspeed-line', fragment
    )
    out = StringIO()
    call_command("enterspeed_process", "--status", stdout=out)
    command = re.search(r"^State: ([a-z_]+) \(health endpoint: HTTP (\d+)\)$", out.getvalue(), re.M)
    metrics = parse(client.get(reverse("enterspeed_sync_api:metrics")).content.decode())
    current = {
        (dict(labels)["state"], dict(labels)["destination"])
        for labels, value in metrics.select("enterspeed_sync_state").items()
        if value == 1
    }
    state, destination = min(current, key=lambda pair: SEVERITY.index(pair[0]))
    failing = metrics.get("enterspeed_sync_failing", destination=destination)
    return {
        "health": (health.json()["state"], health.status_code),
        "metrics": (state, 503 if failing else 200),
        "dashboard": (line[1], int(line[2])),
        "command": (command[1], int(command[2])),
    }


def agree_on(client, states: set[str], status: int) -> float:
    """Seconds until every reader says one of ``states`` with HTTP ``status``."""
    started = time.monotonic()
    seen = {}

    def agreed():
        seen.update(readers(client))
        return all(state in states and code == status for state, code in seen.values())

    assert wait_until(agreed, timeout=AGREE_WITHIN, interval=0.3), seen
    return time.monotonic() - started


def queue_a_change(entity_id="1"):
    queue_job(
        JobSpec(
            entity_type="page",
            entity_id=entity_id,
            job_type="delete",
            origin_id=f"page-{entity_id}",
        )
    )


def test_an_outage_and_a_killed_cluster_are_said_alike_and_so_is_their_end(
    standin, admin, tmp_path
):
    timings = {}
    with running_qcluster(standin.url, tmp_path / "qcluster.log") as process:
        assert wait_until(lambda: readers(admin)["health"] == ("ok", 200), timeout=30), log_tail(
            process
        )
        standin.outage(True)
        queue_a_change()
        timings["outage"] = agree_on(admin, {"unreachable", "breaker_open"}, 503)
        standin.outage(False)
        timings["outage over"] = agree_on(admin, {"ok"}, 200)

        # The cluster is killed (every process of it, at once): no cluster.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        timings["killed"] = agree_on(admin, {"no_cluster", "stuck"}, 503)

    with running_qcluster(standin.url, tmp_path / "qcluster2.log"):
        timings["restarted"] = agree_on(admin, {"ok"}, 200)
    print("\nseconds until every reader agreed:", {k: round(v, 1) for k, v in timings.items()})  # noqa: T201


def test_a_refused_key_is_said_alike_and_so_is_its_fix(standin, admin, tmp_path):
    wrong = {"API_KEY": "source-refused"}
    with override_settings(ENTERSPEED_SYNC={**standin_settings(standin), **wrong}):
        with running_qcluster(standin.url, tmp_path / "qcluster.log", sync_overrides=wrong):
            queue_a_change()
            refused = agree_on(admin, {"auth_failed"}, 503)
    # The key is fixed in the settings of both the site and the cluster.
    with running_qcluster(standin.url, tmp_path / "qcluster2.log"):
        queue_a_change("2")
        fixed = agree_on(admin, {"ok"}, 200)
        assert wait_until(lambda: not pending_jobs(), timeout=10)
    print(f"\nrefused key agreed after {refused:.1f} s, fixed after {fixed:.1f} s")  # noqa: T201


def test_a_stalled_queue_is_said_alike_and_so_is_its_end(standin, admin, tmp_path):
    # The cluster was started in a shell without the key (first-install friction): it
    # runs, claims nothing and sends nothing, so due jobs wait. They are made to have
    # waited six minutes (past STALLED_AFTER) rather than waiting for real.
    without_key = {"API_KEY": ""}
    with running_qcluster(standin.url, tmp_path / "qcluster.log", sync_overrides=without_key):
        assert wait_until(lambda: readers(admin)["health"] == ("ok", 200), timeout=30)
        queue_a_change()
        assert wait_until(lambda: EnterspeedJob.objects.pending().exists(), timeout=5)
        six_minutes_ago = timezone.now() - timedelta(minutes=6)
        EnterspeedJob.objects.update(next_attempt_at=six_minutes_ago, created_at=six_minutes_ago)
        stalled = agree_on(admin, {"stalled"}, 503)
        assert EnterspeedJob.objects.pending().exists()  # nothing was sent meanwhile
    with running_qcluster(standin.url, tmp_path / "qcluster2.log"):
        caught_up = agree_on(admin, {"ok"}, 200)
        assert wait_until(lambda: not pending_jobs(), timeout=10)
    print(f"\nstalled queue agreed after {stalled:.1f} s, its end after {caught_up:.1f} s")  # noqa: T201


def standin_settings(standin) -> dict:
    return {"API_KEY": "source-tests", "BASE_URL": standin.url, "TIMEOUT": 5}


def pending_jobs() -> bool:
    return EnterspeedJob.objects.exists()
