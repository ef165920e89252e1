"""
The preview destination: drafts reach a second Enterspeed source, with its own key, over
real HTTP to the stand-in; published content stays in the published source.
"""

import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from wagtail.models import Page

from enterspeed_sync.api.tokens import create_token
from enterspeed_sync.capture.outbox import pause_sync
from enterspeed_sync.capture.seeding import seed
from enterspeed_sync.delivery.gate import current_source
from enterspeed_sync.models import EnterspeedJob, LedgerEntry, SourceState
from enterspeed_sync.processing.runner import process_pending_jobs
from enterspeed_sync.testing import IngestStandIn
from tests.test_views import make_user
from tests.testapp.models import Author, BlogPage

PUBLISHED_KEY = "source-tests"
PREVIEW_KEY = "source-preview"
SETTLE = 2.0


def two_source_settings(url, **extra):
    return {
        "API_KEY": PUBLISHED_KEY,
        "PREVIEW_API_KEY": PREVIEW_KEY,
        "PREVIEW_SETTLE_SECONDS": SETTLE,
        "BASE_URL": url,
        "TIMEOUT": 5,
        **extra,
    }


@pytest.fixture
def sources():
    """The stand-in knowing both keys, with ENTERSPEED_SYNC pointed at it."""
    with IngestStandIn(api_keys=[PUBLISHED_KEY, PREVIEW_KEY]) as server:
        with override_settings(ENTERSPEED_SYNC=two_source_settings(server.url)):
            yield server


def published(server):
    return server.entities_for(PUBLISHED_KEY)


def previewed(server):
    return server.entities_for(PREVIEW_KEY)


def requests_to(server, key, origin_id=None):
    return [
        r
        for r in server.requests
        if r.api_key == key and (origin_id is None or origin_id in r.origin_ids)
    ]


def sync_all(wait=0.0):
    """Process every job (waiting ``wait`` seconds for settling previews); none may fail."""
    result = process_pending_jobs(wait_seconds=wait)
    assert list(EnterspeedJob.objects.failed().values_list("origin_id", "error")) == []
    return result


@pytest.fixture
def seeded(site_tree, sources):
    """The site tree in both sources; no jobs and no requests left."""
    seed()
    seed(destination="preview")
    sync_all()
    assert not EnterspeedJob.objects.exists()
    sources.clear_requests()
    return site_tree


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_typing_in_a_draft_sends_a_handful_of_previews_not_one_per_autosave(seeded, sources):
    post = BlogPage.objects.get(pk=seeded["posts"][0].pk)
    origin_id = f"page-{post.pk}"
    live_title = post.title
    # Ten seconds of typing: Wagtail's autosave saves a revision every half second, the
    # first a new one and every later one overwriting it. Each save really commits (a
    # transactional test), and after each commit the on-commit task processes whatever is
    # due, inline (django-q2's sync mode), as a cluster worker would right after it.
    revision = None
    started = time.monotonic()
    for keystroke in range(20):
        post.title = f"Draft title, take {keystroke + 1}"
        revision = post.save_revision(overwrite_revision=revision)
        time.sleep(max(0.0, started + 0.5 * (keystroke + 1) - time.monotonic()))
    assert post.revisions.count() == 1  # one revision, overwritten 19 times
    # The editor stops typing; the last preview job settles and is sent.
    sync_all(wait=SETTLE + 1)

    preview_requests = requests_to(sources, PREVIEW_KEY, origin_id)
    print(f"20 autosaves over 10 s -> {len(preview_requests)} preview requests")  # noqa: T201
    assert 2 <= len(preview_requests) <= 7, len(preview_requests)
    assert requests_to(sources, PUBLISHED_KEY) == []
    assert previewed(sources)[origin_id]["properties"]["title"] == "Draft title, take 20"
    assert published(sources)[origin_id]["properties"]["title"] == live_title
    assert not EnterspeedJob.objects.exists()


def test_a_draft_save_queues_one_settling_preview_job(seeded, sources):
    post = seeded["posts"][0].specific
    before = timezone.now()
    for n in range(5):
        post.title = f"Draft {n}"
        post.save_revision()
    job = EnterspeedJob.objects.get()
    assert (job.destination, job.job_type, job.origin_id) == (
        "preview",
        "publish",
        f"page-{post.pk}",
    )
    assert job.next_attempt_at >= before + timezone.timedelta(seconds=SETTLE)
    # Not due yet: a run right now sends nothing.
    sync_all()
    assert sources.requests == []


def test_publishing_updates_both_sources(seeded, sources):
    post = seeded["posts"][1].specific
    post.title = "Published title"
    post.save_revision().publish()
    assert set(EnterspeedJob.objects.values_list("destination", flat=True)) == {
        "publish",
        "preview",
    }
    sync_all(wait=SETTLE + 1)
    origin_id = f"page-{post.pk}"
    assert published(sources)[origin_id]["properties"]["title"] == "Published title"
    assert previewed(sources)[origin_id]["properties"]["title"] == "Published title"


def test_a_never_published_page_is_only_in_preview(seeded, sources):
    blog = seeded["blog"]
    draft = blog.add_child(instance=BlogPage(title="Work in progress", slug="wip", live=False))
    draft.save_revision()
    sync_all(wait=SETTLE + 1)
    origin_id = f"page-{draft.pk}"
    assert previewed(sources)[origin_id]["properties"]["title"] == "Work in progress"
    assert previewed(sources)[origin_id]["url"] == "https://www.example.com/blog/wip/"
    assert origin_id not in published(sources)


def test_unpublishing_removes_the_page_from_the_published_source_only(seeded, sources):
    post = seeded["posts"][0]
    origin_id = f"page-{post.pk}"
    post.refresh_from_db()
    post.unpublish()
    assert list(EnterspeedJob.objects.values_list("destination", "job_type")) == [
        ("publish", "delete")
    ]
    sync_all()
    assert origin_id not in published(sources)
    assert origin_id in previewed(sources)


def test_deleting_removes_the_page_from_both_sources(seeded, sources):
    post = seeded["posts"][2]
    origin_id = f"page-{post.pk}"
    Page.objects.get(pk=post.pk).delete()
    sync_all()
    assert origin_id not in published(sources)
    assert origin_id not in previewed(sources)


def test_a_draft_state_snippet_previews_its_draft(seeded, sources):
    with pause_sync():
        author = Author.objects.create(name="Ada")
        author.save_revision().publish()
    origin_id = f"testapp.author-{author.pk}"
    seed(kinds=["snippets"])
    seed(kinds=["snippets"], destination="preview")
    sync_all()
    author.name = "Ada (draft)"
    author.save_revision()
    sync_all(wait=SETTLE + 1)
    assert previewed(sources)[origin_id]["properties"]["name"] == "Ada (draft)"
    assert published(sources)[origin_id]["properties"]["name"] == "Ada"
    # Unpublishing keeps the draft in preview; deleting removes it everywhere.
    author.refresh_from_db()
    author.unpublish()
    sync_all()
    assert origin_id not in published(sources)
    assert origin_id in previewed(sources)
    author.delete()
    sync_all()
    assert origin_id not in previewed(sources)


def test_seed_targets_one_destination(site_tree, sources):
    blog = site_tree["blog"]
    with pause_sync():
        draft = blog.add_child(instance=BlogPage(title="Draft only", slug="draft", live=False))
    live_pages = {f"page-{p.pk}" for p in Page.objects.live().filter(depth__gt=1)}
    # Wagtail's own welcome page is live but outside the site, so the guard keeps it out.
    routable = {
        f"page-{p.pk}" for p in Page.objects.live().descendant_of(site_tree["home"], inclusive=True)
    }

    result = seed(kinds=["pages"])
    assert result.counts == {"pages": len(live_pages)}
    assert set(EnterspeedJob.objects.values_list("destination", flat=True)) == {"publish"}
    sync_all()
    assert set(published(sources)) == routable
    assert previewed(sources) == {}

    out = StringIO()
    call_command("enterspeed_seed", "--destination", "preview", "--kind", "pages", stdout=out)
    assert "for the preview source" in out.getvalue()
    assert set(EnterspeedJob.objects.values_list("destination", flat=True)) == {"preview"}
    sync_all()
    assert set(previewed(sources)) == routable | {f"page-{draft.pk}"}


def test_seed_of_preview_needs_a_preview_key(site_tree, standin):
    with pytest.raises(CommandError, match="PREVIEW_API_KEY"):
        call_command("enterspeed_seed", "--destination", "preview", stdout=StringIO())
    with pytest.raises(ValueError, match="PREVIEW_API_KEY"):
        seed(destination="preview")
    assert not EnterspeedJob.objects.exists()


def test_admin_seed_form_seeds_the_preview_source(
    admin_client, site_tree, sources, django_capture_on_commit_callbacks
):
    dashboard = admin_client.get(reverse("enterspeed_sync:dashboard")).content.decode()
    assert "Preview source" in dashboard and "source-…" in dashboard
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("enterspeed_sync:seed"),
            {"destination": "preview", "kinds": ["pages"], "descendants": "on"},
        )
    assert response.status_code == 302
    # The seed task and the processing it asks for ran inline (django-q2's sync mode).
    home = f"page-{site_tree['home'].pk}"
    assert home in previewed(sources)
    assert published(sources) == {}


def test_the_api_seeds_the_preview_source(
    site_tree, sources, django_user_model, django_capture_on_commit_callbacks
):
    raw = create_token(make_user(django_user_model, "operator", superuser=True))[1]
    with pause_sync():
        draft = site_tree["blog"].add_child(
            instance=BlogPage(title="Draft only", slug="draft", live=False)
        )
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(
            reverse("enterspeed_sync_api:seeds"),
            '{"kinds": ["pages"], "destination": "preview"}',
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {raw}",
        )
    assert response.status_code == 202, response.content
    assert response.json()["scope"]["destination"] == "preview"
    # The seed task and the processing it asks for ran inline (django-q2's sync mode).
    assert f"page-{draft.pk}" in previewed(sources)
    assert published(sources) == {}
    seed_state = Client().get(response.json()["url"], HTTP_AUTHORIZATION=f"Bearer {raw}").json()
    assert seed_state["state"] == "succeeded"
    assert seed_state["scope"]["destination"] == "preview"


def test_each_destination_is_its_own_source(site_tree):
    # The stand-in does not know the preview key: Enterspeed refuses it (401).
    with IngestStandIn(api_keys=[PUBLISHED_KEY]) as server:
        with override_settings(ENTERSPEED_SYNC=two_source_settings(server.url)):
            post = site_tree["posts"][0].specific
            post.title = "Both"
            post.save_revision().publish()
            process_pending_jobs(wait_seconds=SETTLE + 1)
            # Published content went through; the preview source stopped on its own.
            assert published(server)[f"page-{post.pk}"]["properties"]["title"] == "Both"
            preview_state = SourceState.objects.get(key_hash=current_source("preview").key_hash)
            publish_state = SourceState.objects.get(key_hash=current_source("publish").key_hash)
            assert "401" in preview_state.auth_error
            assert publish_state.auth_error == ""
            job = EnterspeedJob.objects.get()
            assert job.destination == "preview" and job.state == "pending"
            assert "401" in job.error
            ledger = set(LedgerEntry.objects.values_list("destination", "origin_id"))
            assert ("publish", f"page-{post.pk}") in ledger
            assert ("preview", f"page-{post.pk}") not in ledger


def test_preview_jobs_fail_with_a_reason_when_the_preview_key_is_gone(seeded, sources):
    post = seeded["posts"][0].specific
    post.save_revision()
    EnterspeedJob.objects.update(next_attempt_at=timezone.now())
    with override_settings(ENTERSPEED_SYNC={"API_KEY": PUBLISHED_KEY, "BASE_URL": sources.url}):
        process_pending_jobs(wait_seconds=0)
    job = EnterspeedJob.objects.get()
    assert job.state == "failed"
    assert "preview source is not configured" in job.error
    assert sources.requests == []


def test_without_a_preview_key_drafts_create_no_jobs(site_tree, standin):
    post = site_tree["posts"][0].specific
    post.title = "Draft"
    post.save_revision()
    assert not EnterspeedJob.objects.exists()
    post.save_revision().publish()
    assert list(EnterspeedJob.objects.values_list("destination", flat=True)) == ["publish"]
