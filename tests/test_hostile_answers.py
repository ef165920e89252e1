"""
Only Enterspeed's own answer counts as accepted. Real HTTP over loopback: the ingest stand-in
answers like a wrong upstream at BASE_URL (an HTML 200, an empty 200, JSON without results,
a 204, JSON cut short) and stores nothing. No job may count as sent, each says why in its
error, and once BASE_URL answers as Enterspeed again, every entity arrives once.
"""

import pytest
import responses
from django.test import override_settings
from django.utils import timezone

from enterspeed_sync.delivery import gate as sending
from enterspeed_sync.delivery.client import EnterspeedClient, EnterspeedUnexpectedAnswer
from enterspeed_sync.delivery.retries import Verdict, classify
from enterspeed_sync.models import EnterspeedJob, LedgerEntry
from enterspeed_sync.processing.runner import process_pending_jobs
from enterspeed_sync.testing import WRONG_UPSTREAM_ANSWERS, IngestStandIn

KEY = "source-tests"
KINDS = list(WRONG_UPSTREAM_ANSWERS)
#: What each wrong answer is called in the error: "BASE_URL answered <this>: is it …".
SAID = {
    "html": "200 with text/html",
    "empty": "200 with an empty body",
    "no_results": "200 with JSON without",
    "no_content": "204 with no body",
    "truncated": "200 with a truncated or malformed JSON body",
}


@pytest.fixture
def standin():
    with IngestStandIn(api_keys=[KEY]) as server:
        yield server


def _make_due() -> int:
    """The retries' backoff over: every pending job due now."""
    return EnterspeedJob.objects.pending().update(next_attempt_at=timezone.now())


def _calls(client):
    entity = {"type": "page", "properties": {}}
    return {
        "save": lambda: client.save("page-1", entity),
        "delete": lambda: client.delete("page-1"),
        "save_bulk": lambda: client.save_bulk([("page-1", entity), ("page-2", entity)]),
        "delete_bulk": lambda: client.delete_bulk(["page-1", "page-2"]),
    }


def test_said_covers_every_kind():
    assert set(SAID) == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("call", ["save", "delete", "save_bulk", "delete_bulk"])
def test_a_wrong_upstreams_answer_is_a_retryable_error_that_names_it(standin, kind, call):
    standin.wrong_upstream(kind)
    with EnterspeedClient(api_key=KEY, base_url=standin.url, timeout=5) as client:
        with pytest.raises(EnterspeedUnexpectedAnswer) as raised:
            _calls(client)[call]()
    error = raised.value
    assert str(error).startswith(f"BASE_URL answered {SAID[kind]}")
    assert "is it Enterspeed?" in str(error) and standin.url in str(error)
    assert error.retryable and classify(error).verdict == Verdict.TRANSIENT
    assert standin.faults[f"wrong upstream ({kind})"] == 1
    assert standin.requests == [] and standin.entities == {}


@pytest.mark.parametrize("kind", KINDS)
def test_the_connection_test_is_not_fooled(standin, kind):
    standin.wrong_upstream(kind)
    with EnterspeedClient(api_key=KEY, base_url=standin.url, timeout=5) as client:
        result = client.test_connection()
        assert not result.ok and "Connected" not in result.message
        assert result.message.startswith(f"BASE_URL answered {SAID[kind]}")
        standin.wrong_upstream(None)
        assert client.test_connection().ok  # Enterspeed's own 422 for the empty entity


@responses.activate
@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (404, "text/html", "<html>Not found</html>"),  # a web server's 404 page
        (404, "application/json", ""),
    ],
)
def test_a_404_that_is_not_enterspeeds_is_not_already_gone(status, content_type, body):
    responses.delete(
        "https://api.enterspeed.test/ingest/v2/page-1",
        status=status,
        content_type=content_type,
        body=body,
    )
    client = EnterspeedClient(api_key=KEY, base_url="https://api.enterspeed.test")
    with pytest.raises(EnterspeedUnexpectedAnswer, match="BASE_URL answered 404 with"):
        client.delete("page-1")


@responses.activate
def test_a_422_page_is_not_a_connected_key():
    responses.post(
        "https://api.enterspeed.test/ingest/v2/enterspeed-sync-connection-test",
        status=422,
        content_type="text/html",
        body="<html>Unprocessable</html>",
    )
    client = EnterspeedClient(api_key=KEY, base_url="https://api.enterspeed.test")
    result = client.test_connection()
    assert not result.ok and result.message.startswith("BASE_URL answered 422 with text/html")


@pytest.mark.django_db
@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "single"])
@pytest.mark.parametrize("kind", KINDS)
def test_nothing_counts_as_sent_that_the_stand_in_did_not_accept(site_tree, standin, kind, bulk):
    settings = {
        "API_KEY": KEY,
        "BASE_URL": standin.url,
        "PROCESS_ON_COMMIT": False,
        "RETRY_WAIT_SECONDS": 0,
        "RATE_LIMIT": 0,
        "BULK_INGEST": bulk,
        "BREAKER_THRESHOLD": 100,
    }
    posts = site_tree["posts"]
    with override_settings(ENTERSPEED_SYNC=settings):
        for post in posts:
            post.save_revision().publish()
        expected = sorted(EnterspeedJob.objects.values_list("origin_id", flat=True))
        assert len(expected) >= len(posts)
        standin.wrong_upstream(kind)
        result = process_pending_jobs()
        assert (result.succeeded, result.failed) == (0, 0)
        assert result.retried == len(expected)
        jobs = list(EnterspeedJob.objects.all())
        assert sorted(job.origin_id for job in jobs) == expected
        for job in jobs:
            assert job.state == "pending" and job.attempts == 1
            assert f"BASE_URL answered {SAID[kind]}" in job.error, job.error
            assert "is it Enterspeed?" in job.error and "Traceback" not in job.error
        assert not LedgerEntry.objects.exists()  # nothing counted as accepted
        assert standin.entities == {} and standin.requests == []
        state = sending.get_state(sending.current_source())
        assert state.last_error.startswith(f"BASE_URL answered {SAID[kind]}")

        # BASE_URL answers as Enterspeed again: the retries send everything, once.
        standin.wrong_upstream(None)
        assert _make_due() == len(expected)
        result = process_pending_jobs()
        assert result.succeeded == len(expected)
    assert not EnterspeedJob.objects.exists()
    assert sorted(standin.entities) == expected
    assert standin.sends() == dict.fromkeys(expected, 1)


@pytest.mark.django_db
def test_a_bulk_answer_that_leaves_entities_out_sends_them_again(site_tree, standin):
    """A 200 with result lists that name only some entities: the rest go again."""
    settings = {
        "API_KEY": KEY,
        "BASE_URL": standin.url,
        "PROCESS_ON_COMMIT": False,
        "RETRY_WAIT_SECONDS": 0,
        "RATE_LIMIT": 0,
    }
    posts = site_tree["posts"]
    with override_settings(ENTERSPEED_SYNC=settings):
        for post in posts:
            post.save_revision().publish()
        expected = set(EnterspeedJob.objects.values_list("origin_id", flat=True))
        first = f"page-{posts[0].pk}"
        # An answer that lists one entity only, and stores nothing.
        standin.fail_next(200, body={"status": 200, "changedSourceEntities": [first], "errors": {}})
        result = process_pending_jobs()
        assert result.succeeded == 1 and result.retried == len(expected) - 1
        for job in EnterspeedJob.objects.all():
            assert job.state == "pending"
            assert f"without a result for {job.origin_id}" in job.error
        _make_due()
        process_pending_jobs()
    assert not EnterspeedJob.objects.exists()
    assert set(standin.entities) == expected - {first}  # the first was never stored
