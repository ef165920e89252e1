"""
Recovery in seconds: a lease kept by its heartbeat however slow the batch, a refused key
tested again by the next task, state changes logged once, validation errors without a
traceback. In-process against the ingest stand-in; tests/test_recovery_cluster.py has the
parts that are a real cluster's (a SIGKILLed worker, the breaker's wake-up, a restart).
"""

import logging
import threading
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from enterspeed_sync.capture.outbox import JobSpec, queue_jobs
from enterspeed_sync.delivery import gate as sending
from enterspeed_sync.models import EnterspeedJob, SourceState
from enterspeed_sync.processing.claims import recover_expired_leases
from enterspeed_sync.processing.runner import process_pending_jobs

FAST = {
    "API_KEY": "source-tests",
    "PROCESS_ON_COMMIT": False,
    "TIMEOUT": (1, 2),
    "RETRY_WAIT_SECONDS": 0,
    "RATE_LIMIT": 0,
    "BULK_INGEST": False,
}


@pytest.fixture
def sync(standin):
    def apply(**overrides):
        return override_settings(ENTERSPEED_SYNC={"BASE_URL": standin.url, **FAST, **overrides})

    return apply


def delete_specs(count):
    return [
        JobSpec(entity_type="page", entity_id=str(i), job_type="delete", origin_id=f"page-{i}")
        for i in range(count)
    ]


# Leases -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_batch_slower_than_its_lease_keeps_it(standin, sync):
    # One request takes 2.5 times the lease. Another worker looks for expired leases all
    # the while; the heartbeat must keep this one from ever expiring.
    standin.latency = 2.5
    recovered = []
    done = threading.Event()

    def other_worker():
        with sync(LEASE_SECONDS=1, TIMEOUT=5):
            while not done.wait(0.1):
                recovered.append(recover_expired_leases())

    with sync(LEASE_SECONDS=1, TIMEOUT=5):
        queue_jobs(delete_specs(1))
        watcher = threading.Thread(target=other_worker)
        watcher.start()
        try:
            result = process_pending_jobs()
        finally:
            done.set()
            watcher.join()
    assert sum(recovered) == 0 and len(recovered) > 10
    assert result.succeeded == 1 and result.recovered == 0
    assert not EnterspeedJob.objects.exists()
    assert standin.sends() == {"page-0": 1}


def claimed_until(seconds_from_now: float) -> None:
    """The queued jobs in processing, leased until then (a worker holding them)."""
    EnterspeedJob.objects.update(
        state="processing",
        locked_by="elsewhere:1",
        claimed_at=timezone.now(),
        leased_until=timezone.now() + timedelta(seconds=seconds_from_now),
    )


# It closes its connections after each look, as in its own thread.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_lease_that_ran_out_queues_processing(monkeypatch, sync):
    # Every worker of every cluster looks: a killed cluster's batch is queued again by any
    # other, without its scheduler, a commit or the minute schedule.
    from enterspeed_sync.processing import schedules

    queued = []
    monkeypatch.setattr(schedules, "enqueue_processing", lambda: queued.append(1))
    with sync(LEASE_SECONDS=30):
        queue_jobs(delete_specs(2))
        claimed_until(-1)
        assert schedules.look_at_leases() == 10.0
    assert queued == [1]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_lease_watch_sleeps_until_the_soonest_lease_runs_out(monkeypatch, sync):
    from enterspeed_sync.processing import schedules

    queued = []
    monkeypatch.setattr(schedules, "enqueue_processing", lambda: queued.append(1))
    with sync(LEASE_SECONDS=30):
        assert schedules.look_at_leases() == 10.0  # nothing claimed: the longest sleep
        queue_jobs(delete_specs(1))
        claimed_until(4)
        assert 3.5 < schedules.look_at_leases() <= 4 + schedules.WAKE_UP_MARGIN
        claimed_until(25)
        assert schedules.look_at_leases() == 10.0  # a batch claimed meanwhile is seen
    with sync(LEASE_SECONDS=3):
        assert schedules.look_at_leases() == 1.0
    assert queued == []


# A refused key ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_key_fixed_on_enterspeeds_side_resumes_at_the_next_task(standin, sync, caplog):
    standin.api_keys.remove("source-tests")  # Enterspeed refuses the key
    with sync():
        queue_jobs(delete_specs(3))
        with caplog.at_level(logging.DEBUG, logger="enterspeed_sync"):
            result = process_pending_jobs()
            assert result.stopped == "auth" and result.released == 3
            # A task right after the refusal does not test the key again.
            assert process_pending_jobs().stopped == "auth"
            assert len(standin.requests) == 1
            # Later, a task tests it; still refused: nothing is claimed.
            SourceState.objects.update(auth_failed_at=timezone.now() - timedelta(seconds=6))
            assert process_pending_jobs().stopped == "auth"
            assert [r.status for r in standin.requests] == [401, 401]
            assert standin.requests[1].origin_id == "enterspeed-sync-connection-test"
            assert set(EnterspeedJob.objects.values_list("state", "attempts")) == {("pending", 0)}
        stops = [r for r in caplog.records if "sending is stopped" in r.getMessage()]
        assert len(stops) == 1  # logged once per stop, not once per refusal
        assert not [
            r
            for r in caplog.records
            if "sending is paused" in r.getMessage() and r.levelno >= logging.WARNING
        ]
        standin.api_keys.append("source-tests")  # the key is given its access back
        SourceState.objects.update(auth_failed_at=timezone.now() - timedelta(seconds=6))
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="enterspeed_sync"):
            result = process_pending_jobs()  # the next task
    assert result.succeeded == 3 and not result.stopped
    assert SourceState.objects.get().auth_error == ""
    assert standin.requests[2].status == 422  # the probe: accepted
    resumed = [r for r in caplog.records if "accepts the API key again" in r.getMessage()]
    assert len(resumed) == 1


# Logged once ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_breaker_is_logged_closed_only_when_it_was_open(standin, sync, caplog):
    with sync(BREAKER_THRESHOLD=2), caplog.at_level(logging.INFO, logger="enterspeed_sync"):
        source = sending.current_source()
        assert sending.record_transient_failure(source, "HTTP 500") is False
        sending.record_success(source)
        assert SourceState.objects.get().consecutive_failures == 0
        assert not [r for r in caplog.records if "closed" in r.getMessage()]
        sending.record_transient_failure(source, "HTTP 500")
        assert sending.record_transient_failure(source, "HTTP 500") is True
        sending.record_success(source)
        sending.record_success(source)
    closed = [r for r in caplog.records if "circuit breaker is closed" in r.getMessage()]
    assert len(closed) == 1


@pytest.mark.django_db
def test_a_run_that_opens_the_breaker_says_when_to_look_again(standin, sync):
    with sync(BREAKER_THRESHOLD=2, BREAKER_COOLDOWN=30):
        queue_jobs(delete_specs(4))
        standin.outage(True)
        result = process_pending_jobs()
        assert result.stopped == "breaker_open"
        until = SourceState.objects.get().breaker_open_until
        assert result.resume_at == until
        assert until - timezone.now() > timedelta(seconds=25)
        # Another run finds it open; the run that opened it already arranged the wake-up.
        other = process_pending_jobs()
        assert other.stopped == "breaker_open" and other.resume_at is None


@pytest.mark.django_db
def test_a_run_put_back_by_a_429_says_when_the_pause_ends(standin, sync):
    # A pause longer than a task waits for (RETRY_WAIT_SECONDS): without a wake-up at its
    # end, the jobs would sit until the next minute schedule.
    with sync(RATE_LIMIT_PAUSE=20, RETRY_WAIT_SECONDS=5):
        queue_jobs(delete_specs(4))
        standin.throttle_every(2, retry_after=20)
        result = process_pending_jobs()
        assert result.stopped == "rate_limited"
        until = SourceState.objects.get().paused_until
        assert result.resume_at == until
        assert until - timezone.now() > timedelta(seconds=15)
        assert EnterspeedJob.objects.filter(state="pending").count() == 3
        # Another run finds sending paused; the run that was throttled arranged the wake-up.
        other = process_pending_jobs()
        assert other.stopped == "rate_limited" and other.resume_at is None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_task_run_inline_in_sync_mode_leaves_no_thread_behind(monkeypatch, standin, sync):
    # django-q2's sync mode sends post_spawn from the caller's process for every task; the
    # spawn wake-up must not start there (it would process the queue later, in the
    # editor's process, with whatever settings are active then).
    from django_q.conf import Conf

    from enterspeed_sync.capture.enqueue import enqueue_processing
    from enterspeed_sync.processing import schedules

    monkeypatch.setattr(Conf, "SYNC", True)
    started = threading.Event()
    monkeypatch.setattr(schedules, "_after_spawn", started.set)
    with sync():
        queue_jobs(delete_specs(1))
        enqueue_processing()
    assert not EnterspeedJob.objects.exists()  # the task ran inline
    assert not started.wait(0.5)


# Validation errors ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_validation_error_is_stored_without_a_traceback(site_tree, standin, sync):
    post = site_tree["posts"][0]
    with sync(MAX_PROPERTIES=1):
        post.save_revision().publish()
        result = process_pending_jobs()
    assert result.failed == 1
    job = EnterspeedJob.objects.get()
    assert job.error.startswith(f"Entity page-{post.pk} was not sent, it breaks the ingest")
    assert "Traceback" not in job.error and "\n" not in job.error


# enterspeed_verify: catch-up is not drift -------------------------------------------------


@pytest.mark.django_db
def test_a_link_to_a_moved_page_is_catch_up_not_drift(site_tree, standin, sync):
    from django.core.management import call_command

    from enterspeed_sync.diagnostics.verify import CATCH_UP, verify
    from enterspeed_sync.models import LedgerEntry

    linking, moved, other = site_tree["posts"]
    # Without the fan-out that re-sends what links to a moved page (REINGEST_REFERRERS),
    # the link lags behind; test_a_link_to_a_moved_page_is_sent_again has it on.
    with sync(REINGEST_REFERRERS=False):
        linking.body = f'<p>See <a linktype="page" id="{moved.pk}">this</a>.</p>'
        for page in (site_tree["home"], site_tree["blog"], linking, moved, other):
            page.save_revision().publish()
        process_pending_jobs()
        assert verify().drift == [] and verify().catch_up == []
        moved.move(site_tree["home"], pos="last-child")  # the link's URL changes
        process_pending_jobs()
        report = verify()
        assert report.drift == []
        assert [(i.kind, i.origin_id, i.because_of) for i in report.catch_up] == [
            (CATCH_UP, f"page-{linking.pk}", f"page-{moved.pk}")
        ]
        call_command("enterspeed_verify", "--fail-on-drift", verbosity=0)  # does not page
        # A change of its own that was lost is drift, link or no link.
        linking.refresh_from_db()
        sent_at = LedgerEntry.objects.get(origin_id=f"page-{linking.pk}").sent_at
        type(linking).objects.filter(pk=linking.pk).update(
            last_published_at=sent_at + timedelta(seconds=1)
        )
        assert [i.origin_id for i in verify().drift] == [f"page-{linking.pk}"]
        type(linking).objects.filter(pk=linking.pk).update(last_published_at=sent_at)
        # --catch-up re-sends it, with the link's new URL.
        assert verify(catch_up=True).caught_up == 1
        process_pending_jobs()
        report = verify()
    assert report.drift == [] and report.catch_up == []
    body = standin.entities[f"page-{linking.pk}"]["properties"]["body"]
    assert f"/blog/{moved.slug}/" not in body and f"/{moved.slug}/" in body


@pytest.mark.django_db
def test_a_link_to_a_moved_page_is_sent_again(site_tree, standin, sync):
    from enterspeed_sync.diagnostics.verify import verify

    linking, moved, _other = site_tree["posts"]
    with sync():
        linking.body = f'<p>See <a linktype="page" id="{moved.pk}">this</a>.</p>'
        for page in (site_tree["home"], site_tree["blog"], *site_tree["posts"]):
            page.save_revision().publish()
        process_pending_jobs()
        moved.move(site_tree["home"], pos="last-child")
        assert EnterspeedJob.objects.get(origin_id=f"page-{linking.pk}").priority == 0
        process_pending_jobs()
        report = verify()
    assert report.drift == [] and report.catch_up == []
    body = standin.entities[f"page-{linking.pk}"]["properties"]["body"]
    assert f"/blog/{moved.slug}/" not in body and f"/{moved.slug}/" in body
