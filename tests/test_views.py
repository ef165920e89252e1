"""The Enterspeed area in the Wagtail admin: views, permissions, audit log, page buttons."""

import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client, override_settings
from django.urls import reverse
from wagtail.models import GroupPagePermission, ModelLogEntry, PageLogEntry

from enterspeed_sync.admin_area.display import parse_error
from enterspeed_sync.admin_area.views.pages import get_page_sync_state
from enterspeed_sync.delivery.client import mask_api_key as mask_key
from enterspeed_sync.models import EnterspeedJob, JobState
from enterspeed_sync.status import get_notices

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("enterspeed_sync:dashboard")
JOBS = reverse("enterspeed_sync:jobs")
NO_KICK = {"API_KEY": "source-0123456789abcdef", "PROCESS_ON_COMMIT": False}


def make_user(django_user_model, username, *codenames, superuser=False):
    user = django_user_model.objects.create_user(
        username=username, password="pw", is_superuser=superuser, is_staff=superuser
    )
    access = Permission.objects.get(codename="access_admin")
    user.user_permissions.add(access)
    for codename in codenames:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="enterspeed_sync", codename=codename)
        )
    return user


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(django_user_model):
    return logged_in(make_user(django_user_model, "admin", superuser=True))


@pytest.fixture
def viewer_client(django_user_model):
    return logged_in(make_user(django_user_model, "viewer", "view_enterspeedjob"))


@pytest.fixture
def editor_client(django_user_model):
    """A Wagtail user without any Enterspeed permission."""
    return logged_in(make_user(django_user_model, "editor"))


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (the queued django-q2 tasks, inline) as a commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def failed_job(
    entity_id=1, error="Enterspeed rejected the request (HTTP 422, ValidationError): bad"
):
    return EnterspeedJob.objects.create(
        entity_type="page",
        entity_id=str(entity_id),
        job_type="publish",
        origin_id=f"page-{entity_id}",
        state=JobState.FAILED,
        error=error,
        attempts=1,
    )


def failed_jobs(count):
    """``count`` failed page jobs in one query (for pagination and bulk actions)."""
    EnterspeedJob.objects.bulk_create(
        EnterspeedJob(
            entity_type="page",
            entity_id=str(i),
            job_type="publish",
            origin_id=f"page-{i}",
            state=JobState.FAILED,
            error="x",
        )
        for i in range(count)
    )


def pending_job(entity_id=1):
    return EnterspeedJob.objects.create(
        entity_type="page",
        entity_id=str(entity_id),
        job_type="publish",
        origin_id=f"page-{entity_id}",
    )


# Permissions ---------------------------------------------------------------------------

XHR = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}


def assert_denied(client, method, url, data=None):
    """Wagtail's convention: 403 for scripts; a redirect home with an error for browsers."""
    assert getattr(client, method)(url, data or {}, **XHR).status_code == 403
    response = getattr(client, method)(url, data or {})
    assert response.status_code == 302 and response["Location"] == reverse("wagtailadmin_home")


ALL_GET_URLS = [
    DASHBOARD,
    reverse("enterspeed_sync:status"),
    JOBS,
    reverse("enterspeed_sync:jobs_results"),
    reverse("enterspeed_sync:clear_pending"),
    reverse("enterspeed_sync:jobs_all", args=["retry"]),
    reverse("enterspeed_sync:self_test"),
]


@pytest.mark.parametrize("url", ALL_GET_URLS)
def test_users_without_permission_get_403(editor_client, url):
    assert_denied(editor_client, "get", url)


@pytest.mark.parametrize(
    "url",
    [
        reverse("enterspeed_sync:seed"),
        reverse("enterspeed_sync:test_connection"),
        reverse("enterspeed_sync:clear_pending"),
        reverse("enterspeed_sync:jobs_bulk"),
        reverse("enterspeed_sync:jobs_all", args=["delete"]),
    ],
)
def test_posts_without_permission_get_403_and_change_nothing(editor_client, url):
    failed_job()
    assert_denied(editor_client, "post", url, {"kinds": ["pages"], "id": ["1"], "action": "delete"})
    assert EnterspeedJob.objects.count() == 1


def test_menu_is_hidden_without_permission(editor_client, viewer_client, django_user_model):
    home = reverse("wagtailadmin_home")
    assert DASHBOARD not in editor_client.get(home).content.decode()
    assert DASHBOARD in viewer_client.get(home).content.decode()


def test_viewer_sees_the_area_but_cannot_seed_retry_or_delete(viewer_client):
    job = failed_job()
    response = viewer_client.get(DASHBOARD)
    assert response.status_code == 200
    assert reverse("enterspeed_sync:seed") not in response.content.decode()
    assert_denied(viewer_client, "post", reverse("enterspeed_sync:seed"), {"kinds": ["pages"]})
    retry = reverse("enterspeed_sync:job_action", args=[job.pk, "retry"])
    assert_denied(viewer_client, "post", retry)
    assert viewer_client.get(JOBS).status_code == 200
    assert 'name="id"' not in viewer_client.get(JOBS).content.decode()
    job.refresh_from_db()
    assert job.state == JobState.FAILED


def test_permissions_are_registered_for_group_editing(admin_client):
    group = Group.objects.create(name="Enterspeed admins")
    response = admin_client.get(reverse("wagtailusers_groups:edit", args=[group.pk]))
    content = response.content.decode()
    for codename in ("seed_enterspeedjob", "manage_enterspeedjob"):
        perm = Permission.objects.get(codename=codename)
        assert f'value="{perm.pk}"' in content


def test_seed_and_actions_need_post(admin_client):
    assert admin_client.get(reverse("enterspeed_sync:seed")).status_code == 405
    assert admin_client.get(reverse("enterspeed_sync:test_connection")).status_code == 405


def test_seed_is_csrf_protected(client, django_user_model):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(make_user(django_user_model, "root", superuser=True))
    assert (
        csrf_client.post(reverse("enterspeed_sync:seed"), {"kinds": ["pages"]}).status_code == 403
    )


# Dashboard ------------------------------------------------------------------------------


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_dashboard_counts_per_state_and_masks_the_key(admin_client):
    failed_job(1)
    pending_job(2)
    pending_job(3)
    response = admin_client.get(DASHBOARD)
    content = response.content.decode()
    assert response.status_code == 200
    counts = response.context["counts"]
    assert (counts.pending, counts.processing, counts.failed) == (2, 0, 1)
    assert "0123456789abcdef" not in content
    assert mask_key("source-0123456789abcdef") in content
    assert response.context["refreshing"] is True


@override_settings(ENTERSPEED_SYNC={"API_KEY": ""})
def test_dashboard_warns_when_no_key_is_configured(admin_client):
    content = admin_client.get(DASHBOARD).content.decode()
    assert "No API key is configured" in content


def test_notice_when_no_cluster_picked_up_work(db):
    from datetime import timedelta

    from django.utils import timezone

    job = pending_job()
    assert not [n for n in get_notices() if "cluster" in str(n.message)]
    # Due (and created) nine minutes ago: the one stalled threshold counts from when a job
    # became due, so a job waiting for its retry is not "stalled".
    EnterspeedJob.objects.filter(pk=job.pk).update(
        created_at=timezone.now() - timedelta(minutes=9),
        next_attempt_at=timezone.now() + timedelta(minutes=1),
    )
    assert not [n for n in get_notices() if "cluster" in str(n.message)]
    EnterspeedJob.objects.filter(pk=job.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=9)
    )
    assert [n for n in get_notices() if "cluster" in str(n.message)]


def test_test_connection_reports_success(admin_client, standin):
    response = admin_client.post(reverse("enterspeed_sync:test_connection"), follow=True)
    assert "Connected" in response.content.decode()


@override_settings(ENTERSPEED_SYNC={"API_KEY": "source-wrong", "BASE_URL": "http://127.0.0.1:9"})
def test_test_connection_reports_failure(admin_client):
    response = admin_client.post(reverse("enterspeed_sync:test_connection"), follow=True)
    assert "Connection test failed" in response.content.decode()


def test_status_fragment(admin_client):
    pending_job()
    response = admin_client.get(reverse("enterspeed_sync:status"))
    assert response.status_code == 200
    assert 'id="enterspeed-status"' in response.content.decode()
    assert 'data-refreshing="true"' in response.content.decode()


# Seed -----------------------------------------------------------------------------------


def test_seed_everything_runs_in_the_background_and_reports_counts(
    admin_client, site_tree, standin, on_commit
):
    with on_commit():
        response = admin_client.post(
            reverse("enterspeed_sync:seed"), {"kinds": ["pages", "images", "documents", "snippets"]}
        )
    assert response.status_code == 302
    # Q_CLUSTER sync mode runs the seed task, and the processing task, on commit.
    assert {
        f"page-{p.pk}" for p in [site_tree["home"], site_tree["blog"], *site_tree["posts"]]
    } <= set(standin.entities)
    response = admin_client.get(DASHBOARD)
    seed = response.context["seeds"][0]
    assert seed["finished"] and seed["success"]
    from wagtail.models import Page

    assert dict(seed["counts"])["Pages"] == Page.objects.live().filter(depth__gt=1).count()
    assert ModelLogEntry.objects.filter(action="enterspeed_sync.seed").exists()


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_seed_a_subtree_without_descendants_in_one_locale(admin_client, site_tree, on_commit):
    blog = site_tree["blog"]
    seed = reverse("enterspeed_sync:seed")
    with on_commit():
        admin_client.post(seed, {"kinds": ["pages"], "root_page": blog.pk, "locales": ["en"]})
    assert set(EnterspeedJob.objects.values_list("origin_id", flat=True)) == {f"page-{blog.pk}"}
    EnterspeedJob.objects.all().delete()
    with on_commit():
        admin_client.post(seed, {"kinds": ["pages"], "root_page": blog.pk, "descendants": "on"})
    assert EnterspeedJob.objects.count() == 4
    EnterspeedJob.objects.all().delete()
    with on_commit():
        admin_client.post(seed, {"kinds": ["pages"], "locales": ["da"]})
    assert EnterspeedJob.objects.count() == 0


def test_seed_rejects_an_invalid_form(admin_client):
    response = admin_client.post(reverse("enterspeed_sync:seed"), {"kinds": ["nonsense"]})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert response.context["seed_form"].errors
    assert not EnterspeedJob.objects.exists()


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_clear_pending_asks_then_deletes_only_pending_jobs(admin_client):
    pending_job(1)
    failed_job(2)
    url = reverse("enterspeed_sync:clear_pending")
    assert "Delete all 1 pending jobs" in admin_client.get(url).content.decode()
    admin_client.post(url)
    assert list(EnterspeedJob.objects.values_list("state", flat=True)) == [JobState.FAILED]
    assert ModelLogEntry.objects.filter(action="enterspeed_sync.clear_pending").exists()


# Jobs list ------------------------------------------------------------------------------


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_jobs_list_shows_failed_jobs_by_default_and_filters(admin_client):
    failed_job(1)
    pending_job(2)
    response = admin_client.get(JOBS)
    assert [job.origin_id for job in response.context["object_list"]] == ["page-1"]
    response = admin_client.get(JOBS, {"state": "pending"})
    assert [job.origin_id for job in response.context["object_list"]] == ["page-2"]
    response = admin_client.get(JOBS, {"state": "all"})
    assert len(response.context["object_list"]) == 2
    response = admin_client.get(JOBS, {"entity_type": "image"})
    assert len(response.context["object_list"]) == 0
    response = admin_client.get(JOBS, {"destination": "publish", "locale": ""})
    assert len(response.context["object_list"]) == 1
    response = admin_client.get(
        JOBS, {"updated_at_from": "2000-01-01", "updated_at_to": "2000-01-02"}
    )
    assert len(response.context["object_list"]) == 0


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_jobs_list_searches_entity_id_and_error_text(admin_client):
    failed_job(1, error="Enterspeed had a server error (HTTP 500): boom")
    failed_job(2, error="Something else")
    response = admin_client.get(JOBS, {"q": "boom"})
    assert [job.origin_id for job in response.context["object_list"]] == ["page-1"]
    response = admin_client.get(JOBS, {"q": "page-2"})
    assert [job.origin_id for job in response.context["object_list"]] == ["page-2"]
    assert (
        admin_client.get(reverse("enterspeed_sync:jobs_results"), {"q": "boom"}).status_code == 200
    )


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_jobs_list_paginates_on_the_server(admin_client):
    failed_jobs(120)
    response = admin_client.get(JOBS)
    assert len(response.context["object_list"]) == 50
    assert response.context["paginator"].num_pages == 3
    assert len(admin_client.get(JOBS, {"p": 3}).context["object_list"]) == 20


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_rows_link_to_the_wagtail_editor_when_the_object_exists(admin_client, site_tree):
    post = site_tree["posts"][0]
    failed_job(post.pk)
    failed_job(999999)
    content = admin_client.get(JOBS).content.decode()
    assert reverse("wagtailadmin_pages:edit", args=[post.pk]) in content
    assert "Gone" in content


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_inspect_shows_error_status_code_and_entity(admin_client, site_tree):
    post = site_tree["posts"][0]
    job = failed_job(post.pk)
    response = admin_client.get(reverse("enterspeed_sync:job", args=[job.pk]))
    content = response.content.decode()
    assert response.status_code == 200
    assert "HTTP 422, ValidationError" in content  # the full error text
    assert response.context["error"].status == 422
    assert "<code>ValidationError</code>" in content
    assert (
        '"type": "blogPage"' in response.context["entity_json"] or response.context["entity_json"]
    )
    assert post.title in content


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_inspect_of_a_deleted_object(admin_client):
    job = failed_job(424242, error="RuntimeError: boom")
    response = admin_client.get(reverse("enterspeed_sync:job", args=[job.pk]))
    assert response.status_code == 200
    assert response.context["error"].status is None


def test_parse_error():
    details = parse_error("The API key has no ingest access (HTTP 403): nope")
    assert (details.status, details.error_code) == (403, "")
    details = parse_error("Enterspeed rejected the request (HTTP 422, InvalidEntity): bad. x: y")
    assert (details.status, details.error_code) == (422, "InvalidEntity")


def test_retry_one_job(admin_client, site_tree, standin, on_commit):
    post = site_tree["posts"][0]
    job = failed_job(post.pk)
    with on_commit():
        response = admin_client.post(reverse("enterspeed_sync:job_action", args=[job.pk, "retry"]))
    assert response.status_code == 302
    # Queued again and, with the inline cluster, sent at once.
    assert not EnterspeedJob.objects.exists()
    assert f"page-{post.pk}" in standin.entities
    assert ModelLogEntry.objects.filter(action="enterspeed_sync.retry").exists()


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_retry_and_delete_selected(admin_client):
    jobs = [failed_job(i) for i in range(1, 5)]
    bulk = reverse("enterspeed_sync:jobs_bulk")
    admin_client.post(bulk, {"id": [jobs[0].pk, jobs[1].pk], "action": "retry"})
    assert EnterspeedJob.objects.pending().count() == 2
    admin_client.post(bulk, {"id": [jobs[2].pk], "action": "delete", "confirmed": "1"})
    assert set(EnterspeedJob.objects.failed().values_list("pk", flat=True)) == {jobs[3].pk}
    assert ModelLogEntry.objects.filter(action="wagtail.delete").count() == 1


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_retry_and_delete_all_failed_on_thousands_of_rows(admin_client, on_commit):
    failed_jobs(3000)
    url = reverse("enterspeed_sync:jobs_all", args=["retry"])
    assert "3000" in admin_client.get(url).content.decode()
    with on_commit():
        admin_client.post(url)  # a background task (inline in tests)
    assert EnterspeedJob.objects.pending().count() == 3000
    EnterspeedJob.objects.all().delete()
    failed_jobs(3000)
    admin_client.post(reverse("enterspeed_sync:jobs_all", args=["delete"]))
    assert not EnterspeedJob.objects.exists()
    assert ModelLogEntry.objects.filter(action="enterspeed_sync.delete_failed").exists()


# Homepage and page editor ---------------------------------------------------------------


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_homepage_summary_shows_the_failed_count(admin_client, editor_client):
    failed_job(1)
    failed_job(2)
    content = admin_client.get(reverse("wagtailadmin_home")).content.decode()
    assert re.search(r"2\s+failed Enterspeed jobs", content)


def test_homepage_summary_hidden_without_permission(editor_client):
    content = editor_client.get(reverse("wagtailadmin_home")).content.decode()
    assert "failed Enterspeed job" not in content


def test_page_editor_offers_sync_now_and_shows_the_state(
    admin_client, site_tree, standin, on_commit
):
    post = site_tree["posts"][0]
    edit = reverse("wagtailadmin_pages:edit", args=[post.pk])
    content = admin_client.get(edit).content.decode()
    sync_url = reverse("enterspeed_sync:sync_page", args=[post.pk])
    assert sync_url in content
    assert "Sync to Enterspeed now" in content
    assert "Enterspeed: synced" in content
    with on_commit():
        response = admin_client.post(sync_url, {"next": edit})
    assert response.status_code == 302 and response["Location"] == edit
    assert f"page-{post.pk}" in standin.entities
    assert PageLogEntry.objects.filter(page=post, action="enterspeed_sync.sync_page").exists()


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_page_sync_state_queued_and_failed(site_tree):
    post = site_tree["posts"][0]
    assert get_page_sync_state(post).state == "synced"
    failed_job(post.pk)
    state = get_page_sync_state(post)
    assert state.state == "failed" and "HTTP 422" in state.label
    pending_job(post.pk)
    assert get_page_sync_state(post).state == "queued"


def test_sync_now_needs_publish_permission(editor_client, site_tree):
    post = site_tree["posts"][0]
    assert_denied(editor_client, "post", reverse("enterspeed_sync:sync_page", args=[post.pk]))
    assert not EnterspeedJob.objects.exists()


def test_sync_now_allowed_for_a_page_publisher(client, django_user_model, site_tree):
    user = make_user(django_user_model, "publisher")
    group = Group.objects.create(name="Publishers")
    user.groups.add(group)
    for codename in ("add_page", "change_page", "publish_page"):
        GroupPagePermission.objects.create(
            group=group,
            page=site_tree["home"],
            permission=Permission.objects.get(codename=codename),
        )
    client.force_login(user)
    with override_settings(ENTERSPEED_SYNC=NO_KICK):
        response = client.post(
            reverse("enterspeed_sync:sync_page", args=[site_tree["posts"][0].pk])
        )
    assert response.status_code == 302
    assert EnterspeedJob.objects.pending().count() == 1


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_actions_show_in_wagtails_audit_log_report(admin_client, on_commit):
    failed_job(1)
    job = failed_job(2)
    admin_client.post(reverse("enterspeed_sync:jobs_bulk"), {"id": [job.pk], "action": "delete"})
    admin_client.post(reverse("enterspeed_sync:jobs_all", args=["delete"]))
    response = admin_client.get(reverse("wagtailadmin_reports:site_history"))
    content = response.content.decode()
    assert response.status_code == 200
    assert (
        "Enterspeed: delete all failed" in content
        or "Deleted all failed Enterspeed jobs" in content
    )


def test_check_w020_negative_save_limit():
    from enterspeed_sync.checks import check_task_results_saved

    with override_settings(Q_CLUSTER={"save_limit": -1}):
        assert [e.id for e in check_task_results_saved()] == ["enterspeed_sync.W020"]
    with override_settings(Q_CLUSTER={"save_limit": 0}):
        assert check_task_results_saved() == []


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_a_seed_without_result_stops_counting_as_running(admin_client):
    from datetime import timedelta

    from django.utils import timezone

    session = admin_client.session
    queued = timezone.now() - timedelta(minutes=30)
    session["enterspeed_sync_seeds"] = [
        {"task": "enterspeed_sync.seed.gone", "scope": "Pages", "queued_at": queued.isoformat()}
    ]
    session.save()
    response = admin_client.get(DASHBOARD)
    assert response.context["seeds"][0]["lost"] is True
    assert response.context["refreshing"] is False
    assert "is the cluster running" in response.content.decode()


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_the_seed_request_only_queues_a_task(
    admin_client, site_tree, django_capture_on_commit_callbacks
):
    """No job is written inside the request: one task is queued after commit."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(reverse("enterspeed_sync:seed"), {"kinds": ["pages"]})
    assert response.status_code == 302
    assert not EnterspeedJob.objects.exists()
    assert len(callbacks) == 1


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_jobs_list_looks_objects_up_per_model_not_per_row(
    admin_client, site_tree, django_assert_max_num_queries
):
    for post in site_tree["posts"]:
        failed_job(post.pk)
    admin_client.get(JOBS)  # warm caches (content types, site root paths)
    with django_assert_max_num_queries(40) as captured:
        admin_client.get(JOBS)
    few = len(captured)
    # Ids far above any page's: on PostgreSQL the page sequence is not reset between tests,
    # so a small id could be one of the posts above (one failed job per entity).
    for i in range(1_000_100, 1_000_140):
        failed_job(i)
    with django_assert_max_num_queries(few + 5):
        admin_client.get(JOBS)


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_retry_all_failed_retries_the_jobs_confirmed_in_chunks(
    admin_client, django_capture_on_commit_callbacks
):
    failed_jobs(1500)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        admin_client.post(reverse("enterspeed_sync:jobs_all", args=["retry"]))
    # One background task per 1000 ids, as the API does: no task outgrows a worker's timeout.
    assert len(callbacks) == 2
    late = failed_job(99999)
    for callback in callbacks:
        callback()
    # The jobs failed when the user confirmed are retried; one that failed later is not.
    assert EnterspeedJob.objects.pending().count() == 1500
    assert list(EnterspeedJob.objects.failed().values_list("pk", flat=True)) == [late.pk]


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_actions_never_redirect_off_the_site(admin_client, site_tree):
    post = site_tree["posts"][0]
    edit = reverse("wagtailadmin_pages:edit", args=[post.pk])
    sync_url = reverse("enterspeed_sync:sync_page", args=[post.pk])
    job_url = reverse("enterspeed_sync:job_action", args=[failed_job(7).pk, "retry"])
    for hostile in ("//evil.example/", "https://evil.example/", "/\\evil.example/"):
        assert admin_client.post(sync_url, {"next": hostile})["Location"] == edit
        assert admin_client.post(job_url, {"next": hostile})["Location"] == JOBS
