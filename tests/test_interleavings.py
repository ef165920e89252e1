"""
Interleavings the fault-injection test (tests/test_fault_injection.py) can only hit by
luck, driven here step by step: one "worker" claims a batch, an editor and an operator act
meanwhile, then the worker finishes. Each ends with the site's live page in Enterspeed
and no job left, which is what the fault-injection test asserts after its random run.
"""

import pytest
from django.test import override_settings
from django.utils import timezone

from enterspeed_sync.delivery import gate
from enterspeed_sync.delivery.clients import get_client
from enterspeed_sync.handlers import get_handlers
from enterspeed_sync.mapping import origin_id_for
from enterspeed_sync.models import EnterspeedJob, JobState, JobType
from enterspeed_sync.processing.batch import process_batch
from enterspeed_sync.processing.claims import claim_jobs
from enterspeed_sync.processing.runner import process_pending_jobs
from enterspeed_sync.processing.transitions import Outcome, retry_failed_jobs
from tests.catch_all import CatchAll
from tests.testapp.models import Category

pytestmark = pytest.mark.django_db

#: As the clusters of the fault-injection test run: bulk requests, unchanged saves skipped.
SETTINGS = {
    "PROCESS_ON_COMMIT": False,
    "TIMEOUT": (1, 1),
    "RETRY_WAIT_SECONDS": 0,
    "RATE_LIMIT": 0,
    "BULK_INGEST": True,
    "SKIP_UNCHANGED": True,
}


@pytest.fixture
def sync(standin):
    with override_settings(
        ENTERSPEED_SYNC={"API_KEY": "source-tests", "BASE_URL": standin.url, **SETTINGS}
    ):
        yield


def publish(page):
    page.save_revision().publish()


def test_a_failed_delete_retried_while_a_newer_publish_is_in_flight_is_not_sent_after_it(
    site_tree, standin, sync
):
    post = site_tree["posts"][0]
    origin_id = f"page-{post.pk}"
    publish(post)
    process_pending_jobs()
    # Unpublished while BASE_URL is wrong: the delete fails, with the redirect as reason.
    post.unpublish()
    with CatchAll() as wrong_host:
        standin.redirect(wrong_host.url, status=307)
        process_pending_jobs()
        standin.redirect(None)
    failed = EnterspeedJob.objects.get()
    assert (failed.state, failed.job_type) == (JobState.FAILED, JobType.DELETE)
    assert "redirect to" in failed.error
    # Published again: a worker claims that newer instruction...
    publish(post)
    (in_flight,) = claim_jobs(10)
    assert in_flight.job_type == JobType.PUBLISH
    # ...and meanwhile the operator, BASE_URL fixed, retries what the redirect failed: the
    # publish in flight supersedes the failed delete.
    queued = retry_failed_jobs([failed.pk])
    with get_client() as client:
        outcomes = process_batch([in_flight], client, get_handlers(), gate.current_source())
    assert outcomes == {in_flight.pk: Outcome.SUCCEEDED}
    process_pending_jobs()  # with the failed delete queued again, it would be sent now
    assert origin_id in standin.entities
    assert not EnterspeedJob.objects.exists()
    assert queued == 0  # dropped, not queued again


def test_a_save_that_timed_out_but_landed_is_not_taken_back_as_unchanged(db, standin, sync):
    category = Category.objects.create(name="News", slug="news")
    origin_id = origin_id_for(Category, category.pk)
    process_pending_jobs()
    # Renamed: Enterspeed applies the save only after the client gave up (TIMEOUT 1 s).
    category.name = "Nyheder"
    category.save()
    standin.slow_next(3.0)
    assert process_pending_jobs().retried == 1
    assert standin.wait_for(lambda s: s.entities[origin_id]["properties"]["name"] == "Nyheder")
    # The editor takes the rename back before the retry: what the ledger last recorded.
    category.name = "News"
    category.save()
    EnterspeedJob.objects.update(next_attempt_at=timezone.now())  # its settle time is over
    process_pending_jobs()
    assert standin.entities[origin_id]["properties"]["name"] == "News"
    assert not EnterspeedJob.objects.exists()
