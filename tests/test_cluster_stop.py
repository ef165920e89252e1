"""
Stopping and breaking real clusters: a clean stop (SIGTERM to the main process), a stop
that signals the whole process group (supervisor's stopasgroup, systemd's default), and
bad input and malformed settings reaching a running cluster.
"""

import os
import signal
import time

import pytest
from django_q.conf import Conf

from enterspeed_sync.capture.enqueue import enqueue_processing
from enterspeed_sync.capture.outbox import JobSpec, queue_jobs
from enterspeed_sync.models import EnterspeedJob
from tests.qcluster import log_tail, running_qcluster, wait_until

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.faults,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(autouse=True)
def enqueue_for_the_cluster(monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)


def delete_specs(count):
    return [
        JobSpec(entity_type="page", entity_id=str(i), job_type="delete", origin_id=f"page-{i}")
        for i in range(count)
    ]


def test_sigterm_to_the_main_process_finishes_the_batch(standin, tmp_path):
    standin.latency = 0.1
    # One entity per request, so the batch is still in flight when the signal comes.
    single = {"BULK_INGEST": False}
    with running_qcluster(standin.url, tmp_path / "q.log", sync_overrides=single) as cluster:
        queue_jobs(delete_specs(30))
        enqueue_processing()
        assert wait_until(lambda: EnterspeedJob.objects.processing().exists(), timeout=30)
        started = time.monotonic()
        cluster.send_signal(signal.SIGTERM)
        cluster.wait(timeout=60 + 5)  # within Q_CLUSTER["timeout"] + 5 s
        stopped_in = time.monotonic() - started
    # The task in flight ran to its end: nothing is left claimed, nothing sent twice.
    assert not EnterspeedJob.objects.processing().exists(), log_tail(cluster)
    assert set(standin.sends().values()) <= {1}
    assert stopped_in < 30


def test_a_process_group_kill_loses_nothing(standin, tmp_path):
    standin.latency = 0.2
    single = {"BULK_INGEST": False}  # a batch in flight for long enough to be killed
    with running_qcluster(standin.url, tmp_path / "a.log", sync_overrides=single) as cluster:
        queue_jobs(delete_specs(30))
        enqueue_processing()
        assert wait_until(lambda: EnterspeedJob.objects.processing().exists(), timeout=30)
        os.killpg(cluster.pid, signal.SIGTERM)  # what stopasgroup does
        time.sleep(2)
        os.killpg(cluster.pid, signal.SIGKILL)  # the supervisor gives up waiting
        cluster.wait(timeout=10)
    assert EnterspeedJob.objects.exists()  # some jobs were left behind, claimed or not
    standin.latency = 0.0
    with running_qcluster(standin.url, tmp_path / "b.log") as cluster:
        # The next commit's task (or the schedule) recovers the leases once they run out.
        def drained():
            enqueue_processing()
            return not EnterspeedJob.objects.exists()

        assert wait_until(drained, timeout=60, interval=1.0), log_tail(cluster)
    sends = standin.sends()
    assert set(sends) == {f"page-{i}" for i in range(30)}  # every one, maybe one twice
    assert not EnterspeedJob.objects.failed().exists()


def test_bad_input_in_a_cluster_fails_only_its_own_jobs(site_tree, standin, tmp_path):
    posts = site_tree["posts"]
    handlers = [
        "tests.faulty_handlers.BadInputHandler",
        "enterspeed_sync.handlers.base.DeleteHandler",
    ]
    overrides = {"JOB_HANDLERS": handlers}
    with running_qcluster(standin.url, tmp_path / "q.log", sync_overrides=overrides) as cluster:
        for post, title in zip(posts, ["Unmappable", "Bad names", "Huge"], strict=True):
            post.title = title
            post.save_revision().publish()
        site_tree["blog"].save_revision().publish()
        assert wait_until(
            lambda: (
                EnterspeedJob.objects.failed().count() == 3
                and not EnterspeedJob.objects.exclude(state="failed").exists()
            ),
            timeout=60,
        ), log_tail(cluster)
    errors = dict(EnterspeedJob.objects.values_list("entity_id", "error"))
    assert errors[str(posts[0].pk)].startswith(f"ValueError: cannot map page {posts[0].pk}")
    assert "Property name cannot start with a digit" in errors[str(posts[1].pk)]
    assert "HTTP 413" in errors[str(posts[2].pk)]
    assert set(EnterspeedJob.objects.values_list("attempts", flat=True)) == {1}  # not retried
    assert f"page-{site_tree['blog'].pk}" in standin.entities  # the good one went through


def test_malformed_settings_stop_the_cluster_and_keep_the_jobs(standin, tmp_path):
    queue_jobs(delete_specs(3))
    overrides = {"MAX_ATTEMPTS": "ten"}
    with running_qcluster(standin.url, tmp_path / "q.log", sync_overrides=overrides) as cluster:
        # qcluster runs the system checks first: it refuses to start, saying why.
        assert cluster.wait(timeout=60) != 0
        output = log_tail(cluster)
    assert "enterspeed_sync.E010" in output and "MAX_ATTEMPTS" in output
    assert set(EnterspeedJob.objects.values_list("state", flat=True)) == {"pending"}
    assert standin.requests == []
