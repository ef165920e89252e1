"""Bulk ingest: many entities per request, each job resolved by its own entity's verdict."""

import json
import uuid

import pytest
from django.test import override_settings

from enterspeed_sync.capture.fanout import queue_page_job
from enterspeed_sync.capture.outbox import JobSpec, queue_jobs
from enterspeed_sync.delivery.bulk import bulk_support
from enterspeed_sync.models import EnterspeedJob, JobState, LedgerEntry
from enterspeed_sync.processing.claims import claim_jobs
from enterspeed_sync.processing.runner import process_pending_jobs
from enterspeed_sync.testing import IngestStandIn

pytestmark = pytest.mark.django_db


@pytest.fixture
def sync(standin):
    def apply(**overrides):
        settings = {
            "API_KEY": "source-tests",
            "BASE_URL": standin.url,
            "PROCESS_ON_COMMIT": False,
            "RETRY_WAIT_SECONDS": 0,
            "RATE_LIMIT": 0,
            "TIMEOUT": (1, 2),
            **overrides,
        }
        return override_settings(ENTERSPEED_SYNC=settings)

    bulk_support.refused_at.clear()
    yield apply
    bulk_support.refused_at.clear()


def publish_all(pages):
    for page in pages:
        page.save_revision().publish()


def page_ids(pages):
    return {f"page-{page.pk}" for page in pages}


def test_a_batch_is_sent_as_bulk_requests_of_at_most_50(site_tree, standin, sync):
    from tests.testapp.models import BlogPage

    index = site_tree["blog"]
    with sync():
        pages = [
            index.add_child(instance=BlogPage(title=f"Bulk {i}", slug=f"bulk-{i}"))
            for i in range(57)
        ]
        publish_all(pages)
        result = process_pending_jobs(batch_size=100)
    assert result.succeeded == 57 and not EnterspeedJob.objects.exists()
    assert [(r.method, r.origin_id, len(r.origin_ids)) for r in standin.requests] == [
        ("POST", None, 50),
        ("POST", None, 7),
    ]
    assert page_ids(pages) <= set(standin.entities)
    body = standin.requests[0].entity(f"page-{pages[0].pk}")
    assert body["originId"] == f"page-{pages[0].pk}" and body["properties"]["title"] == "Bulk 0"


def test_one_invalid_entity_fails_only_its_own_job(site_tree, standin, sync):
    posts = site_tree["posts"]
    bad = posts[1]
    with sync():
        publish_all(posts)
        # Enterspeed refuses one entity of the bulk save and accepts the others.
        standin.reject_entity(f"page-{bad.pk}", {"properties.title": "Title is not allowed"})
        result = process_pending_jobs()
    assert (result.succeeded, result.failed) == (2, 1)
    failed = EnterspeedJob.objects.get()
    assert (failed.origin_id, failed.state, failed.last_status) == (
        f"page-{bad.pk}",
        JobState.FAILED,
        422,
    )
    assert "HTTP 422" in failed.error and "Title is not allowed" in failed.error
    assert set(standin.entities) >= page_ids([posts[0], posts[2]])
    assert f"page-{bad.pk}" not in standin.entities


def test_an_account_without_bulk_gets_single_requests(site_tree, db, sync):
    with IngestStandIn(api_keys=["source-tests"], bulk_enabled=False) as server:
        with sync(BASE_URL=server.url):
            publish_all(site_tree["posts"])
            first = process_pending_jobs()
            publish_all(site_tree["posts"])
            second = process_pending_jobs()
        statuses = [(r.origin_id is None, r.status) for r in server.requests]
    assert first.succeeded == 3 and second.succeeded == 3
    # One refused bulk request, then single requests; the next batch goes single at once.
    assert statuses == [(True, 400)] + [(False, 200)] * 6
    assert not EnterspeedJob.objects.exists()


def test_bulk_can_be_switched_off(site_tree, standin, sync):
    with sync(BULK_INGEST=False):
        publish_all(site_tree["posts"])
        process_pending_jobs()
    assert [len(r.origin_ids) for r in standin.requests] == [1, 1, 1]
    assert all(r.origin_id for r in standin.requests)


def test_a_bulk_request_is_split_to_stay_under_the_byte_limit(site_tree, standin, sync):
    posts = site_tree["posts"]
    with sync():
        publish_all(posts)
        process_pending_jobs()
    largest = max(len(json.dumps(entity)) for entity in standin.entities.values())
    standin.reset()
    # Room for one entity per request, not two.
    with sync(MAX_PAYLOAD_BYTES=int(largest * 1.5) + 100, SKIP_UNCHANGED=False):
        for post in posts:
            queue_page_job(post, "publish")
        result = process_pending_jobs()
    assert result.succeeded == 3
    assert [(r.origin_id, len(r.origin_ids)) for r in standin.requests] == [(None, 1)] * 3


def test_a_422_with_errors_that_name_no_entity_accepts_nothing(site_tree, db, sync):
    """
    A bulk save refused whole, its errors keyed by a field path: no entity is counted as
    accepted; single requests find the invalid one, and the others are saved.
    """
    posts = site_tree["posts"]
    bad = f"page-{posts[1].pk}"
    with IngestStandIn(
        api_keys=["source-tests"], bulk_error_keys="path", bulk_atomic=True
    ) as server:
        server.reject_entity(bad, {"properties.title": "Title is not allowed"})
        with sync(BASE_URL=server.url):
            publish_all(posts)
            result = process_pending_jobs()
        requests = [(r.origin_id, r.status) for r in server.requests]
        entities = server.entities
    assert requests[0] == (None, 422)
    assert sorted(requests[1:]) == sorted(
        (f"page-{p.pk}", 422 if p is posts[1] else 200) for p in posts
    )
    assert (result.succeeded, result.failed) == (2, 1)
    failed = EnterspeedJob.objects.get()
    assert (failed.origin_id, failed.state, failed.last_status) == (bad, JobState.FAILED, 422)
    assert "Title is not allowed" in failed.error
    assert set(entities) == page_ids([posts[0], posts[2]])
    assert not LedgerEntry.objects.filter(origin_id=bad).exists()
    assert LedgerEntry.objects.filter(origin_id__in=page_ids(posts)).count() == 2


def test_an_error_that_names_no_entity_is_resolved_by_single_requests(site_tree, db, sync):
    # A 200 that lists what it saved, with the refusal keyed by a field path.
    posts = site_tree["posts"]
    bad = f"page-{posts[2].pk}"
    with IngestStandIn(api_keys=["source-tests"], bulk_error_keys="path") as server:
        server.reject_entity(bad, {"properties.title": "Title is not allowed"})
        with sync(BASE_URL=server.url):
            publish_all(posts)
            result = process_pending_jobs()
        requests = [(r.origin_id, r.status) for r in server.requests]
    assert requests == [(None, 200), (bad, 422)]
    assert (result.succeeded, result.failed, result.retried) == (2, 1, 0)
    assert EnterspeedJob.objects.get().origin_id == bad


def test_a_429_on_a_bulk_request_puts_every_job_back_unspent(site_tree, standin, sync):
    with sync():
        publish_all(site_tree["posts"])
        standin.fail_next(429, retry_after="1")
        result = process_pending_jobs()
        assert result.released == 3 and result.stopped == "rate_limited"
        assert set(EnterspeedJob.objects.values_list("state", "attempts")) == {("pending", 0)}
        result = process_pending_jobs(wait_seconds=5)
    assert result.succeeded == 3


def test_a_failed_bulk_request_counts_once_towards_the_breaker(db, standin, sync):
    specs = (
        JobSpec(entity_type="page", entity_id=str(i), job_type="delete", origin_id=f"page-{i}")
        for i in range(10)
    )
    with sync(BREAKER_THRESHOLD=2, MAX_ATTEMPTS=5):
        queue_jobs(specs)
        standin.fail_next(503)
        result = process_pending_jobs(wait_seconds=0)
    # One request failed: ten jobs retried, and the breaker has not opened.
    assert result.retried == 10 and result.stopped == ""
    assert set(EnterspeedJob.objects.values_list("attempts", "last_status")) == {(1, 503)}


def test_jobs_whose_lease_was_lost_are_not_sent(site_tree, standin, sync):
    from enterspeed_sync.delivery import gate as sending
    from enterspeed_sync.delivery.clients import get_client
    from enterspeed_sync.handlers import get_handlers
    from enterspeed_sync.processing.batch import process_batch

    posts = site_tree["posts"]
    with sync():
        publish_all(posts)
        claimed = claim_jobs(3)
        # While this worker was frozen, another one took over one of its jobs.
        EnterspeedJob.objects.filter(pk=claimed[0].pk).update(lease_token=uuid.uuid4())
        with get_client() as client:
            outcomes = process_batch(claimed, client, get_handlers(), sending.current_source())
    assert outcomes[claimed[0].pk] == "lost"
    (request,) = standin.requests
    assert set(request.origin_ids) == {job.origin_id for job in claimed[1:]}
    assert EnterspeedJob.objects.get().pk == claimed[0].pk  # the new owner's, untouched


def test_unchanged_entities_are_left_out_of_the_bulk_request(site_tree, standin, sync):
    posts = site_tree["posts"]
    with sync():
        publish_all(posts)
        process_pending_jobs()
        standin.clear_requests()
        posts[0].title = "Changed"
        publish_all(posts[:1])
        for post in posts[1:]:  # e.g. a seed: nothing changed
            queue_page_job(post, "publish")
        result = process_pending_jobs()
    assert result.succeeded == 3 and result.unchanged == 2
    (request,) = standin.requests
    assert request.origin_ids == [f"page-{posts[0].pk}"]
