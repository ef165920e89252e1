"""
The retry policy, the shared rate limiter, the circuit breaker, leases, the ledger and bad
input, against the real ingest stand-in over loopback (processing runs in this process;
tests/test_fault_injection.py runs the same against real clusters).
"""

import time
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.utils import timezone

from enterspeed_sync.capture.fanout import queue_page_job
from enterspeed_sync.capture.outbox import JobSpec, queue_job, queue_jobs
from enterspeed_sync.delivery import gate as sending
from enterspeed_sync.models import EnterspeedJob, JobState, LedgerEntry, SourceState
from enterspeed_sync.processing.claims import claim_jobs, recover_expired_leases, renew_lease
from enterspeed_sync.processing.runner import process_pending_jobs
from enterspeed_sync.processing.transitions import mark_succeeded_many
from enterspeed_sync.status import get_sync_status

pytestmark = pytest.mark.django_db

FAST = {
    "PROCESS_ON_COMMIT": False,
    "TIMEOUT": (1, 2),
    "RETRY_BASE_DELAY": 0.1,
    "RETRY_MAX_DELAY": 0.4,
    "RETRY_WAIT_SECONDS": 0,
    "RATE_LIMIT": 0,
    "LEASE_SECONDS": 10,
    # These tests pin down what each single request does; tests/test_bulk.py does the
    # same for bulk requests.
    "BULK_INGEST": False,
}


@pytest.fixture
def sync(standin):
    """Override ENTERSPEED_SYNC on top of the stand-in's settings."""

    def apply(**overrides):
        settings = {"API_KEY": "source-tests", "BASE_URL": standin.url, **FAST, **overrides}
        return override_settings(ENTERSPEED_SYNC=settings)

    return apply


def delete_spec(i):
    return JobSpec(entity_type="page", entity_id=str(i), job_type="delete", origin_id=f"page-{i}")


def publish(page):
    page.save_revision().publish()


# Retry policy ---------------------------------------------------------------------------


def test_a_5xx_is_retried_with_backoff_until_it_succeeds(site_tree, standin, sync):
    post = site_tree["posts"][0]
    with sync(MAX_ATTEMPTS=5):
        publish(post)
        standin.fail_next(500)
        standin.fail_next(502)
        before = timezone.now()
        result = process_pending_jobs()
        job = EnterspeedJob.objects.get()
        assert (result.retried, job.state, job.attempts, job.last_status) == (1, "pending", 1, 500)
        # Equal jitter: between half and all of RETRY_BASE_DELAY after the first failure.
        delay = (job.next_attempt_at - before).total_seconds()
        assert 0.05 <= delay <= 0.1 + 0.5
        assert "Attempt 1 of 5 failed" in job.error and "HTTP 500" in job.error
        result = process_pending_jobs(wait_seconds=5)
    assert result.retried == 1 and result.succeeded == 1
    assert not EnterspeedJob.objects.exists()
    assert f"page-{post.pk}" in standin.entities
    assert [r.status for r in standin.requests] == [500, 502, 200]


def test_a_retry_that_falls_due_while_the_queue_is_read_is_still_waited_for(
    site_tree, standin, sync, monkeypatch
):
    # On a slow database, a retry can fall due between the claim that found nothing and the
    # look for retries to wait for; it must not then be left for the minute schedule.
    from enterspeed_sync.processing import runner

    claim_jobs_now = runner.claim_jobs

    def slow_claim(*args, **kwargs):
        jobs = claim_jobs_now(*args, **kwargs)
        if not jobs:
            time.sleep(0.3)  # longer than the retry's backoff
        return jobs

    monkeypatch.setattr(runner, "claim_jobs", slow_claim)
    post = site_tree["posts"][0]
    with sync(MAX_ATTEMPTS=5, RETRY_BASE_DELAY=0.05, RETRY_MAX_DELAY=0.1):
        publish(post)
        standin.fail_next(500)
        result = process_pending_jobs(wait_seconds=5)
    assert (result.retried, result.succeeded) == (1, 1)
    assert not EnterspeedJob.objects.exists()


def test_a_job_that_keeps_failing_is_failed_after_max_attempts(site_tree, standin, sync):
    with sync(MAX_ATTEMPTS=3, BREAKER_THRESHOLD=100):
        publish(site_tree["posts"][0])
        standin.fail_next(503, count=10)
        process_pending_jobs(wait_seconds=5)
    job = EnterspeedJob.objects.get()
    assert (job.state, job.attempts, job.last_status) == ("failed", 3, 503)
    assert job.error.startswith("Gave up after 3 attempts")
    assert len(standin.requests) == 3


@pytest.mark.parametrize(
    ("status", "body", "text"),
    [
        (400, {"status": 400, "message": "Malformed JSON"}, "Malformed JSON"),
        (413, {"status": 413, "message": "Source entity size exceeds"}, "size exceeds"),
        (422, {"status": 422, "message": "Invalid request", "errors": {"type": "bad"}}, "bad"),
    ],
)
def test_content_errors_fail_at_once_with_enterspeeds_message(
    site_tree, standin, sync, status, body, text
):
    with sync():
        publish(site_tree["posts"][0])
        standin.fail_next(status, body=body)
        result = process_pending_jobs(wait_seconds=5)
    job = EnterspeedJob.objects.get()
    assert (result.failed, job.state, job.attempts, job.last_status) == (1, "failed", 1, status)
    assert text in job.error
    assert len(standin.requests) == 1


def test_a_later_success_clears_the_failed_row(site_tree, standin, sync):
    post = site_tree["posts"][0]
    with sync():
        publish(post)
        standin.fail_next(422, body={"status": 422, "message": "Invalid request"})
        process_pending_jobs()
        assert EnterspeedJob.objects.failed().count() == 1
        post.title = "Fixed"
        publish(post)
        process_pending_jobs()
    assert not EnterspeedJob.objects.exists()
    assert standin.entities[f"page-{post.pk}"]["properties"]["title"] == "Fixed"


def test_a_retry_never_overwrites_a_newer_instruction(site_tree, standin, sync):
    post = site_tree["posts"][0]
    with sync():
        publish(post)
        standin.fail_next(500)
        process_pending_jobs()  # the publish waits for its retry ...
        post.unpublish()  # ... and a newer delete replaces it
        assert EnterspeedJob.objects.get().job_type == "delete"
        process_pending_jobs(wait_seconds=5)
    assert f"page-{post.pk}" not in standin.entities
    assert not EnterspeedJob.objects.exists()


def test_a_failing_job_with_a_newer_pending_instruction_is_dropped(site_tree, standin, sync):
    post = site_tree["posts"][0]
    with sync():
        publish(post)
        (claimed,) = claim_jobs(10)
        post.title = "Newer"
        publish(post)  # pending while the first is in flight
        from enterspeed_sync.processing.transitions import retry_later

        retry_later(claimed, "HTTP 500", status=500)
        (job,) = EnterspeedJob.objects.all()
        assert (job.state, job.attempts) == ("pending", 0)
        process_pending_jobs(wait_seconds=5)
    assert standin.entities[f"page-{post.pk}"]["properties"]["title"] == "Newer"


def test_a_timed_out_request_that_lands_late_never_overwrites_a_newer_one(site_tree, standin, sync):
    post = site_tree["posts"][0]
    with sync(TIMEOUT=(0.2, 0.4)):
        post.title = "v1"
        publish(post)
        standin.slow_next(0.8)  # Enterspeed applies v1, but only after the client gave up
        result = process_pending_jobs()
        assert result.retried == 1
        post.title = "v2"
        publish(post)  # replaces the waiting job ...
        job = EnterspeedJob.objects.get()
        # ... which still waits a full TIMEOUT after the timeout, so v1 lands first
        assert job.next_attempt_at >= job.updated_at + timedelta(seconds=0.3)
        process_pending_jobs(wait_seconds=5)
    titles = [r.body["properties"]["title"] for r in standin.requests]
    assert titles == ["v1", "v2"]
    assert standin.entities[f"page-{post.pk}"]["properties"]["title"] == "v2"


# Rate limiting --------------------------------------------------------------------------


def max_per_window(timestamps, window=1.0):
    timestamps = sorted(timestamps)
    best, start = 0, 0
    for end, t in enumerate(timestamps):
        while t - timestamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_the_rate_limiter_aims_below_the_limit(db, standin, sync):
    # A strict tenant limit of 10 per second, the limiter's at 10 with 20 % headroom: it
    # spaces requests for 8 per second, and the strict limit never answers 429.
    standin.rate_limit = 10
    with sync(RATE_LIMIT=10, RATE_LIMIT_HEADROOM=0.2):
        assert sending.target_rate() == 8
        queue_jobs(delete_spec(i) for i in range(20))
        started = time.monotonic()
        process_pending_jobs()
        elapsed = time.monotonic() - started
    assert elapsed >= 19 / 8 * 0.95
    assert [r.status for r in standin.requests] == [404] * 20
    assert max_per_window([r.timestamp for r in standin.requests]) <= 9


def test_the_rate_limiter_spaces_requests(db, standin, sync):
    with sync(RATE_LIMIT=20):
        queue_jobs(delete_spec(i) for i in range(30))
        started = time.monotonic()
        process_pending_jobs()
        elapsed = time.monotonic() - started
    assert len(standin.requests) == 30
    assert elapsed >= 29 / 20 * 0.95
    assert max_per_window([r.timestamp for r in standin.requests]) <= 21


@pytest.mark.parametrize("retry_after", ["1", "http-date"])
def test_a_429_pauses_every_worker_without_spending_attempts(db, standin, sync, retry_after):
    if retry_after == "http-date":
        from email.utils import format_datetime

        retry_after = format_datetime(timezone.now() + timedelta(seconds=2), usegmt=True)
    with sync():
        queue_jobs(delete_spec(i) for i in range(5))
        standin.fail_next(429, retry_after=retry_after)
        result = process_pending_jobs()
        assert result.stopped == "rate_limited" and result.released == 5
        assert set(EnterspeedJob.objects.values_list("state", "attempts")) == {("pending", 0)}
        state = SourceState.objects.get()
        assert state.paused_until > timezone.now()
        assert get_sync_status().state == "rate_limited"
        # Another worker honours the pause: nothing is sent before it ends.
        assert process_pending_jobs().processed == 0
        assert len(standin.requests) == 1
        result = process_pending_jobs(wait_seconds=5)
    assert result.succeeded == 5
    first_after = min(r.timestamp for r in standin.requests[1:])
    assert first_after >= standin.requests[0].timestamp + 0.9


# Exactly once under 429s ----------------------------------------------------------------


@pytest.mark.parametrize(("bulk", "jobs", "every"), [(True, 120, 2), (False, 12, 5)])
def test_a_429_mid_batch_puts_back_only_the_jobs_not_yet_sent(db, standin, sync, bulk, jobs, every):
    """
    One batch, several requests; a later one is answered 429. The jobs Enterspeed
    accepted before it are done (deleted now), only the rest go back, unspent, and every
    entity is sent once for its one instruction.
    """
    with sync(BULK_INGEST=bulk):
        queue_jobs(delete_spec(i) for i in range(jobs))
        standin.throttle_every(every, retry_after=1)
        first = process_pending_jobs(batch_size=jobs)
        accepted = len(standin.sends())
        # Bulk: the first request (50 entities) went through; single: the first 4.
        assert accepted == (50 if bulk else every - 1)
        assert (first.succeeded, first.released) == (accepted, jobs - accepted)
        assert first.stopped == "rate_limited"
        left = EnterspeedJob.objects.all()
        assert left.count() == jobs - accepted
        assert set(left.values_list("state", "attempts")) == {("pending", 0)}
        assert not left.filter(origin_id__in=standin.sends()).exists()
        while EnterspeedJob.objects.exists():
            process_pending_jobs(batch_size=jobs, wait_seconds=3)
    sends = standin.sends()
    assert len(sends) == jobs and set(sends.values()) == {1}
    assert standin.faults["throttled"] >= 1


def test_another_workers_pause_mid_batch_puts_back_only_the_jobs_not_yet_sent(db, standin, sync):
    from enterspeed_sync.delivery.clients import get_client

    with sync():
        source = sending.current_source()
        gate = sending.SendGate(source)
        calls = 0

        def before_request():
            # Before the 4th request another worker got a 429: the pause is in the
            # database, so this worker's gate raises SendingPaused.
            nonlocal calls
            calls += 1
            if calls == 4:
                sending.pause_for_rate_limit(source, 1, "HTTP 429 (another worker)")
            gate()

        queue_jobs(delete_spec(i) for i in range(10))
        with get_client(before_request=before_request) as client:
            result = process_pending_jobs(client=client)
        assert (result.succeeded, result.released) == (3, 7)
        assert len(standin.requests) == 3
        process_pending_jobs(wait_seconds=3)
    sends = standin.sends()
    assert len(sends) == 10 and set(sends.values()) == {1}


# Circuit breaker and auth ---------------------------------------------------------------


def test_the_breaker_opens_probes_and_closes(db, standin, sync):
    with sync(BREAKER_THRESHOLD=3, BREAKER_COOLDOWN=0.3, BREAKER_COOLDOWN_MAX=1, MAX_ATTEMPTS=5):
        queue_jobs(delete_spec(i) for i in range(10))
        standin.outage(True)
        result = process_pending_jobs()
        # Three failures open the breaker; the other jobs go back without spending attempts.
        assert result.stopped == "breaker_open"
        assert result.retried == 3 and result.released == 7
        assert sum(EnterspeedJob.objects.values_list("attempts", flat=True)) == 3
        status = get_sync_status()
        assert status.state == "breaker_open" and "Could not reach Enterspeed" in status.message
        assert process_pending_jobs().processed == 0  # cool-down: nobody claims
        time.sleep(0.35)
        result = process_pending_jobs()  # the probe fails: open again, for longer
        assert result.stopped == "breaker_open"
        assert SourceState.objects.get().breaker_trips == 2
        assert sum(EnterspeedJob.objects.values_list("attempts", flat=True)) == 3
        standin.outage(False)
        result = process_pending_jobs(wait_seconds=5)
    assert result.succeeded == 10 and not EnterspeedJob.objects.exists()
    assert get_sync_status().state == "ok"
    probes = [r for r in standin.requests if r.origin_id == "enterspeed-sync-connection-test"]
    assert len(probes) == 1 and probes[0].status == 422


def test_a_refused_key_stops_sending_until_the_key_changes(db, standin, sync):
    with sync(API_KEY="source-wrong"):
        queue_jobs(delete_spec(i) for i in range(3))
        result = process_pending_jobs()
        assert result.stopped == "auth" and result.released == 3
        assert set(EnterspeedJob.objects.values_list("state", "attempts")) == {("pending", 0)}
        status = get_sync_status()
        assert status.state == "auth_failed" and "refused the API key" in status.message
        assert process_pending_jobs().processed == 0
        assert len(standin.requests) == 1
    with sync():  # the right key: a different source state, nothing paused
        assert process_pending_jobs().succeeded == 3
    with sync(API_KEY="source-wrong"):
        sending.resume_sending()
        assert get_sync_status().state == "ok"


# Leases ---------------------------------------------------------------------------------


def test_an_expired_lease_is_claimed_again_and_the_old_worker_is_fenced(db, standin, sync):
    with sync():
        queue_job(delete_spec(1))
        (dead,) = claim_jobs(1)
        assert dead.leased_until > timezone.now() and ":" in dead.locked_by
        assert recover_expired_leases() == 0  # still leased
        EnterspeedJob.objects.update(leased_until=timezone.now() - timedelta(seconds=1))
        assert recover_expired_leases() == 1
        job = EnterspeedJob.objects.get()
        assert (job.state, job.attempts, job.lease_token) == ("pending", 1, None)
        assert "stopped renewing its lease" in job.error
        (new,) = claim_jobs(1)
        mark_succeeded_many([dead])  # wakes up late: its token no longer matches
        assert EnterspeedJob.objects.get().lease_token == new.lease_token
        assert renew_lease(dead.lease_token) == set()
        assert renew_lease(new.lease_token) == {new.pk}
        mark_succeeded_many([new])
    assert not EnterspeedJob.objects.exists()


def test_a_worker_frozen_past_its_lease_does_not_send(site_tree, standin, sync):
    from enterspeed_sync.delivery.clients import get_client
    from enterspeed_sync.handlers import get_handlers
    from enterspeed_sync.processing.batch import process_batch
    from enterspeed_sync.processing.transitions import Outcome

    post = site_tree["posts"][0]
    with sync():
        publish(post)
        (frozen,) = claim_jobs(1)
        # While it was frozen, its lease ran out and another worker claimed the job.
        EnterspeedJob.objects.update(lease_token=uuid.uuid4())
        with get_client() as client:
            batch = process_batch([frozen], client, get_handlers(), sending.current_source())
    (outcome,) = batch.values()
    assert outcome == Outcome.LOST
    assert standin.requests == []
    assert EnterspeedJob.objects.get().state == JobState.PROCESSING  # the new owner's


def test_processing_recovers_a_dead_workers_jobs_first(db, standin, sync):
    with sync(LEASE_SECONDS=0.2):
        queue_jobs(delete_spec(i) for i in range(3))
        claim_jobs(3)  # a worker claims and dies
        assert process_pending_jobs().processed == 0  # leased: not touched
        time.sleep(0.25)
        result = process_pending_jobs()
    assert result.recovered == 3 and result.succeeded == 3


# Ledger ---------------------------------------------------------------------------------


def test_unchanged_entities_are_not_sent_again(site_tree, standin, sync):
    post = site_tree["posts"][0]
    with sync():
        publish(post)
        process_pending_jobs()
        queue_page_job(post, "publish")  # e.g. a seed: nothing changed since
        result = process_pending_jobs()
        assert (result.succeeded, result.unchanged) == (1, 1)
        assert len(standin.requests) == 1
        entry = LedgerEntry.objects.get(origin_id=f"page-{post.pk}")
        assert entry.is_present and entry.entity_id == str(post.pk)
        post.unpublish()
        process_pending_jobs()
        assert not LedgerEntry.objects.get(origin_id=f"page-{post.pk}").is_present
        publish(post)
        process_pending_jobs()
    assert len(standin.requests) == 3
    assert f"page-{post.pk}" in standin.entities


def test_verify_finds_and_repairs_drift(site_tree, standin, sync):
    from io import StringIO

    from django.core.management import call_command

    from enterspeed_sync.diagnostics.verify import verify

    posts = site_tree["posts"]
    with sync():
        call_command("enterspeed_seed", stdout=StringIO())
        process_pending_jobs()
        clean = verify()
        # Home, blog and three posts; Wagtail's welcome page is outside the site (the
        # routable-page guard deletes it instead).
        assert clean.drift == [] and clean.in_sync == clean.checked == 5
        LedgerEntry.objects.filter(origin_id=f"page-{posts[0].pk}").delete()  # missing
        LedgerEntry.objects.filter(origin_id=f"page-{posts[1].pk}").update(payload_hash="0" * 64)
        LedgerEntry.objects.create(
            key_hash=sending.current_source().key_hash,
            origin_id="page-99999",
            entity_type="page",
            entity_id="99999",
            payload_hash="1" * 64,
        )
        out = StringIO()
        call_command("enterspeed_verify", "--repair", stdout=out)
        assert "Drift: 1 missing, 1 stale, 1 orphaned" in out.getvalue()
        assert "Queued 3 repair jobs." in out.getvalue()
        process_pending_jobs()
        assert verify().drift == []
    assert not EnterspeedJob.objects.exists()


# Bad input ------------------------------------------------------------------------------


def test_bad_input_fails_only_its_own_job(site_tree, standin, sync):
    posts = site_tree["posts"]
    handlers = [
        "tests.faulty_handlers.UnmappablePageHandler",
        "tests.faulty_handlers.BadPayloadHandler",
    ]
    with sync(JOB_HANDLERS=handlers[:1] + ["enterspeed_sync.handlers.base.DeleteHandler"]):
        posts[0].title = "Unmappable"
        publish(posts[0])
        publish(posts[1])
        result = process_pending_jobs()
        assert (result.succeeded, result.failed) == (1, 1)
        error = EnterspeedJob.objects.get().error
        assert error.startswith(f"ValueError: cannot map page {posts[0].pk}")
    EnterspeedJob.objects.all().delete()
    with sync(JOB_HANDLERS=handlers[1:]):
        posts[1].title = "Bad names"
        posts[2].title = "Huge"
        for post in posts:
            publish(post)
        result = process_pending_jobs()
        assert (result.succeeded, result.failed) == (1, 2)
        errors = dict(EnterspeedJob.objects.values_list("entity_id", "error"))
        assert "Property name cannot start with a digit" in errors[str(posts[1].pk)]
        assert "HTTP 413" in errors[str(posts[2].pk)]
        assert standin.entities[f"page-{posts[0].pk}"]["properties"]["title"] == "Unmappable"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("MAX_ATTEMPTS", "ten"),
        ("RATE_LIMIT", "fast"),
        ("RATE_LIMIT_HEADROOM", 1.5),
        ("TIMEOUT", "x"),
    ],
)
def test_malformed_settings_stop_before_claiming(db, standin, sync, key, value):
    with sync(**{key: value}):
        queue_job(delete_spec(1))
        with pytest.raises(ImproperlyConfigured, match=key):
            process_pending_jobs()
    assert EnterspeedJob.objects.get().state == JobState.PENDING
    assert standin.requests == []


def test_lease_token_is_new_for_every_claim(db, sync):
    with sync():
        queue_jobs(delete_spec(i) for i in range(2))
        first, second = claim_jobs(1), claim_jobs(1)
    assert first[0].lease_token != second[0].lease_token
    assert isinstance(first[0].lease_token, uuid.UUID)


# Redirects ------------------------------------------------------------------------------


def test_redirects_wagtail_creates_after_a_move_reach_enterspeed(site_tree, standin, sync):
    from wagtail.contrib.redirects.models import Redirect

    post, home = site_tree["posts"][0], site_tree["home"]
    with sync():
        publish(post)
        process_pending_jobs()
        post.move(home, pos="last-child")  # Wagtail creates a redirect from the old URL
        assert Redirect.objects.filter(redirect_page=post).exists()
        process_pending_jobs()
        entity = standin.entities[f"page-{post.pk}"]
        assert entity["redirects"] == ["https://www.example.com/blog/post-1"]
        Redirect.objects.filter(redirect_page=post).delete()  # an editor removes it
        process_pending_jobs()
    assert "redirects" not in standin.entities[f"page-{post.pk}"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_move_sent_at_once_already_carries_wagtails_redirect(site_tree, standin, monkeypatch):
    # Processing inline on commit (django-q2 sync mode, autocommit): the move's job is
    # sent inside the post_page_move dispatch, so Wagtail's redirect must exist by then.
    from django_q.conf import Conf
    from wagtail.signals import post_page_move

    from enterspeed_sync.capture.receivers import queue_subtree_on_page_moved

    monkeypatch.setattr(Conf, "SYNC", True)
    receivers = [getattr(r, "__name__", "") for r in post_page_move._live_receivers(None)[0]]
    wagtail_first = receivers.index("autocreate_redirects_on_page_move")
    assert wagtail_first < receivers.index(queue_subtree_on_page_moved.__name__)
    assert receivers.count("autocreate_redirects_on_page_move") == 1  # not run twice
    post, home = site_tree["posts"][0], site_tree["home"]
    post.move(home, pos="last-child")
    assert standin.entities[f"page-{post.pk}"]["redirects"] == [
        "https://www.example.com/blog/post-1"
    ]
    assert not EnterspeedJob.objects.exists()
