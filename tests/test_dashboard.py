"""
The dashboard at a glance: a status line in words per destination (issue 15), the
activity charts from the per-minute counters processing keeps, the failed jobs grouped by
reason with a link to them, and times in the admin user's time zone. Real pages, real
processing, real HTTP to the ingest stand-in.
"""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf
from wagtail.users.models import UserProfile

from enterspeed_sync import tasks
from enterspeed_sync.capture.outbox import JobSpec, queue_job
from enterspeed_sync.delivery import gate
from enterspeed_sync.delivery.retries import stamp
from enterspeed_sync.models import EnterspeedJob, JobState, SyncCounter
from enterspeed_sync.processing import counters
from enterspeed_sync.processing.runner import process_pending_jobs
from enterspeed_sync.processing.transitions import Outcome
from enterspeed_sync.status import get_sync_status
from enterspeed_sync.status.overview import (
    get_activity,
    get_failure_reasons,
    get_status_lines,
    normalise_error,
)
from tests.clusters import cluster_beats, cluster_stops

DASHBOARD = reverse("enterspeed_sync:dashboard")
STATUS = reverse("enterspeed_sync:status")


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def synced(standin, settings):
    """The stand-in's settings, processing only when asked (no commit kicks it)."""
    settings.ENTERSPEED_SYNC = {**settings.ENTERSPEED_SYNC, "PROCESS_ON_COMMIT": False}
    return standin


def queue_pages(pages):
    for page in pages:
        queue_job(
            JobSpec(
                entity_type="page",
                entity_id=str(page.pk),
                job_type="publish",
                origin_id=f"page-{page.pk}",
                locale="en",
            )
        )


def line_of(destination="publish"):
    lines = {line.destination: line for line in get_status_lines(get_sync_status())}
    return lines[destination]


def heartbeat(alive: bool) -> None:
    """A cluster's statistic in django-q2's cache (``Stat``): saved (alive) or expired."""
    if alive:
        cluster_beats()
    else:
        cluster_stops()


# Counters ------------------------------------------------------------------------------


def test_each_batch_adds_its_outcomes_to_its_minute(site_tree, synced):
    posts = site_tree["posts"]
    queue_pages(posts)
    synced.reject_entity(f"page-{posts[0].pk}", {"title": "Too long"})
    process_pending_jobs()
    (row,) = SyncCounter.objects.all()
    assert (row.destination, row.sent, row.failed, row.retried, row.queued) == (
        "publish",
        2,
        1,
        0,
        0,
    )
    assert row.minute == counters.minute_of(timezone.now()) or row.minute < timezone.now()

    # The next batch of the same minute adds to the row: one UPDATE, queue length included.
    queue_pages(posts[1:])
    with CaptureQueriesContext(connection) as queries:
        counters.record_outcomes("publish", {1: Outcome.SUCCEEDED, 2: Outcome.RETRY})
    assert len(queries) == 1
    row.refresh_from_db()
    assert (row.sent, row.retried, row.queued) == (3, 1, 2)


def test_the_sweep_prunes_counters_older_than_two_days(db):
    now = timezone.now()
    old = SyncCounter.objects.create(minute=counters.minute_of(now - timedelta(days=3)), sent=1)
    kept = SyncCounter.objects.create(minute=counters.minute_of(now - timedelta(days=1)), sent=1)
    tasks.fail_stale_jobs()
    assert list(SyncCounter.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not SyncCounter.objects.filter(pk=old.pk).exists()


def test_activity_per_minute_and_per_hour(db):
    now = timezone.now()
    minute = counters.minute_of(now)
    SyncCounter.objects.create(minute=minute - timedelta(minutes=2), sent=5, failed=1, queued=7)
    SyncCounter.objects.create(
        minute=minute - timedelta(minutes=2), destination="preview", sent=2, queued=1
    )
    SyncCounter.objects.create(minute=minute - timedelta(hours=3), sent=4, queued=3)
    hour = get_activity("hour", now, queued_now=9)
    assert len(hour) == 60 and hour[-1].start == minute
    assert (hour[-3].sent, hour[-3].failed, hour[-3].queued) == (7, 1, 8)
    assert hour[-2].queued is None and hour[-1].queued == 9  # no batch: no level; now: live
    assert sum(bucket.sent for bucket in hour) == 7
    day = get_activity("day", now)
    assert len(day) == 24 and sum(bucket.sent for bucket in day) == 11


def test_the_dashboard_draws_the_activity_with_its_numbers(admin_client):
    minute = counters.minute_of(timezone.now())
    SyncCounter.objects.create(minute=minute - timedelta(minutes=1), sent=5, failed=2, queued=4)
    content = admin_client.get(DASHBOARD).content.decode()
    assert 'data-enterspeed-chart="hour"' in content and 'data-enterspeed-chart="day"' in content
    assert "Last hour, per minute: 5 sent, 2 failed" in content
    assert content.count('<rect data-series="sent"') >= 2
    table = re.search(r'data-enterspeed-activity="hour">(.*?)</table>', content, re.S)[1]
    cells = re.findall(r"<td>([^<]*)</td>", table)
    assert cells[1:] == ["5", "0", "0", "2", "4"]
    assert "http://" not in re.sub(
        r'xmlns="http://www.w3.org/2000/svg"',
        "",
        content.split('id="enterspeed-activity-heading"')[1].split("</section>")[0],
    )


# Status lines ----------------------------------------------------------------------------


def test_an_outage_says_unreachable_not_no_cluster(site_tree, synced, monkeypatch, settings):
    monkeypatch.setattr(Conf, "SYNC", False)
    heartbeat(alive=False)
    settings.ENTERSPEED_SYNC = {**settings.ENTERSPEED_SYNC, "BREAKER_THRESHOLD": 50}
    queue_pages(site_tree["posts"][:1])
    synced.outage(True)
    process_pending_jobs(wait_seconds=0)
    line = line_of()
    assert line.kind == "unreachable", line.words
    assert line.words.startswith("Enterspeed unreachable since ")
    assert "cluster" not in line.words
    assert line.next_retry_at is not None and line.next_retry_at > timezone.now()

    # When the breaker opens, the line says so, with the time of the next probe.
    settings.ENTERSPEED_SYNC = {**settings.ENTERSPEED_SYNC, "BREAKER_THRESHOLD": 1}
    EnterspeedJob.objects.update(next_attempt_at=timezone.now())
    process_pending_jobs(wait_seconds=0)
    line = line_of()
    assert line.kind == "breaker_open"
    assert re.match(
        r"Enterspeed unreachable since .*; breaker open, next probe at \d\d:\d\d:\d\d", line.words
    )
    # Enterspeed answers again: the streak is over; with no cluster, that is what shows.
    synced.outage(False)
    gate.record_success(gate.current_source())
    assert line_of().kind == "no_cluster"
    heartbeat(alive=True)
    assert (line_of().kind, line_of().words) == ("ok", "Syncing")


def test_no_cluster_only_from_django_q2s_stat_never_from_a_retry(
    site_tree, synced, monkeypatch
):
    monkeypatch.setattr(Conf, "SYNC", False)
    queue_pages(site_tree["posts"][:1])
    # Waiting for its retry, created long ago: the cluster is fine, the line says syncing.
    EnterspeedJob.objects.update(
        attempts=1,
        created_at=timezone.now() - timedelta(hours=1),
        next_attempt_at=timezone.now() + timedelta(minutes=10),
    )
    heartbeat(alive=True)
    line = line_of()
    assert (line.kind, line.words) == ("ok", "Syncing")
    assert line.oldest_pending_at < timezone.now() - timedelta(minutes=59)
    heartbeat(alive=False)
    assert line_of().kind == "no_cluster"
    assert "No cluster running" in line_of().words


def test_idle_in_sync_with_the_last_accepted_change(site_tree, synced):
    assert line_of().words == "Idle and in sync" and line_of().last_accepted_at is None
    queue_pages(site_tree["posts"][:1])
    process_pending_jobs()
    line = line_of()
    assert line.words == "Idle and in sync"
    assert timezone.now() - line.last_accepted_at < timedelta(minutes=1)


def test_paused_and_refused_key_in_words(db, synced):
    gate.pause_for_rate_limit(gate.current_source(), 60, "HTTP 429")
    assert re.fullmatch(r"Paused by rate limit until \d\d:\d\d:\d\d UTC", line_of().words)
    gate.record_auth_failure(gate.current_source(), "Enterspeed refused the API key (HTTP 401)")
    assert line_of().words.startswith("Key refused")


def test_times_are_in_the_admin_users_time_zone(admin_client, synced):
    UserProfile.get_for_user(admin_client.user).__class__.objects.filter(
        user=admin_client.user
    ).update(current_time_zone="Asia/Tokyo")
    until = gate.pause_for_rate_limit(gate.current_source(), 600, "HTTP 429")
    tokyo = timezone.localtime(until, timezone=__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    content = admin_client.get(STATUS).content.decode()
    assert f"Paused by rate limit until {tokyo:%H:%M:%S} JST" in content

    # A retry time inside a stored error: stored in UTC, shown in the reader's zone.
    job = EnterspeedJob.objects.create(
        entity_type="page",
        entity_id="9",
        job_type="publish",
        origin_id="page-9",
        state=JobState.FAILED,
        error=f"Attempt 1 of 5 failed; next attempt at {stamp(until)}. Boom",
    )
    inspect = admin_client.get(reverse("enterspeed_sync:job", args=[job.pk])).content.decode()
    assert f"next attempt at {tokyo:%Y-%m-%d %H:%M:%S} JST" in inspect
    jobs = admin_client.get(reverse("enterspeed_sync:jobs") + "?state=failed").content.decode()
    assert f"{tokyo:%Y-%m-%d %H:%M:%S} JST" in jobs and " UTC" not in unescape(jobs)


def test_a_retry_writes_its_time_in_utc_and_says_so(site_tree, synced):
    queue_pages(site_tree["posts"][:1])
    synced.fail_next(503)
    process_pending_jobs(wait_seconds=0)
    (job,) = EnterspeedJob.objects.all()
    assert re.search(r"next attempt at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.", job.error)


def test_the_spinner_is_sized(admin_client):
    EnterspeedJob.objects.create(
        entity_type="page", entity_id="1", job_type="publish", origin_id="page-1"
    )
    content = admin_client.get(STATUS).content.decode()
    assert re.search(r'<svg class="icon icon-spinner enterspeed-spinner', content)
    css = admin_client.get(DASHBOARD).content.decode()
    assert "enterspeed_sync/css/dashboard.css" in css


# Failed jobs by reason -----------------------------------------------------------------

ERRORS = [
    "Enterspeed rejected the request (HTTP 422, ValidationError): bad title",
    "Enterspeed rejected the request (HTTP 422, ValidationError): bad slug",
    "Gave up after 5 attempts. Last error: Enterspeed had a server error (HTTP 503)",
    "Enterspeed rejected the entity (HTTP 422, in a bulk request): too long",
    "TypeError: unsupported operand type(s) for +: 'int' and 'str'\n\nTraceback ...",
    "TypeError: unsupported operand type(s) for +: 'int' and 'str'\n\nTraceback (other)",
    "No handler in ENTERSPEED_SYNC['JOB_HANDLERS'] can handle a 'publish' job (image-12).",
]


def test_normalised_reasons():
    label, search = normalise_error(ERRORS[0])
    assert (label, search) == ("HTTP 422 · ValidationError", "HTTP 422, ValidationError)")
    assert normalise_error(ERRORS[2]) == ("HTTP 503", "HTTP 503)")
    assert normalise_error(ERRORS[3])[0] == "HTTP 422 (in a bulk request)"
    label, search = normalise_error(ERRORS[4])
    assert label == "TypeError: unsupported operand type(s) for +: 'int' and 'str'"
    assert search == "TypeError: unsupported operand type"


def test_failed_jobs_grouped_by_reason_link_to_exactly_them(admin_client):
    for index, error in enumerate(ERRORS):
        EnterspeedJob.objects.create(
            entity_type="page",
            entity_id=str(index),
            job_type="publish",
            origin_id=f"page-{index}",
            state=JobState.FAILED,
            error=error,
        )
    reasons = {reason.label: reason.count for reason in get_failure_reasons()}
    assert reasons["HTTP 422 · ValidationError"] == 2
    assert reasons["TypeError: unsupported operand type(s) for +: 'int' and 'str'"] == 2
    assert sum(reasons.values()) == len(ERRORS)
    content = admin_client.get(DASHBOARD).content.decode()
    links = re.findall(r'<a href="([^"]+)" data-reason-count>(\d+)</a>', content)
    assert len(links) == len(reasons)
    for href, count in links:
        listing = admin_client.get(unescape(href)).content.decode()
        shown = set(re.findall(r"page-\d+", listing))
        assert len(shown) == int(count), (href, shown)


@override_settings(ENTERSPEED_SYNC={"API_KEY": "source-0123456789abcdef"})
def test_no_failed_jobs_no_reasons(admin_client):
    assert "No failed jobs." in admin_client.get(DASHBOARD).content.decode()
