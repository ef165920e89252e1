"""
A redirect is never followed: the API key never reaches another host, a POST never turns
into a GET whose 200 looks like success, and the job fails with a reason that names the
redirect. Real HTTP over loopback: the ingest stand-in redirects to a second server that
answers 200 to anything (the worst case) and records what reached it.
"""

import pytest
from django.core.management import call_command
from django.test import override_settings

from enterspeed_sync.delivery.client import EnterspeedClient, EnterspeedRedirectError
from enterspeed_sync.delivery.retries import Verdict, classify
from enterspeed_sync.diagnostics.verify import verify
from enterspeed_sync.models import EnterspeedJob, LedgerEntry
from enterspeed_sync.processing.runner import process_pending_jobs
from enterspeed_sync.testing import IngestStandIn
from tests.catch_all import CatchAll

KEY = "source-tests"
REDIRECTS = [301, 302, 303, 307, 308]


@pytest.fixture
def other_host():
    with CatchAll() as server:
        yield server


@pytest.fixture
def redirecting(other_host):
    with IngestStandIn(api_keys=[KEY]) as standin:
        yield standin


def _calls(client):
    return {
        "save": lambda: client.save("page-1", {"type": "page", "properties": {}}),
        "delete": lambda: client.delete("page-1"),
        "save_bulk": lambda: client.save_bulk([("page-1", {"type": "page", "properties": {}})]),
        "delete_bulk": lambda: client.delete_bulk(["page-1"]),
    }


@pytest.mark.parametrize("status", REDIRECTS)
@pytest.mark.parametrize("call", ["save", "delete", "save_bulk", "delete_bulk"])
def test_a_redirect_is_a_permanent_error_and_is_never_followed(
    redirecting, other_host, status, call
):
    redirecting.redirect(other_host.url, status=status)
    with EnterspeedClient(api_key=KEY, base_url=redirecting.url, timeout=5) as client:
        with pytest.raises(EnterspeedRedirectError) as raised:
            _calls(client)[call]()
    error = raised.value
    host = other_host.url.removeprefix("http://")
    assert str(error) == (
        f"Enterspeed answered {status} redirect to {host}: check BASE_URL "
        f"({redirecting.url}); it was not followed"
    )
    assert (error.status, error.retryable) == (status, False)
    assert classify(error).verdict == Verdict.PERMANENT
    assert other_host.requests == []  # the key never went to the other host
    assert redirecting.faults["redirect"] == 1


@pytest.mark.parametrize("status", REDIRECTS)
def test_the_connection_test_reports_a_redirect_not_connected(redirecting, other_host, status):
    redirecting.redirect(other_host.url, status=status)
    with EnterspeedClient(api_key=KEY, base_url=redirecting.url, timeout=5) as client:
        result = client.test_connection()
    assert not result.ok
    assert result.status == status
    assert "Connected" not in result.message
    assert f"{status} redirect to 127.0.0.1" in result.message and "BASE_URL" in result.message
    assert other_host.requests == []


def test_a_redirect_without_location_still_says_what_happened(redirecting):
    redirecting.redirect("", status=302)  # Location is then the bare path
    with EnterspeedClient(api_key=KEY, base_url=redirecting.url, timeout=5) as client:
        with pytest.raises(EnterspeedRedirectError, match="302 redirect to 127.0.0.1"):
            client.save("page-1", {"type": "page", "properties": {}})


@pytest.mark.django_db
@pytest.mark.parametrize("bulk", [True, False])
def test_jobs_sent_into_a_redirect_fail_with_the_reason_and_nothing_is_counted(
    site_tree, redirecting, other_host, bulk
):
    settings = {
        "API_KEY": KEY,
        "BASE_URL": redirecting.url,
        "PROCESS_ON_COMMIT": False,
        "RETRY_WAIT_SECONDS": 0,
        "RATE_LIMIT": 0,
        "BULK_INGEST": bulk,
    }
    posts = site_tree["posts"]
    with override_settings(ENTERSPEED_SYNC=settings):
        for post in posts:
            post.save_revision().publish()
        redirecting.redirect(other_host.url, status=302)
        result = process_pending_jobs()
        assert (result.succeeded, result.failed) == (0, len(posts))
        jobs = list(EnterspeedJob.objects.all())
        assert {job.state for job in jobs} == {"failed"}
        for job in jobs:
            assert job.attempts == 1 and job.last_status == 302
            assert job.error.startswith("Enterspeed answered 302 redirect to 127.0.0.1:")
            assert "check BASE_URL" in job.error and "Traceback" not in job.error
        assert not LedgerEntry.objects.exists()  # nothing counted as accepted
        assert other_host.requests == []
        # The consistency check does not call them in sync: they are reported as failed.
        report = verify()
        assert (report.in_sync, report.failed) == (0, len(posts))
        # Once BASE_URL is fixed (here: the redirect stops), a retry sends everything.
        redirecting.redirect(None)
        call_command("enterspeed_retry", "--all", verbosity=0)
        process_pending_jobs()
    assert not EnterspeedJob.objects.exists()
    assert sorted(redirecting.entities) == sorted(f"page-{post.pk}" for post in posts)
