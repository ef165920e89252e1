"""
The metrics endpoint: Prometheus text from the status model and the delivery totals,
protected like the operations API, scraped during a real seed against the ingest stand-in,
and the alert rules of docs/production.md evaluated over what it returns.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from django.test import Client, override_settings
from django.urls import resolve, reverse
from django.utils import timezone
from django_q.conf import Conf

from enterspeed_sync.capture.seeding import seed
from enterspeed_sync.delivery.clients import get_client
from enterspeed_sync.models import DeliveryTotal, EnterspeedJob, JobPriority, JobState
from enterspeed_sync.processing.runner import process_pending_jobs
from enterspeed_sync.processing.totals import BatchTally, failure_reason, record_totals
from enterspeed_sync.processing.transitions import Outcome
from enterspeed_sync.testing import IngestStandIn
from tests.clusters import cluster_beats, cluster_stops
from tests.docs_blocks import ROOT, read_blocks
from tests.prometheus import evaluate, parse
from tests.test_api import bearer, token_for
from tests.test_views import make_user, pending_job

METRICS = "enterspeed_sync_api:metrics"


def production_yaml() -> tuple[dict, dict]:
    """docs/production.md's scrape configuration and alert rules, as a reader pastes them."""
    blocks = [
        block for block in read_blocks(ROOT / "docs" / "production.md") if block.lang == "yaml"
    ]
    (config,) = [yaml.safe_load(b.code) for b in blocks if "scrape_configs" in b.code]
    (rules,) = [yaml.safe_load(b.code) for b in blocks if "groups" in b.code]
    return config["scrape_configs"][0], {
        rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]
    }


SCRAPE, ALERTS = production_yaml()


@pytest.fixture
def monitoring_token(django_user_model):
    """A view-only monitoring user's token, as docs/api.md advises."""
    return token_for(make_user(django_user_model, "monitoring", "view_enterspeedjob"))


def scrape(token: str):
    """One scrape as Prometheus makes it from the documented configuration."""
    assert SCRAPE["authorization"]["type"] == "Bearer"
    response = Client().get(SCRAPE["metrics_path"], **bearer(token))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(response.content.decode())


def test_the_documented_path_is_the_metrics_endpoint():
    assert SCRAPE["metrics_path"] == reverse(METRICS)
    assert resolve(SCRAPE["metrics_path"]).url_name == "metrics"


@pytest.mark.django_db
def test_protected_like_the_operations_api(django_user_model, monitoring_token):
    url = reverse(METRICS)
    assert Client().get(url).status_code == 401
    assert Client().get(url, **bearer("esync_nope_nope")).status_code == 401
    outsider = token_for(make_user(django_user_model, "outsider"))
    assert Client().get(url, **bearer(outsider)).status_code == 403
    assert Client().get(url, **bearer(monitoring_token)).status_code == 200
    assert Client().post(url, **bearer(monitoring_token)).status_code == 405


@pytest.mark.django_db
@override_settings(ENTERSPEED_SYNC={"API_KEY": "source-tests", "PROCESS_ON_COMMIT": False})
def test_gauges_say_what_the_health_endpoint_says(monitoring_token, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)  # a cluster is needed, as in production
    now = timezone.now()
    cluster_beats(workers=3)
    try:
        stalled = pending_job(1)
        EnterspeedJob.objects.filter(pk=stalled.pk).update(
            next_attempt_at=now - timedelta(minutes=7), created_at=now - timedelta(minutes=8)
        )
        bulk = pending_job(2)
        EnterspeedJob.objects.filter(pk=bulk.pk).update(priority=JobPriority.BULK)
        EnterspeedJob.objects.create(
            entity_type="page", entity_id="3", origin_id="page-3", state=JobState.FAILED
        )
        metrics = scrape(monitoring_token)
        health = Client().get(reverse("enterspeed_sync_api:health"), **bearer(monitoring_token))
    finally:
        cluster_stops()
    publish = {"destination": "publish"}
    assert metrics.get("enterspeed_sync_jobs", **publish, state="pending", priority="bulk") == 1
    assert metrics.get("enterspeed_sync_jobs", **publish, state="pending", priority="person") == 1
    assert metrics.get("enterspeed_sync_jobs", **publish, state="failed", priority="person") == 1
    assert metrics.get("enterspeed_sync_jobs", **publish, state="processing", priority="bulk") == 0
    assert metrics.get("enterspeed_sync_jobs_due", **publish) == 2
    assert 8 * 60 - 5 < metrics.get("enterspeed_sync_oldest_pending_job_age_seconds", **publish)
    assert 7 * 60 - 5 < metrics.get("enterspeed_sync_oldest_due_job_age_seconds", **publish)
    # One verdict: the health endpoint's state and HTTP status are the metrics' too.
    assert health.status_code == 503
    assert health.json()["state"] == "stalled"
    states = metrics.select("enterspeed_sync_state", **publish)
    assert {dict(labels)["state"] for labels, value in states.items() if value == 1} == {"stalled"}
    assert sum(states.values()) == 1
    assert metrics.get("enterspeed_sync_failing", **publish) == 1
    assert metrics.get("enterspeed_sync_breaker_open", **publish) == 0
    assert metrics.get("enterspeed_sync_clusters_live") == 1
    assert metrics.get("enterspeed_sync_cluster_workers") == 3
    # Counters start at 0, so increase() sees the first change.
    assert metrics.get("enterspeed_sync_jobs_sent_total", **publish) == 0
    assert metrics.get("enterspeed_sync_jobs_failed_total", **publish) == 0
    assert metrics.get("enterspeed_sync_request_duration_seconds_count", **publish) == 0
    # The stalled-queue rule fires on it, for that destination.
    assert evaluate(ALERTS["EnterspeedQueueStalled"], [metrics]) == {
        (("destination", "publish"),): pytest.approx(7 * 60, abs=5)
    }


@pytest.mark.django_db
def test_a_scrape_costs_the_same_queries_whatever_the_queue(
    monitoring_token, django_assert_max_num_queries
):
    for entity_id in range(30):
        pending_job(entity_id)
    scrape(monitoring_token)  # the token's last_used_at is written once a minute
    # The token and its user's permissions (two, for a user who is not a superuser), then
    # the status model's two, jobs by state and priority, the totals and the ledger.
    with django_assert_max_num_queries(3 + 5):
        scrape(monitoring_token)


@pytest.mark.django_db
def test_batch_totals_add_up_across_batches():
    tally = BatchTally()
    tally.failed([2], "http_422")
    tally.failed([3], "timeout")
    tally.request(0.2)
    tally.request(42.0)  # above every bucket: counted, in +Inf only
    outcomes = {1: Outcome.SUCCEEDED, 2: Outcome.FAILED, 3: Outcome.RETRY, 4: Outcome.RELEASED}
    record_totals("publish", outcomes, tally)
    record_totals("publish", outcomes, tally)
    values = {(t.name, t.labels): t.value for t in DeliveryTotal.objects.all()}
    assert values == {
        ("jobs_sent_total", ""): 2,
        ("jobs_failed_total", 'reason="http_422"'): 2,
        ("job_attempts_failed_total", 'reason="timeout"'): 2,
        ("request_duration_seconds_bucket", 'le="0.25"'): 2,
        ("request_duration_seconds_sum", ""): pytest.approx(84.4),
        ("request_duration_seconds_count", ""): 4,
    }


def test_failure_reasons_are_short_labels():
    from enterspeed_sync.delivery.errors import EnterspeedConnectionError, EnterspeedHTTPError

    assert failure_reason(EnterspeedHTTPError(status=503, message="down")) == "http_503"
    assert failure_reason(EnterspeedConnectionError("x", timed_out=True)) == "timeout"
    assert failure_reason(EnterspeedConnectionError("x")) == "connection"
    assert failure_reason(ValueError("bug")) == "handler_error"


class ScrapingClient:
    """The real ingest client, with a scrape of the metrics endpoint after each request:
    what a Prometheus scraping every few seconds sees while the seed goes through."""

    def __init__(self, client, token: str):
        self.client = client
        self.token = token
        self.scrapes = []

    def __getattr__(self, name):
        method = getattr(self.client, name)
        if name not in ("save", "delete", "save_bulk", "delete_bulk"):
            return method

        def sent(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            finally:
                self.scrapes.append(scrape(self.token))

        return sent


@pytest.mark.django_db
def test_a_scrape_during_a_seed_sees_the_queue_fall_to_zero(site_tree, monitoring_token):
    with (
        IngestStandIn(api_keys=["source-tests"]) as standin,
        override_settings(
            ENTERSPEED_SYNC={
                "API_KEY": "source-tests",
                "BASE_URL": standin.url,
                "PROCESS_ON_COMMIT": False,
            }
        ),
    ):
        seed(kinds=["pages"])
        queued = EnterspeedJob.objects.pending().count()
        assert queued >= 5
        before = scrape(monitoring_token)
        client = ScrapingClient(get_client(), monitoring_token)
        process_pending_jobs(batch_size=2, client=client)
        after = scrape(monitoring_token)
        standin_holds = standin.entity_count()

    def queue(metrics):
        return sum(
            metrics.select("enterspeed_sync_jobs", destination="publish", state="pending").values()
        )

    during = [queue(metrics) for metrics in client.scrapes]
    assert queue(before) == queued
    assert len(during) >= 3, "the seed took several requests"
    assert during == sorted(during, reverse=True), during
    assert during[0] < queued and queue(after) == 0
    publish = {"destination": "publish"}
    assert after.get("enterspeed_sync_jobs", **publish, state="processing", priority="bulk") == 0
    assert after.get("enterspeed_sync_jobs_sent_total", **publish) == queued
    assert standin_holds == len(site_tree["posts"]) + 2
    assert after.get("enterspeed_sync_request_duration_seconds_count", **publish) == len(during)
    assert (
        after.get("enterspeed_sync_last_accepted_timestamp_seconds", **publish)
        > (timezone.now() - timedelta(minutes=1)).timestamp()
    )
    assert after.get("enterspeed_sync_oldest_pending_job_age_seconds", **publish) == 0
    # A healthy seed: neither alert fires.
    window = [before, *client.scrapes, after]
    assert evaluate(ALERTS["EnterspeedQueueStalled"], window) == {}
    assert evaluate(ALERTS["EnterspeedFailuresRising"], window) == {}


@pytest.mark.django_db
def test_failures_rising_fires_when_enterspeed_refuses_a_job(site_tree, monitoring_token):
    post = site_tree["posts"][0]
    with (
        IngestStandIn(api_keys=["source-tests"]) as standin,
        override_settings(
            ENTERSPEED_SYNC={
                "API_KEY": "source-tests",
                "BASE_URL": standin.url,
                "PROCESS_ON_COMMIT": False,
            }
        ),
    ):
        seed(kinds=["pages"])
        before = scrape(monitoring_token)
        standin.reject_entity(f"page-{post.pk}", {"title": "is not allowed"})
        standin.fail_next(429, retry_after=0)
        process_pending_jobs(batch_size=50)
        after = scrape(monitoring_token)
    publish = {"destination": "publish"}
    assert after.get("enterspeed_sync_jobs_failed_total", **publish) == 1
    assert (
        after.get("enterspeed_sync_jobs_failed_by_reason_total", **publish, reason="http_422") == 1
    )
    assert after.get("enterspeed_sync_requests_throttled_total", **publish) == 1
    assert evaluate(ALERTS["EnterspeedFailuresRising"], [before, after]) == {
        (("destination", "publish"),): 1
    }
    assert evaluate(ALERTS["EnterspeedQueueStalled"], [before, after]) == {}
