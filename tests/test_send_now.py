"""
"Send now": a pending job waiting for its next attempt (a retry's backoff) moved to now, in
the admin (one, the selected, all), through the API and with `enterspeed_retry --pending`;
each audited like a retry.
"""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from wagtail.models import ModelLogEntry

from enterspeed_sync.models import EnterspeedJob
from enterspeed_sync.processing.transitions import send_waiting_jobs_now
from tests.test_api import api, post, token_for
from tests.test_views import failed_job, logged_in, make_user, pending_job

NO_KICK = {"API_KEY": "source-0123456789abcdef", "PROCESS_ON_COMMIT": False}


def waiting_job(entity_id, *, in_minutes=55):
    """A pending job that failed once and waits out its backoff."""
    job = pending_job(entity_id)
    EnterspeedJob.objects.filter(pk=job.pk).update(
        attempts=1,
        error="Attempt 1 of 5 failed; next attempt at …. Could not reach Enterspeed",
        next_attempt_at=timezone.now() + timedelta(minutes=in_minutes),
    )
    job.refresh_from_db()
    return job


def is_due(job) -> bool:
    job.refresh_from_db()
    return job.next_attempt_at <= timezone.now()


def send_now_entries():
    return ModelLogEntry.objects.filter(action="enterspeed_sync.send_now")


pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(django_user_model):
    return make_user(django_user_model, "admin", superuser=True)


@pytest.fixture
def admin_client(admin):
    return logged_in(admin)


@pytest.fixture
def viewer(django_user_model):
    return make_user(django_user_model, "viewer", "view_enterspeedjob")


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_only_jobs_waiting_past_the_settle_window_move_and_attempts_stay_spent():
    waiting = waiting_job(1)
    due = pending_job(2)
    settling = waiting_job(3, in_minutes=0.05)  # 3 s: inside TIMEOUT_TOTAL, left alone
    failed = failed_job(4)
    assert send_waiting_jobs_now() == 1
    assert is_due(waiting) and waiting.attempts == 1
    settling.refresh_from_db()
    assert settling.next_attempt_at > timezone.now()
    failed.refresh_from_db()
    assert failed.state == "failed" and due.state == "pending"


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_the_admin_sends_one_job_now_and_logs_it(admin_client):
    job = waiting_job(1)
    page = admin_client.get(reverse("enterspeed_sync:job", args=[job.pk])).content.decode()
    assert "data-enterspeed-send-now" in page
    url = reverse("enterspeed_sync:job_action", args=[job.pk, "send_now"])
    response = admin_client.post(url)
    assert response.status_code == 302
    assert is_due(job)
    (entry,) = send_now_entries()
    assert entry.data["origin_id"] == "page-1" and entry.user.username == "admin"
    # Now due: nothing to move any more, and the button is gone.
    page = admin_client.get(reverse("enterspeed_sync:job", args=[job.pk])).content.decode()
    assert "data-enterspeed-send-now" not in page
    admin_client.post(url)
    assert send_now_entries().count() == 1


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_the_admin_sends_the_selected_and_all_waiting_jobs_now(admin_client):
    one, two, three = waiting_job(1), waiting_job(2), waiting_job(3)
    response = admin_client.post(
        reverse("enterspeed_sync:jobs_bulk"), {"action": "send_now", "id": [one.pk, two.pk]}
    )
    assert response.status_code == 302
    assert is_due(one) and is_due(two) and not is_due(three)
    assert send_now_entries().count() == 2

    url = reverse("enterspeed_sync:jobs_send_now")
    assert "Send all 1 waiting jobs now?" in admin_client.get(url).content.decode()
    admin_client.post(url)
    assert is_due(three)
    entry = send_now_entries().get(data__count=1)
    assert entry.data["count"] == 1


def test_a_viewer_cannot_send_jobs_now(viewer):
    client = logged_in(viewer)
    job = waiting_job(1)
    client.post(reverse("enterspeed_sync:job_action", args=[job.pk, "send_now"]))
    client.post(reverse("enterspeed_sync:jobs_send_now"))
    assert not is_due(job) and not send_now_entries().exists()


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_the_api_sends_one_or_every_waiting_job_now(admin, viewer):
    admin_token = token_for(admin)
    job, other = waiting_job(1), waiting_job(2)
    response = post(api("job_send_now", job.pk), admin_token)
    assert response.status_code == 200, response.content
    assert response.json()["moved"] == 1 and response.json()["job"]["id"] == job.pk
    assert is_due(job)
    entry = send_now_entries().get()
    assert entry.data["via"] == "api" and "token" in entry.data
    # Not waiting any more: 409, as retrying a job that is not failed.
    response = post(api("job_send_now", job.pk), admin_token)
    assert (response.status_code, response.json()["error"]) == (409, "not_waiting")
    assert post(api("waiting_jobs_send_now"), token_for(viewer)).status_code == 403
    response = post(api("waiting_jobs_send_now"), admin_token)
    assert (response.status_code, response.json()) == (200, {"moved": 1})
    assert is_due(other)


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_the_retry_command_sends_pending_jobs_now():
    job, other = waiting_job(1), waiting_job(2)
    with pytest.raises(CommandError, match="Pass --pending"):
        call_command("enterspeed_retry", str(job.pk))
    out = StringIO()
    call_command("enterspeed_retry", "--pending", str(job.pk), stdout=out)
    assert "1 waiting job will be sent now." in out.getvalue()
    assert is_due(job) and not is_due(other)
    with pytest.raises(CommandError, match=f"Job {job.pk} is pending and not waiting"):
        call_command("enterspeed_retry", "--pending", str(job.pk))
    call_command("enterspeed_retry", "--pending", stdout=StringIO())
    assert is_due(other)
    assert {entry.data.get("via") for entry in send_now_entries()} == {"command"}
