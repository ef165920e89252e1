"""
WORKER_THREADS: while one batch waits for Enterspeed's answer, the run maps and sends the
next one, on both databases, outside a transaction (as a cluster worker runs).
"""

import logging
import threading
from itertools import pairwise

import pytest
from django.test import override_settings

from enterspeed_sync.capture.outbox import JobSpec, queue_jobs
from enterspeed_sync.models import EnterspeedJob
from enterspeed_sync.processing import runner
from enterspeed_sync.processing.runner import process_pending_jobs

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

#: The stand-in's answer time: long enough that a batch mapped meanwhile shows.
LATENCY = 0.3


def settings(standin, **overrides):
    return override_settings(
        ENTERSPEED_SYNC={
            "API_KEY": "source-tests",
            "BASE_URL": standin.url,
            "PROCESS_ON_COMMIT": False,
            "RETRY_WAIT_SECONDS": 0,
            "RATE_LIMIT": 0,
            "TIMEOUT": (1, 5),
            "BATCH_SIZE": 5,
            **overrides,
        }
    )


def queue_deletes(count: int) -> set[str]:
    """``count`` pending delete jobs (no content needed); returns their origin ids."""
    queue_jobs(
        JobSpec(entity_type="page", entity_id=str(i), job_type="delete", origin_id=f"page-{i}")
        for i in range(1, count + 1)
    )
    return {f"page-{i}" for i in range(1, count + 1)}


def arrival_gaps(standin) -> list[float]:
    arrivals = sorted(request.timestamp for request in standin.requests)
    return [later - earlier for earlier, later in pairwise(arrivals)]


def test_a_second_batch_is_sent_while_the_first_waits_for_its_answer(standin):
    standin.latency = LATENCY
    with settings(standin, WORKER_THREADS=2):
        origin_ids = queue_deletes(20)
        result = process_pending_jobs()
    assert result.succeeded == 20 and result.drained
    assert not EnterspeedJob.objects.exists()
    # Four requests of five, every origin id in exactly one of them.
    sent = [origin_id for request in standin.requests for origin_id in request.origin_ids]
    assert len(standin.requests) == 4 and sorted(sent) == sorted(origin_ids)
    # Two requests were under way at once: one arrived before the other's answer.
    assert min(arrival_gaps(standin)) < LATENCY / 2


def test_with_one_thread_each_request_waits_for_the_answer_before(standin):
    standin.latency = LATENCY
    with settings(standin, WORKER_THREADS=1):
        queue_deletes(20)
        result = process_pending_jobs()
    assert result.succeeded == 20
    assert len(standin.requests) == 4
    assert min(arrival_gaps(standin)) >= LATENCY


def test_no_thread_joins_for_less_than_a_full_batch(standin, monkeypatch):
    started = []
    original = runner.HelperThreads.start

    def start(self):
        started.append(self.count)
        original(self)

    monkeypatch.setattr(runner.HelperThreads, "start", start)
    with settings(standin, WORKER_THREADS=2):
        queue_deletes(4)
        result = process_pending_jobs()
    assert result.succeeded == 4 and started == []


def test_a_failing_thread_hands_its_batch_back_and_the_run_sends_it(standin, monkeypatch, caplog):
    real = runner.process_batch

    def process_batch(jobs, *args):
        if threading.current_thread().name.startswith("enterspeed-batches"):
            raise RuntimeError("a bug in a helper thread")
        return real(jobs, *args)

    monkeypatch.setattr(runner, "process_batch", process_batch)
    with settings(standin, WORKER_THREADS=2), caplog.at_level(logging.ERROR):
        origin_ids = queue_deletes(20)
        result = process_pending_jobs()
    assert "An Enterspeed processing thread failed" in caplog.text
    # The helper's batch went back unspent, and the run's own thread sent it.
    assert result.released == 5 and result.succeeded == 20
    assert not EnterspeedJob.objects.exists()
    sent = [origin_id for request in standin.requests for origin_id in request.origin_ids]
    assert sorted(sent) == sorted(origin_ids)
