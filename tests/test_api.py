"""The operations API (enterspeed_sync/api/): auth, permissions, CSRF, every endpoint."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf
from wagtail.models import ModelLogEntry

from enterspeed_sync.api.tokens import create_token, hash_token
from enterspeed_sync.delivery.gate import current_source
from enterspeed_sync.models import APIToken, EnterspeedJob, JobState, LedgerEntry, SourceState
from enterspeed_sync.processing.claims import claim_jobs
from tests.clusters import cluster_beats
from tests.test_views import failed_job, failed_jobs, make_user, pending_job

pytestmark = pytest.mark.django_db

NO_KICK = {"API_KEY": "source-0123456789abcdef", "PROCESS_ON_COMMIT": False}


def api(name, *args):
    return reverse(f"enterspeed_sync_api:{name}", args=args)


def bearer(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def token_for(user):
    return create_token(user, name="tests")[1]


@pytest.fixture
def superuser(django_user_model):
    return make_user(django_user_model, "root", superuser=True)


@pytest.fixture
def admin_token(superuser):
    return token_for(superuser)


@pytest.fixture
def viewer(django_user_model):
    return make_user(django_user_model, "viewer", "view_enterspeedjob")


@pytest.fixture
def manager(django_user_model):
    return make_user(django_user_model, "manager", "view_enterspeedjob", "manage_enterspeedjob")


@pytest.fixture
def seeder(django_user_model):
    return make_user(django_user_model, "seeder", "view_enterspeedjob", "seed_enterspeedjob")


def get(url, raw_token, **params):
    return Client().get(url, params, **bearer(raw_token))


def post(url, raw_token, body=None, **extra):
    data = json.dumps(body) if body is not None else ""
    return Client().post(url, data, content_type="application/json", **bearer(raw_token), **extra)


def delete(url, raw_token):
    return Client().delete(url, **bearer(raw_token))


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == code and body["message"]
    return body


# Authentication ----------------------------------------------------------------------------


def test_anonymous_requests_get_401_json_not_the_login_page():
    for url in (api("health"), api("jobs"), api("openapi")):
        response = Client().get(url)
        assert_error(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Basic dXNlcjpwdw==", "Bearer esync_00000000_nope", "Bearer a b", "Token x"],
)
def test_bad_authorization_headers_get_401(admin_token, header):
    response = Client().get(api("health"), HTTP_AUTHORIZATION=header)
    assert_error(response, 401, "not_authenticated")


def test_a_token_authenticates_as_its_user_and_is_stored_hashed(superuser, admin_token):
    assert get(api("health"), admin_token).status_code == 200
    token = APIToken.objects.get(user=superuser)
    assert token.key_hash == hash_token(admin_token)
    assert admin_token not in {token.key_hash, token.prefix, token.name}
    assert admin_token.startswith(f"esync_{token.prefix}_")
    assert token.last_used_at is not None


def test_revoked_expired_and_inactive_tokens_are_refused(superuser, django_user_model):
    revoked, raw_revoked = create_token(superuser)
    revoked.revoked_at = timezone.now()
    revoked.save()
    _expired, raw_expired = create_token(
        superuser, expires_at=timezone.now() - timedelta(seconds=1)
    )
    inactive = make_user(django_user_model, "gone", superuser=True)
    raw_inactive = token_for(inactive)
    inactive.is_active = False
    inactive.save()
    for raw in (raw_revoked, raw_expired, raw_inactive):
        assert_error(get(api("health"), raw), 401, "not_authenticated")


def test_the_admin_session_works_for_reading(superuser):
    client = Client()
    client.force_login(superuser)
    assert client.get(api("health")).json()["status"] in ("ok", "degraded")


def test_a_bad_token_is_not_rescued_by_a_session(superuser):
    client = Client()
    client.force_login(superuser)
    response = client.get(api("health"), HTTP_AUTHORIZATION="Bearer esync_00000000_nope")
    assert_error(response, 401, "not_authenticated")


# Permissions: the admin area's ------------------------------------------------------------


def test_a_user_without_the_view_permission_gets_403(django_user_model):
    editor = make_user(django_user_model, "editor")
    raw = token_for(editor)
    for url in (api("health"), api("jobs"), api("openapi")):
        body = assert_error(get(url, raw), 403, "permission_denied")
        assert "view_enterspeedjob" in body["message"]


def test_admin_access_is_required_too(django_user_model):
    from django.contrib.auth.models import Permission

    user = make_user(django_user_model, "no-admin", "view_enterspeedjob")
    user.user_permissions.remove(Permission.objects.get(codename="access_admin"))
    assert_error(get(api("health"), token_for(user)), 403, "permission_denied")


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_viewers_read_but_cannot_retry_delete_or_seed(viewer):
    raw = token_for(viewer)
    job = failed_job()
    assert get(api("job", job.pk), raw).status_code == 200
    assert_error(post(api("job_retry", job.pk), raw), 403, "permission_denied")
    assert_error(delete(api("job", job.pk), raw), 403, "permission_denied")
    assert_error(post(api("failed_jobs_retry"), raw), 403, "permission_denied")
    assert_error(delete(api("failed_jobs"), raw), 403, "permission_denied")
    body = assert_error(post(api("seeds"), raw, {}), 403, "permission_denied")
    assert "seed_enterspeedjob" in body["message"]
    job.refresh_from_db()
    assert job.state == JobState.FAILED


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_managers_cannot_seed_and_seeders_cannot_retry(manager, seeder):
    job = failed_job()
    assert_error(post(api("seeds"), token_for(manager), {}), 403, "permission_denied")
    assert_error(post(api("job_retry", job.pk), token_for(seeder)), 403, "permission_denied")
    assert post(api("job_retry", job.pk), token_for(manager)).status_code == 200


# CSRF -------------------------------------------------------------------------------------


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_session_writes_need_the_csrf_token(superuser):
    job = failed_job()
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    url = api("job_retry", job.pk)
    assert_error(client.post(url), 403, "csrf_failed")
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    # With the cookie and header, as the admin's JavaScript would send them.
    client.get(reverse("enterspeed_sync:dashboard"))
    csrf = client.cookies["csrftoken"].value
    assert client.post(url, HTTP_X_CSRFTOKEN=csrf).status_code == 200
    job.refresh_from_db()
    assert job.state == JobState.PENDING


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_token_writes_are_exempt_from_csrf(admin_token):
    job = failed_job()
    client = Client(enforce_csrf_checks=True)
    response = client.post(api("job_retry", job.pk), **bearer(admin_token))
    assert response.status_code == 200
    assert response.json()["retried"] is True


# Errors -----------------------------------------------------------------------------------


def test_unknown_paths_and_methods_answer_json(admin_token):
    assert_error(get(api("jobs") + "nope/", admin_token), 404, "not_found")
    body = assert_error(get(api("jobs").rstrip("/"), admin_token), 404, "not_found")
    assert "trailing slash" in body["message"]
    response = Client().put(api("jobs"), **bearer(admin_token))
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert_error(get(api("job", 999999), admin_token), 404, "not_found")
    assert_error(get(api("job", 2**70), admin_token), 404, "not_found")


def test_head_and_options_answer_like_the_routes_methods(admin_token):
    response = Client().head(api("health"), **bearer(admin_token))
    assert response.status_code == 200 and response.content == b""
    assert "no-cache" in response["Cache-Control"]
    # OPTIONS needs no credentials: it only lists the methods.
    response = Client().options(api("job", 1))
    assert response.status_code == 200
    assert response["Allow"] == "GET, HEAD, DELETE, OPTIONS"
    assert Client().options(api("seeds"))["Allow"] == "POST, OPTIONS"


def test_bad_bodies_get_400_or_415(admin_token):
    url = api("seeds")
    client = Client()
    response = client.post(url, "{not json", content_type="application/json", **bearer(admin_token))
    assert_error(response, 400, "invalid")
    response = client.post(url, "[]", content_type="application/json", **bearer(admin_token))
    assert_error(response, 400, "invalid")
    response = client.post(url, "kinds=pages", content_type="text/plain", **bearer(admin_token))
    assert_error(response, 415, "unsupported_media_type")


# Jobs list --------------------------------------------------------------------------------


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_list_filters_and_counts_per_state(admin_token):
    failed_job(1)
    failed_job(2, error="boom")
    pending_job(3)
    EnterspeedJob.objects.create(
        entity_type="image", entity_id="7", job_type="delete", origin_id="image-7", locale="da"
    )
    body = get(api("jobs"), admin_token).json()
    assert body["count"] == 4
    assert body["counts"] == {"pending": 2, "processing": 0, "failed": 2}

    body = get(api("jobs"), admin_token, state="failed").json()
    assert {job["origin_id"] for job in body["results"]} == {"page-1", "page-2"}
    # Counts ignore the state filter, so one request shows the whole picture.
    assert body["counts"] == {"pending": 2, "processing": 0, "failed": 2}

    def origin_ids(**params):
        return {
            job["origin_id"] for job in get(api("jobs"), admin_token, **params).json()["results"]
        }

    assert origin_ids(entity_type="image") == {"image-7"}
    assert origin_ids(job_type="delete") == {"image-7"}
    assert origin_ids(locale="DA") == {"image-7"}
    assert origin_ids(locale="") == {"page-1", "page-2", "page-3"}
    assert origin_ids(destination="preview") == set()
    assert origin_ids(origin_id="GE-2") == {"page-2"}
    job = get(api("jobs"), admin_token, origin_id="page-2").json()["results"][0]
    assert job["error"] == "boom" and job["state"] == "failed"
    assert "lease_token" not in job


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_list_filters_by_creation_time(admin_token):
    old = failed_job(1)
    EnterspeedJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    failed_job(2)
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()

    def origin_ids(**params):
        return [
            job["origin_id"] for job in get(api("jobs"), admin_token, **params).json()["results"]
        ]

    assert origin_ids(created_after=yesterday) == ["page-2"]
    assert origin_ids(created_before=yesterday) == ["page-1"]
    assert origin_ids(created_before="2000-01-01") == []
    assert origin_ids(created_after="2000-01-01T00:00:00z", ordering="created_at") == [
        "page-1",
        "page-2",
    ]


def test_bad_filters_get_400_with_field_errors(admin_token):
    response = get(
        api("jobs"),
        admin_token,
        state="broken",
        created_after="yesterday",
        page="0",
        page_size="1000",
        stat="failed",
    )
    fields = assert_error(response, 400, "invalid")["fields"]
    assert set(fields) == {"state", "created_after", "page", "page_size", "non_field_errors"}
    assert fields["non_field_errors"] == ["Unknown parameter 'stat'."]
    # An empty value means nothing, except for the locale ("no locale") and the search.
    fields = assert_error(get(api("jobs"), admin_token, job_type=""), 400, "invalid")["fields"]
    assert fields == {"job_type": ["Give a value, or leave the parameter out."]}
    assert get(api("jobs"), admin_token, locale="", origin_id="").status_code == 200


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_list_paginates(admin_token):
    failed_jobs(120)
    body = get(api("jobs"), admin_token, page_size=50, ordering="id").json()
    assert (body["count"], body["num_pages"], len(body["results"])) == (120, 3, 50)
    assert body["previous"] is None
    second = Client().get(body["next"], **bearer(admin_token)).json()
    assert second["page"] == 2
    assert second["results"][0]["id"] == body["results"][-1]["id"] + 1
    assert len(get(api("jobs"), admin_token, page=3).json()["results"]) == 20
    assert_error(get(api("jobs"), admin_token, page=4), 404, "not_found")


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_list_queries_do_not_grow_with_the_page(admin_token, django_assert_max_num_queries):
    failed_jobs(200)
    # Token, user permissions (a superuser needs none), count, counts per state, the page.
    with django_assert_max_num_queries(6):
        assert len(get(api("jobs"), admin_token, page_size=200).json()["results"]) == 200


# One job ----------------------------------------------------------------------------------


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_retrieve_one_job(admin_token):
    job = failed_job(5)
    body = get(api("job", job.pk), admin_token).json()
    assert body["id"] == job.pk and body["origin_id"] == "page-5"
    assert body["url"] == api("job", job.pk)
    assert body["admin_url"] == reverse("enterspeed_sync:job", args=[job.pk])


def test_retry_one_failed_job_sends_it(admin_token, site_tree, standin, on_commit_api):
    post_page = site_tree["posts"][0]
    job = failed_job(post_page.pk)
    with on_commit_api():
        response = post(api("job_retry", job.pk), admin_token)
    assert response.status_code == 200
    body = response.json()
    assert body["retried"] is True and body["job"]["state"] == "pending"
    # Queued again and, with the inline cluster, sent once the request committed.
    assert f"page-{post_page.pk}" in standin.entities
    assert not EnterspeedJob.objects.exists()
    entry = ModelLogEntry.objects.get(action="enterspeed_sync.retry")
    assert entry.data["via"] == "api"
    assert entry.data["token"] == APIToken.objects.get().prefix


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_retrying_a_job_that_is_not_failed_is_a_conflict(admin_token):
    job = pending_job()
    assert_error(post(api("job_retry", job.pk), admin_token), 409, "not_failed")


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_retrying_a_superseded_failed_job_returns_the_pending_one(admin_token):
    job = failed_job(3)
    newer = pending_job(3)
    body = post(api("job_retry", job.pk), admin_token).json()
    assert body["retried"] is False and body["job"]["id"] == newer.pk
    assert list(EnterspeedJob.objects.values_list("pk", flat=True)) == [newer.pk]


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_retrying_a_failed_job_superseded_by_one_in_flight_returns_that_one(admin_token):
    job = failed_job(3)
    newer = pending_job(3)
    claim_jobs(10)  # a worker is sending the newer one
    body = post(api("job_retry", job.pk), admin_token).json()
    assert body["retried"] is False
    assert (body["job"]["id"], body["job"]["state"]) == (newer.pk, "processing")
    assert list(EnterspeedJob.objects.values_list("pk", flat=True)) == [newer.pk]


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_delete_one_job(admin_token):
    job = failed_job()
    assert delete(api("job", job.pk), admin_token).json() == {"deleted": 1}
    assert not EnterspeedJob.objects.exists()
    assert ModelLogEntry.objects.filter(action="wagtail.delete", object_id=str(job.pk)).exists()
    assert_error(delete(api("job", job.pk), admin_token), 404, "not_found")


# All failed jobs --------------------------------------------------------------------------


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_retry_all_failed_with_a_filter(admin_token):
    for i in range(1, 4):
        failed_job(i)
    EnterspeedJob.objects.create(
        entity_type="image", entity_id="9", job_type="publish", origin_id="image-9", state="failed"
    )
    response = post(api("failed_jobs_retry") + "?entity_type=image", admin_token)
    assert response.json() == {"matched": 1, "queued": 1, "background": False}
    assert list(EnterspeedJob.objects.pending().values_list("origin_id", flat=True)) == ["image-9"]
    response = post(api("failed_jobs_retry"), admin_token)
    assert response.json() == {"matched": 3, "queued": 3, "background": False}
    assert not EnterspeedJob.objects.failed().exists()
    entry = ModelLogEntry.objects.filter(action="enterspeed_sync.retry_failed").order_by("pk")[0]
    assert entry.data["filters"] == {"entity_type": "image"} and entry.data["count"] == 1


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_retry_all_failed_runs_in_the_background_when_large(admin_token, on_commit_api):
    failed_jobs(1500)
    with on_commit_api():
        response = post(api("failed_jobs_retry"), admin_token)
    assert response.status_code == 202
    assert response.json() == {"matched": 1500, "queued": None, "background": True}
    # Two background tasks (1000 + 500 ids), run inline by the test cluster at commit.
    assert EnterspeedJob.objects.pending().count() == 1500


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_delete_all_failed_with_and_without_filters(admin_token):
    failed_job(1)
    failed_job(2)
    pending_job(3)
    EnterspeedJob.objects.filter(entity_id="2").update(locale="da")
    assert delete(api("failed_jobs") + "?locale=da", admin_token).json() == {"deleted": 1}
    assert delete(api("failed_jobs"), admin_token).json() == {"deleted": 1}
    assert list(EnterspeedJob.objects.values_list("state", flat=True)) == [JobState.PENDING]
    assert ModelLogEntry.objects.filter(action="enterspeed_sync.delete_failed").count() == 2


def test_a_misspelt_filter_never_widens_a_bulk_action(admin_token):
    failed_job()
    response = Client().delete(api("failed_jobs") + "?entity_typ=image", **bearer(admin_token))
    assert_error(response, 400, "invalid")
    assert EnterspeedJob.objects.count() == 1
    assert_error(post(api("failed_jobs_retry") + "?state=failed", admin_token), 400, "invalid")


# Seeding ----------------------------------------------------------------------------------


@pytest.fixture
def on_commit_api(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (the queued django-q2 tasks, inline) as a commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_seed_a_scope_queues_the_jobs(admin_token, site_tree, on_commit_api):
    blog = site_tree["blog"]
    with on_commit_api():
        response = post(
            api("seeds"),
            admin_token,
            {"kinds": ["pages"], "root_page": blog.pk, "descendants": False, "locales": ["en"]},
        )
    assert response.status_code == 202
    started = response.json()
    assert started["scope"] == {
        "kinds": ["pages"],
        "root_page": blog.pk,
        "root_pages": [],
        "descendants": False,
        "locales": ["en"],
        "collections": [],
        "snippet_models": [],
        "force": False,
        "destination": "publish",
    }
    assert list(EnterspeedJob.objects.values_list("origin_id", flat=True)) == [f"page-{blog.pk}"]
    # The seed task ran inline at commit; its result is readable through the API.
    seed = get(started["url"], admin_token).json()
    assert seed["state"] == "succeeded" and seed["counts"] == {"pages": 1}
    entry = ModelLogEntry.objects.get(action="enterspeed_sync.seed")
    assert entry.data["root_page"] == blog.pk and entry.data["via"] == "api"


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_seed_everything_by_default(admin_token, site_tree, on_commit_api):
    with on_commit_api():
        response = post(api("seeds"), admin_token)
    assert response.json()["scope"]["kinds"] == ["pages", "images", "documents", "snippets"]
    pages = {f"page-{p.pk}" for p in [site_tree["home"], site_tree["blog"], *site_tree["posts"]]}
    assert pages <= set(EnterspeedJob.objects.values_list("origin_id", flat=True))


def test_seed_rejects_bad_scopes_field_by_field(admin_token):
    response = post(
        api("seeds"),
        admin_token,
        {
            "kinds": ["pages", "widgets"],
            "root_page": 2**64,
            "descendants": "yes",
            "locales": ["xx"],
            "destination": "preview",
        },
    )
    fields = assert_error(response, 400, "invalid")["fields"]
    assert set(fields) == {"kinds", "root_page", "descendants", "locales", "destination"}
    assert not EnterspeedJob.objects.exists()
    response = post(api("seeds"), admin_token, {"root_page": 987654})
    assert assert_error(response, 400, "invalid")["fields"] == {
        "root_page": ["No page with id 987654."]
    }


def test_a_seed_started_elsewhere_is_not_found(admin_token):
    assert_error(get(api("seed", "0" * 32), admin_token), 404, "not_found")


# Health -----------------------------------------------------------------------------------


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_health_is_ok_on_an_idle_queue(admin_token):
    body = get(api("health"), admin_token).json()
    assert body["status"] == "ok" and body["reasons"] == []
    assert (body["pending"], body["processing"], body["failed"]) == (0, 0, 0)
    assert body["oldest_pending_age_seconds"] is None
    assert body["last_successful_ingest_at"] is None
    assert body["sending_paused"] is False


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_health_reports_depth_age_failures_and_last_ingest(admin_token):
    job = pending_job(1)
    EnterspeedJob.objects.filter(pk=job.pk).update(
        created_at=timezone.now() - timedelta(minutes=30),
        next_attempt_at=timezone.now() - timedelta(minutes=30),
    )
    pending_job(2)
    failed_job(3)
    EnterspeedJob.objects.create(
        entity_type="page",
        entity_id="4",
        job_type="publish",
        origin_id="page-4",
        state="processing",
    )
    sent = timezone.now() - timedelta(minutes=2)
    LedgerEntry.objects.create(key_hash=current_source().key_hash, origin_id="page-9", sent_at=sent)
    LedgerEntry.objects.create(
        key_hash="another-source", origin_id="page-9", sent_at=timezone.now()
    )
    response = get(api("health"), admin_token)
    body = response.json()
    # A stalled queue: nothing reaches Enterspeed, so a monitor reads 503.
    assert (response.status_code, body["status"], body["http_status"]) == (503, "failing", 503)
    assert body["reasons"] == ["stalled", "failed_jobs"]
    assert (body["pending"], body["processing"], body["failed"]) == (2, 1, 1)
    assert 29 * 60 < body["oldest_pending_age_seconds"] < 31 * 60
    assert body["last_successful_ingest_at"] == sent.isoformat().replace("+00:00", "Z")


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_health_says_when_sending_is_paused(admin_token):
    until = timezone.now() + timedelta(minutes=5)
    SourceState.objects.create(
        key_hash=current_source().key_hash, paused_until=until, pause_reason="429"
    )
    response = get(api("health"), admin_token)
    body = response.json()
    # A 429 pause ends by itself: degraded, but 200.
    assert response.status_code == 200
    assert body["status"] == "degraded" and body["state"] == "rate_limited"
    assert body["sending_paused"] is True
    assert body["paused_until"] == until.isoformat().replace("+00:00", "Z")


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_health_is_a_few_queries(admin_token, django_assert_max_num_queries):
    failed_jobs(50)
    get(api("health"), admin_token)  # the token's last_used_at is written once a minute
    # Token, job counts, sending state, ledger: four, whatever the queue holds.
    with django_assert_max_num_queries(4):
        assert get(api("health"), admin_token).status_code == 200


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_health_reads_the_clusters_from_django_q2s_cache(admin_token, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)
    get(api("health"), admin_token)
    response = get(api("health"), admin_token)
    assert response.status_code == 503
    assert response.json()["state"] == "no_cluster"
    assert response.json()["clusters"] == {"needed": True, "visible": True, "live": []}
    cluster_beats("one", workers=2)
    cluster_beats("two", workers=3)
    with CaptureQueriesContext(connection) as queries:
        response = get(api("health"), admin_token)
    body = response.json()
    assert (response.status_code, body["status"], body["state"]) == (200, "ok", "ok")
    assert sorted(c["workers"] for c in body["clusters"]["live"]) == [2, 3]
    assert {"cluster_id", "host", "pid", "status", "last_beat_at"} <= set(
        body["clusters"]["live"][0]
    )
    # Ours stay four; django-q2 reads its key list and each cluster's statistic from the
    # (here: database) cache, and writes the list back (a count, a look-up, an update, in a
    # savepoint).
    ours = [q["sql"] for q in queries.captured_queries if 'FROM "enterspeed_sync_' in q["sql"]]
    cache = [q["sql"] for q in queries.captured_queries if "django_q_cache" in q["sql"]]
    assert len(ours) == 4, ours
    assert len(cache) <= 1 + 2 + 3, cache


# The token command ------------------------------------------------------------------------


def test_token_command_creates_lists_and_revokes(superuser):
    out, err = StringIO(), StringIO()
    call_command("enterspeed_api_token", "create", "--user", "root", "--name", "uptime",
                 stdout=out, stderr=err)  # fmt: skip
    raw = out.getvalue().strip()
    assert "not shown again" in err.getvalue()
    assert get(api("health"), raw).status_code == 200
    token = APIToken.objects.get()
    assert token.name == "uptime" and token.user == superuser

    out = StringIO()
    call_command("enterspeed_api_token", "list", stdout=out)
    listing = out.getvalue()
    assert token.prefix in listing and "uptime" in listing and raw not in listing

    call_command("enterspeed_api_token", "revoke", f"esync_{token.prefix}", stdout=StringIO())
    assert_error(get(api("health"), raw), 401, "not_authenticated")
    out = StringIO()
    call_command("enterspeed_api_token", "list", stdout=out)
    assert out.getvalue().strip() == "No tokens."
    out = StringIO()
    call_command("enterspeed_api_token", "list", "--all", stdout=out)
    assert "revoked" in out.getvalue()


def test_token_command_expiry_and_errors(superuser):
    out = StringIO()
    call_command("enterspeed_api_token", "create", "--user", "root", "--expires-in-days", "7",
                 stdout=out, stderr=StringIO())  # fmt: skip
    expires = APIToken.objects.get().expires_at
    assert timedelta(days=6) < expires - timezone.now() <= timedelta(days=7)
    with pytest.raises(CommandError, match="no user"):
        call_command("enterspeed_api_token", "create", "--user", "nobody", stdout=StringIO())
    with pytest.raises(CommandError, match="No token"):
        call_command("enterspeed_api_token", "revoke", "ffffffff", stdout=StringIO())
