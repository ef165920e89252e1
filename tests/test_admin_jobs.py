"""The jobs list, inspect page and bulk actions of the Enterspeed admin area (issue 15)."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.urls import reverse
from wagtail.images import get_image_model
from wagtail.images.tests.utils import get_test_image_file
from wagtail.models import ModelLogEntry, Page

from enterspeed_sync.admin_area.display import parse_error
from enterspeed_sync.models import EnterspeedJob, JobState
from enterspeed_sync.processing.runner import process_pending_jobs
from tests.testapp.models import Category

pytestmark = pytest.mark.django_db

JOBS = reverse("enterspeed_sync:jobs")
RESULTS = reverse("enterspeed_sync:jobs_results")
BULK = reverse("enterspeed_sync:jobs_bulk")
SEED = reverse("enterspeed_sync:seed")
NO_KICK = {"API_KEY": "source-0123456789abcdef", "PROCESS_ON_COMMIT": False}


@pytest.fixture
def admin_client():
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def job(origin_id, state=JobState.FAILED, error="Enterspeed rejected the request (HTTP 422): x"):
    kind, _sep, pk = origin_id.rpartition("-")
    return EnterspeedJob.objects.create(
        entity_type={"page": "page", "image": "image"}.get(kind, "snippet"),
        entity_id=pk,
        job_type="publish",
        origin_id=origin_id,
        state=state,
        error=error if state == JobState.FAILED else "",
    )


# What an entity is ----------------------------------------------------------------------


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_list_and_inspect_show_each_objects_title_and_edit_link(admin_client, site_tree):
    post = site_tree["posts"][0]
    image = get_image_model().objects.create(
        title="Harbour at dawn", file=get_test_image_file(filename="harbour.png")
    )
    category = Category.objects.create(name="Sailing", slug="sailing")
    jobs = [
        job(f"page-{post.pk}"),
        job(f"image-{image.pk}"),
        job(f"testapp.category-{category.pk}"),
    ]
    content = admin_client.get(JOBS).content.decode()
    for title, edit_url in [
        (post.title, reverse("wagtailadmin_pages:edit", args=[post.pk])),
        ("Harbour at dawn", reverse("wagtailimages:edit", args=[image.pk])),
        ("Sailing", reverse("wagtailsnippets_testapp_category:edit", args=[category.pk])),
    ]:
        assert f'<a href="{edit_url}" title="Edit in Wagtail">{title}</a>' in content
    # Origin ids do not wrap.
    assert 'class="enterspeed-origin-id' in content or "enterspeed-origin-id" in content
    assert ".enterspeed-origin-id { white-space: nowrap; }" in content

    response = admin_client.get(reverse("enterspeed_sync:job", args=[jobs[1].pk]))
    assert response.context["title"] == "Harbour at dawn"
    assert reverse("wagtailimages:edit", args=[image.pk]) in response.content.decode()


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_an_untitled_image_is_named_by_its_file(admin_client):
    image = get_image_model().objects.create(
        title="", file=get_test_image_file(filename="untitled.png")
    )
    failed = job(f"image-{image.pk}")
    response = admin_client.get(reverse("enterspeed_sync:job", args=[failed.pk]))
    assert response.context["title"].startswith("untitled")


# Bulk actions ---------------------------------------------------------------------------


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_bulk_retry_after_a_search_returns_to_the_full_list_with_a_message(admin_client):
    boom = job("page-1", error="Enterspeed had a server error (HTTP 500): boom")
    job("page-2", error="Something else")
    # A search fetches the results fragment; its bulk form must point back at the full page.
    fragment = admin_client.get(RESULTS, {"q": "boom", "_w_filter_fragment": "1"})
    assert fragment.context["next_url"] == f"{JOBS}?q=boom"
    response = admin_client.post(
        BULK,
        {"id": [boom.pk], "action": "retry", "next": fragment.context["next_url"]},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == f"{JOBS}?q=boom"
    content = response.content.decode()
    assert "1 jobs queued again." in content
    assert 'id="wagtail-sidebar"' in content  # the admin around it, not a bare fragment


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_delete_selected_asks_first_and_never_deletes_a_job_being_processed(admin_client):
    failed = job("page-1")
    busy = job("page-2", state=JobState.PROCESSING)
    response = admin_client.post(BULK, {"id": [failed.pk, busy.pk], "action": "delete"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "Delete 1 selected jobs?" in content
    assert "1 being processed will be kept" in content
    assert EnterspeedJob.objects.count() == 2  # nothing deleted before confirming

    response = admin_client.post(
        BULK, {"id": [failed.pk, busy.pk], "action": "delete", "confirmed": "1"}, follow=True
    )
    assert list(EnterspeedJob.objects.values_list("pk", flat=True)) == [busy.pk]
    assert "1 jobs deleted. 1 being processed were kept" in response.content.decode()
    assert ModelLogEntry.objects.filter(action="wagtail.delete").count() == 1


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_a_bulk_id_beyond_64_bits_is_a_form_error(admin_client):
    failed = job("page-1")
    for bad in [str(2**64), "abc", "0"]:
        response = admin_client.post(BULK, {"id": [failed.pk, bad], "action": "retry"})
        assert response.status_code == 400, bad
        assert "Nothing was changed" in response.content.decode()
    assert admin_client.post(BULK, {"action": "retry"}).status_code == 400
    assert EnterspeedJob.objects.get().state == JobState.FAILED


# Filters --------------------------------------------------------------------------------


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_the_default_failed_filter_shows_a_chip_that_lists_every_state(admin_client):
    job("page-1")
    response = admin_client.get(JOBS)
    (chip,) = [f for f in response.context["active_filters"] if f.field_label == "State"]
    assert chip.value == "Failed"
    assert "state=all" in chip.removed_filter_url
    everything = admin_client.get(JOBS, {"state": "all"}).context["active_filters"]
    assert [chip.value for chip in everything] == ["All states"]


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_a_bad_filter_value_says_so(admin_client):
    job("page-1")
    response = admin_client.get(JOBS, {"state": "zzz"})
    content = response.content.decode()
    assert "data-enterspeed-filter-errors" in content
    assert "State: Select a valid choice. zzz is not one of the available choices." in content
    assert "data-enterspeed-filter-errors" not in admin_client.get(JOBS).content.decode()


# Errors ---------------------------------------------------------------------------------


def test_parse_error_keeps_enterspeeds_code_not_our_bulk_note():
    old = parse_error("Enterspeed rejected the entity (HTTP 422, in a bulk request): bad")
    assert (old.status, old.error_code) == (422, "")
    new = parse_error("Enterspeed rejected the entity (HTTP 422, s-1001) in a bulk request: bad")
    assert (new.status, new.error_code) == (422, "s-1001")


# Seed form ------------------------------------------------------------------------------


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_a_crafted_seed_root_page_is_a_form_error(admin_client, site_tree):
    for bad in ["abc", str(2**64), "999999999"]:
        response = admin_client.post(SEED, {"kinds": ["pages"], "root_page": bad})
        assert response.status_code == 400, bad
        assert response.context["seed_form"].errors["root_page"]
    assert not EnterspeedJob.objects.exists()


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_with_one_destination_the_seed_form_has_no_source_field(admin_client):
    content = admin_client.get(reverse("enterspeed_sync:dashboard")).content.decode()
    assert 'name="destination"' not in content
    assert "The published source gets live content" not in content


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_clear_pending_is_not_offered_at_zero(admin_client):
    clear = reverse("enterspeed_sync:clear_pending")
    assert clear not in admin_client.get(reverse("enterspeed_sync:dashboard")).content.decode()
    content = admin_client.get(clear).content.decode()
    assert "There are no pending jobs" in content
    assert "Yes, clear the queue" not in content
    job("page-1", state=JobState.PENDING)
    assert clear in admin_client.get(reverse("enterspeed_sync:dashboard")).content.decode()


# What a seed did ------------------------------------------------------------------------


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (the queued django-q2 tasks, inline) as a commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def seed_result(admin_client):
    # The cluster (sync mode) ran the seed task and a processing task on commit; a second
    # processing request in quick succession is coalesced, so drain what is left here.
    process_pending_jobs(wait_seconds=0)
    response = admin_client.get(reverse("enterspeed_sync:dashboard"))
    seed = response.context["seeds"][0]
    assert seed["finished"] and seed["success"]
    return seed["report"], response.content.decode()


def test_a_seed_says_what_it_sent_and_what_was_unchanged(
    admin_client, site_tree, standin, on_commit
):
    # The site's pages (Wagtail's own welcome page outside the site would be a delete,
    # which is always sent).
    home = site_tree["home"]
    scope = {"kinds": ["pages"], "root_page": home.pk, "descendants": "on"}
    pages = Page.objects.descendant_of(home, inclusive=True).count()
    with on_commit():
        admin_client.post(SEED, scope)
    report, _content = seed_result(admin_client)
    (kind,) = report.kinds
    assert (kind.label, kind.queued, kind.sent, kind.unchanged, kind.failed) == (
        "Pages",
        pages,
        pages,
        0,
        0,
    )

    # Again, nothing changed: the ledger skips every page, and the dashboard says why.
    with on_commit():
        admin_client.post(SEED, scope)
    report, content = seed_result(admin_client)
    (kind,) = report.kinds
    assert (kind.queued, kind.sent, kind.unchanged) == (pages, 0, pages)
    assert report.all_unchanged
    assert "data-enterspeed-seed-hint" in content
    assert "Send unchanged entities too" in content

    # With "Send unchanged entities too", they are sent.
    with on_commit():
        admin_client.post(SEED, {**scope, "force": "on"})
    report, content = seed_result(admin_client)
    assert (report.total("sent"), report.total("unchanged")) == (pages, 0)
    assert not report.all_unchanged
    assert content.count("data-enterspeed-seed-hint") == 1  # the second seed's, still listed


def test_a_seed_counts_its_failed_jobs_and_inspect_names_no_false_code(
    admin_client, site_tree, standin, on_commit
):
    post = site_tree["posts"][0]
    standin.reject_entity(f"page-{post.pk}", {"properties.title": "Title is not allowed"})
    with on_commit():
        admin_client.post(SEED, {"kinds": ["pages"]})
    report, content = seed_result(admin_client)
    (kind,) = report.kinds
    assert (kind.sent, kind.failed, kind.waiting) == (kind.queued - 1, 1, 0)
    assert 'data-seed-count="failed"><a href=' in content

    # Refused inside a bulk request: the inspect page shows the status, and no error code
    # made of our own note ("in a bulk request"); the stand-in's bulk answer has none.
    failed = EnterspeedJob.objects.get(state=JobState.FAILED)
    assert "in a bulk request" in failed.error
    response = admin_client.get(reverse("enterspeed_sync:job", args=[failed.pk]))
    assert response.context["error"].status == 422
    assert response.context["error"].error_code == ""
    assert "Enterspeed error code" not in response.content.decode()
