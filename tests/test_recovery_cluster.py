"""
Recovery in seconds with real clusters. The minute schedule is removed and nothing is
committed after the trouble starts, so only the cluster's own wake-ups can move the queue:
a SIGKILLed worker's batch comes back when its lease runs out (a whole SIGKILLed cluster's
through another cluster), the circuit breaker probes
when its cool-down ends, a cluster restarted with a fixed key starts at once, and a key
fixed on Enterspeed's side resumes at the next task.

The tests shrink the timings to seconds. With ``ENTERSPEED_RECOVERY_REPORT`` set to a file
(bench/recovery.py does that) they run with the package's default settings instead and
append each measured recovery time to that file.
"""

import json
import os
import signal
import time

import pytest
from django.db import connection
from django_q.conf import Conf
from django_q.models import Schedule

from enterspeed_sync.capture.enqueue import enqueue_processing
from enterspeed_sync.capture.outbox import JobSpec, queue_jobs
from enterspeed_sync.conf import DEFAULTS
from enterspeed_sync.models import EnterspeedJob, SourceState
from tests.qcluster import log_tail, running_qcluster, wait_until, worker_pids

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.faults,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


REPORT = os.environ.get("ENTERSPEED_RECOVERY_REPORT")
#: What tests/cluster_settings.py shrinks; the benchmark puts the defaults back.
TIMINGS = (
    "TIMEOUT",
    "RETRY_BASE_DELAY",
    "RETRY_MAX_DELAY",
    "BREAKER_THRESHOLD",
    "BREAKER_COOLDOWN",
    "BREAKER_COOLDOWN_MAX",
    "LEASE_SECONDS",
    "RETRY_WAIT_SECONDS",
    "RATE_LIMIT",
    "RETRY_AFTER_MAX",
)


def timings(**shrunk):
    """The test's shrunk timings, or every default when the benchmark runs."""
    if REPORT:
        return {name: DEFAULTS[name] for name in TIMINGS}
    return shrunk


def report(scenario, seconds, settings):
    if REPORT:
        used = {name: settings.get(name, DEFAULTS[name]) for name in TIMINGS}
        with open(REPORT, "a") as file:
            file.write(json.dumps({"scenario": scenario, "seconds": seconds, **used}) + "\n")


@pytest.fixture(autouse=True)
def no_schedule(monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)
    Schedule.objects.all().delete()


def delete_specs(count):
    return [
        JobSpec(entity_type="page", entity_id=str(i), job_type="delete", origin_id=f"page-{i}")
        for i in range(count)
    ]


def batch_holder(cluster):
    """The pid of the cluster's worker that holds claimed jobs, or None."""
    ours = set(worker_pids(cluster))
    for locked_by in EnterspeedJob.objects.processing().values_list("locked_by", flat=True):
        pid = int(locked_by.rsplit(":", 1)[1]) if ":" in locked_by else 0
        if pid in ours:
            return pid
    return None


def test_a_killed_workers_batch_is_claimed_again_when_its_lease_runs_out(standin, tmp_path):
    settings = {"BULK_INGEST": False, **timings(LEASE_SECONDS=8.0)}
    lease = settings["LEASE_SECONDS"]
    standin.latency = 0.3  # one entity per request: the batch is in flight for seconds
    with running_qcluster(standin.url, tmp_path / "q.log", sync_overrides=settings) as cluster:
        queue_jobs(delete_specs(40))
        enqueue_processing()
        assert wait_until(lambda: batch_holder(cluster), timeout=30), log_tail(cluster)
        os.kill(batch_holder(cluster), signal.SIGKILL)
        killed_at = time.monotonic()
        standin.latency = 0.0
        assert wait_until(lambda: not EnterspeedJob.objects.exists(), timeout=lease + 30), log_tail(
            cluster
        )
        recovered_in = time.monotonic() - killed_at
    report("SIGKILL of the worker holding a batch -> every job sent", recovered_in, settings)
    assert recovered_in < lease + 5, recovered_in
    assert set(standin.sends()) == {f"page-{i}" for i in range(40)}


def test_a_killed_clusters_batch_is_sent_by_another_cluster(standin, tmp_path):
    # The whole cluster holding the batch is SIGKILLed (a machine lost), scheduler or not:
    # the other cluster's workers watch the leases and take the batch back.
    if connection.vendor != "postgresql":
        pytest.skip("several machines need PostgreSQL; SQLite is one machine, one cluster")
    settings = {"BULK_INGEST": False, **timings(LEASE_SECONDS=8.0)}
    lease = settings["LEASE_SECONDS"]
    standin.latency = 0.3  # one entity per request: the batch is in flight for seconds
    with (
        running_qcluster(standin.url, tmp_path / "a.log", sync_overrides=settings) as a,
        running_qcluster(standin.url, tmp_path / "b.log", sync_overrides=settings) as b,
    ):
        queue_jobs(delete_specs(40))
        enqueue_processing()
        assert wait_until(lambda: batch_holder(a) or batch_holder(b), timeout=30), log_tail(a)
        killed, other = (a, b) if batch_holder(a) else (b, a)
        os.killpg(killed.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        standin.latency = 0.0
        drained = wait_until(lambda: not EnterspeedJob.objects.exists(), timeout=lease + 40)
        assert drained, log_tail(other)
        recovered_in = time.monotonic() - killed_at
    report("SIGKILL of the cluster holding a batch -> every job sent", recovered_in, settings)
    assert recovered_in < lease + min(lease / 3, 10) + 5, recovered_in
    sends = standin.sends()
    assert set(sends) == {f"page-{i}" for i in range(40)}
    # Only what was in flight when the cluster died can have been sent twice.
    assert sum(count - 1 for count in sends.values()) <= 2, sends


def test_the_breaker_probes_when_its_cool_down_ends(standin, tmp_path):
    settings = {
        "BULK_INGEST": False,  # one failed request per entity
        **timings(
            BREAKER_THRESHOLD=2,
            BREAKER_COOLDOWN=6.0,
            BREAKER_COOLDOWN_MAX=60,
            RETRY_WAIT_SECONDS=1.0,  # shorter than the cool-down: no task waits it out
        ),
    }
    cooldown = settings["BREAKER_COOLDOWN"]
    standin.outage(True)
    with running_qcluster(standin.url, tmp_path / "q.log", sync_overrides=settings) as cluster:
        queue_jobs(delete_specs(10))
        enqueue_processing()
        opened = wait_until(
            lambda: SourceState.objects.filter(breaker_trips=1).exists(), timeout=60
        )
        assert opened, log_tail(cluster)
        open_until = SourceState.objects.get().breaker_open_until
        standin.outage(False)
        drained = wait_until(lambda: not EnterspeedJob.objects.exists(), timeout=cooldown + 60)
        assert drained, log_tail(cluster)
        drained_at = time.time()
    opened_at = open_until.timestamp() - cooldown
    probes = [r for r in standin.requests if r.origin_id == "enterspeed-sync-connection-test"]
    assert len(probes) == 1
    probed_in = probes[0].timestamp - opened_at
    report("breaker opened -> its probe (outage already over)", probed_in, settings)
    # The jobs that failed wait for their retry backoff on top.
    report("breaker opened -> every job sent", drained_at - opened_at, settings)
    assert cooldown <= probed_in < cooldown + 3, probed_in


def test_a_cluster_restarted_with_a_fixed_key_starts_at_once(standin, tmp_path):
    settings = timings()
    wrong = {**settings, "API_KEY": "source-wrong"}
    with running_qcluster(standin.url, tmp_path / "a.log", sync_overrides=wrong) as cluster:
        queue_jobs(delete_specs(5))
        enqueue_processing()
        stopped = wait_until(lambda: SourceState.objects.exclude(auth_error="").exists())
        assert stopped, log_tail(cluster)
    assert EnterspeedJob.objects.pending().count() == 5
    started = time.monotonic()
    with running_qcluster(standin.url, tmp_path / "b.log", sync_overrides=settings) as cluster:
        drained = wait_until(lambda: not EnterspeedJob.objects.exists(), timeout=30)
        assert drained, log_tail(cluster)
        started_in = time.monotonic() - started
    report("key fixed in the settings, cluster restarted -> every job sent", started_in, settings)
    assert started_in < 10, started_in
    assert set(standin.sends()) == {f"page-{i}" for i in range(5)}


def test_a_key_fixed_on_enterspeeds_side_resumes_at_the_next_task(standin, tmp_path):
    from enterspeed_sync.delivery.gate import AUTH_PROBE_INTERVAL

    settings = timings()
    standin.api_keys.remove("source-tests")  # refused, e.g. its ingest access withdrawn
    with running_qcluster(standin.url, tmp_path / "q.log", sync_overrides=settings) as cluster:
        queue_jobs(delete_specs(5))
        enqueue_processing()
        stopped = wait_until(lambda: SourceState.objects.exclude(auth_error="").exists())
        assert stopped, log_tail(cluster)
        stopped_at = time.monotonic()
        standin.api_keys.append("source-tests")  # access given back
        time.sleep(max(0.0, AUTH_PROBE_INTERVAL - (time.monotonic() - stopped_at)))
        kicked = time.monotonic()
        enqueue_processing()  # the next task: an editor's commit, or the minute schedule
        drained = wait_until(lambda: not EnterspeedJob.objects.exists(), timeout=30)
        assert drained, log_tail(cluster)
        resumed_in = time.monotonic() - kicked
    report("key fixed on Enterspeed's side -> jobs sent, from the next task", resumed_in, settings)
    assert resumed_in < 5, resumed_in
    probes = [r for r in standin.requests if r.origin_id == "enterspeed-sync-connection-test"]
    assert [r.status for r in probes] == [422]
