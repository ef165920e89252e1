"""
Database faults are transient: a job never fails for good because the database was locked
or went away, and processing stops cleanly, leaving the rows, when it stays away.
(tests/test_fault_injection.py restarts a real PostgreSQL under running clusters.)
"""

import logging
import sqlite3
import threading
import time

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.test import override_settings
from wagtail.models import Page, Site

from enterspeed_sync.capture.outbox import pause_sync
from enterspeed_sync.capture.seeding import seed
from enterspeed_sync.delivery.retries import Verdict, classify
from enterspeed_sync.diagnostics.verify import expected_entities
from enterspeed_sync.models import EnterspeedJob, JobState
from enterspeed_sync.processing.runner import process_pending_jobs
from tests.testapp.models import BlogIndexPage, BlogPage, HomePage

FAST = {
    "PROCESS_ON_COMMIT": False,
    "TIMEOUT": (1, 2),
    "RETRY_BASE_DELAY": 0.1,
    "RETRY_MAX_DELAY": 0.4,
    "RETRY_WAIT_SECONDS": 0,
    "RATE_LIMIT": 0,
    "BATCH_SIZE": 10,
}


@pytest.fixture
def sync(standin):
    def apply(**overrides):
        settings = {"API_KEY": "source-tests", "BASE_URL": standin.url, **FAST, **overrides}
        return override_settings(ENTERSPEED_SYNC=settings)

    return apply


@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("database is locked"),
        OperationalError("terminating connection due to administrator command"),
        InterfaceError("connection already closed"),
    ],
)
def test_database_faults_are_transient(exc):
    assert classify(exc).verdict == Verdict.TRANSIENT


@pytest.mark.django_db
def test_a_database_fault_while_mapping_puts_the_job_back_without_spending_attempts(
    site_tree, standin, sync
):
    post = site_tree["posts"][0]
    handlers = ["tests.faulty_handlers.LockedDatabaseHandler"]
    # One attempt only: a spent attempt, or a permanent verdict, would fail the job.
    with sync(JOB_HANDLERS=handlers, MAX_ATTEMPTS=1):
        post.title = "Locked"
        post.save_revision().publish()
        result = process_pending_jobs()
        job = EnterspeedJob.objects.get()
        assert (result.failed, result.retried) == (0, 1)
        assert (job.state, job.attempts) == (JobState.PENDING, 0)
        assert "OperationalError: database is locked" in job.error
        assert job.next_attempt_at > job.updated_at  # with a backoff
        assert standin.requests == []
        post.title = "Unlocked"
        post.save_revision().publish()
        time.sleep(0.5)
        assert process_pending_jobs().succeeded == 1
    assert standin.entities[f"page-{post.pk}"]["properties"]["title"] == "Unlocked"
    assert not EnterspeedJob.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_connection_lost_while_mapping_is_reopened_and_the_job_kept(site_tree, standin, sync):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: the server ends our session")
    post = site_tree["posts"][0]
    handlers = ["tests.faulty_handlers.ConnectionCuttingHandler"]
    # The backoff outlasts the 0.2 s pause before the write is tried on a new connection,
    # so the run does not claim the job again.
    with sync(JOB_HANDLERS=handlers, MAX_ATTEMPTS=1, RETRY_BASE_DELAY=2, RETRY_MAX_DELAY=2):
        post.title = "Cut"
        post.save_revision().publish()
        result = process_pending_jobs()  # the job's outcome is written on a new connection
        job = EnterspeedJob.objects.get()
        assert (result.failed, result.retried, result.stopped) == (0, 1, "")
        assert (job.state, job.attempts) == (JobState.PENDING, 0)
        assert "OperationalError" in job.error and "terminat" in job.error
        post.title = "Whole"
        post.save_revision().publish()
        deadline = time.monotonic() + 10
        while EnterspeedJob.objects.exists() and time.monotonic() < deadline:
            assert process_pending_jobs().failed == 0
            time.sleep(0.2)
    assert standin.entities[f"page-{post.pk}"]["properties"]["title"] == "Whole"


def build_pages(count):
    with pause_sync():
        root = Page.objects.get(depth=1)
        home = root.add_child(instance=HomePage(title="Home", slug="home-locks"))
        Site.objects.update_or_create(
            is_default_site=True,
            defaults={"hostname": "www.example.com", "port": 443, "root_page": home},
        )
        index = home.add_child(instance=BlogIndexPage(title="Blog", slug="blog"))
        for i in range(count):
            index.add_child(instance=BlogPage(title=f"Page {i}", slug=f"page-{i}"))


def expected_ids():
    """The entities Enterspeed should hold: what the handlers map from the site now."""
    errors = []
    ids = {origin_id for _spec, origin_id, _entity in expected_entities(errors)}
    assert errors == []
    return ids


class WriteLockHolder:
    """Another connection that takes SQLite's write lock again and again, like a busy site."""

    def __init__(self, path, hold, gap):
        self.path, self.hold, self.gap = path, hold, gap
        self.stop = threading.Event()
        self.times_held = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        other = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            while not self.stop.is_set():
                other.execute("BEGIN IMMEDIATE")
                self.times_held += 1
                self.stop.wait(self.hold)
                other.execute("COMMIT")
                self.stop.wait(self.gap)
        finally:
            other.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        self.thread.join()


@pytest.fixture
def short_busy_timeout():
    """Our connection gives up on a lock after 0.1 s (the test settings wait 20 s)."""
    options = connection.settings_dict["OPTIONS"]
    saved = options.get("timeout")
    options["timeout"] = 0.1
    connection.close()
    yield
    options["timeout"] = saved
    connection.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sqlite_lock_contention_during_processing_loses_nothing(
    standin, sync, short_busy_timeout, caplog
):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only: another connection holds SQLite's write lock")
    build_pages(60)
    with sync(LEASE_SECONDS=3):
        expected = expected_ids()
        seed()
        caplog.set_level(logging.WARNING, logger="enterspeed_sync")
        path = connection.settings_dict["NAME"]
        deadline = time.monotonic() + 120
        with WriteLockHolder(path, hold=0.6, gap=0.15) as locker:
            while EnterspeedJob.objects.exists() and time.monotonic() < deadline:
                process_pending_jobs()
                time.sleep(0.1)
        # Whatever a lock left behind (a lease that has to run out) is picked up again.
        while EnterspeedJob.objects.exists() and time.monotonic() < deadline:
            process_pending_jobs()
            time.sleep(0.2)
    assert locker.times_held >= 3
    assert "database is locked" in caplog.text  # the contention really hit processing
    assert list(EnterspeedJob.objects.values_list("origin_id", "state", "error")) == []
    assert set(standin.entities) == expected


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_database_locked_for_longer_stops_processing_and_leaves_the_rows(
    standin, sync, short_busy_timeout
):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only: another connection holds SQLite's write lock")
    build_pages(5)
    with sync(LEASE_SECONDS=1):
        expected = expected_ids()
        seed()
        before = list(EnterspeedJob.objects.values_list("pk", "state", "attempts"))
        with WriteLockHolder(connection.settings_dict["NAME"], hold=15, gap=0):
            time.sleep(0.1)
            started = time.monotonic()
            # No exception: it stops, as the database is not back within the time budget.
            result = process_pending_jobs(max_seconds=10)
            took = time.monotonic() - started
        assert result.stopped == "database"
        assert result.processed == 0
        assert list(EnterspeedJob.objects.values_list("pk", "state", "attempts")) == before
        assert standin.requests == []
        assert 5 < took < 14  # the claim was tried again for a while, then given up
        result = process_pending_jobs()
    assert (result.failed, result.stopped) == (0, "")
    assert not EnterspeedJob.objects.exists()
    assert set(standin.entities) == expected


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_processing_goes_on_by_itself_within_a_second_of_the_database_coming_back(
    standin, sync, short_busy_timeout
):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only: another connection holds SQLite's write lock")
    build_pages(5)
    with sync(LEASE_SECONDS=30):
        expected = expected_ids()
        seed()
        count = EnterspeedJob.objects.count()
        holder = WriteLockHolder(connection.settings_dict["NAME"], hold=10, gap=60)
        with holder:
            time.sleep(0.1)
            started = time.monotonic()
            result = process_pending_jobs(max_seconds=40)  # one run, no schedule, no task
            took = time.monotonic() - started
    assert holder.times_held == 1  # locked once, for 10 s: longer than the write retries
    assert (result.succeeded, result.failed, result.stopped) == (count, 0, "")
    assert 10 <= took < 12, took  # resumed within a second or two of the lock's end
    assert not EnterspeedJob.objects.exists()
    assert set(standin.entities) == expected
    sends = standin.sends()
    assert set(sends) >= expected and set(sends.values()) == {1}  # each once


@pytest.mark.django_db
def test_a_write_that_meets_a_unique_conflict_is_rolled_back_and_run_again():
    # A concurrent worker's row (here: a second pending job for one entity) makes a round
    # fail; the round is rolled back as a whole and run again, up to three rounds.
    from enterspeed_sync.processing.database_faults import atomic_retrying_conflicts

    def job(entity_id, **fields):
        return EnterspeedJob.objects.create(
            entity_type="page", entity_id=entity_id, job_type="publish", **fields
        )

    job("9", origin_id="page-9")
    rounds = []

    def write(conflicts):
        rounds.append(len(rounds) + 1)
        job(f"round-{len(rounds)}", origin_id=f"round-{len(rounds)}")
        if len(rounds) <= conflicts:
            job("9", origin_id="page-9")  # the unique pending row: IntegrityError
        return "written"

    assert atomic_retrying_conflicts(lambda: write(conflicts=2)) == "written"
    assert rounds == [1, 2, 3]
    assert list(
        EnterspeedJob.objects.filter(origin_id__startswith="round-").values_list(
            "origin_id", flat=True
        )
    ) == ["round-3"]
    rounds.clear()
    assert atomic_retrying_conflicts(lambda: write(conflicts=3)) is None
    assert rounds == [1, 2, 3]
    assert EnterspeedJob.objects.filter(origin_id__startswith="round-").count() == 1
