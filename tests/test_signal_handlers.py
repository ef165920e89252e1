import datetime

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from enterspeed_sync.capture import fanout
from enterspeed_sync.capture.outbox import pause_sync
from enterspeed_sync.models import EnterspeedJob, JobState, JobType
from tests.testapp.models import BlogPage

pytestmark = pytest.mark.django_db

NO_KICK = {"API_KEY": "source-tests", "PROCESS_ON_COMMIT": False}


def job_summary():
    return sorted(
        (job.origin_id, job.job_type, job.state, job.locale) for job in EnterspeedJob.objects.all()
    )


def test_publish_queues_a_publish_job(site_tree):
    post = site_tree["posts"][0]
    post.title = "Edited"
    post.save_revision().publish()
    assert job_summary() == [(f"page-{post.pk}", "publish", "pending", "en")]
    job = EnterspeedJob.objects.get()
    assert job.entity_type == "page"
    assert job.entity_id == str(post.pk)
    assert job.destination == "publish"
    assert job.content_type_id == post.content_type_id


def test_scheduled_publish_of_a_page_not_yet_live_queues_nothing(site_tree):
    with pause_sync():
        draft = site_tree["blog"].add_child(
            instance=BlogPage(title="Later", slug="later", live=False)
        )
    revision = draft.save_revision()
    revision.publish()  # no schedule: goes live and is queued
    EnterspeedJob.objects.all().delete()
    with pause_sync():
        future = site_tree["blog"].add_child(
            instance=BlogPage(title="Future", slug="future", live=False)
        )
    future.go_live_at = timezone.now() + datetime.timedelta(days=1)
    future.save_revision().publish()
    future.refresh_from_db()
    assert not future.live
    assert job_summary() == []


def test_unpublish_queues_a_delete_job(site_tree):
    post = site_tree["posts"][1]
    post.unpublish()
    assert job_summary() == [(f"page-{post.pk}", "delete", "pending", "en")]


def test_unpublish_with_descendants_queues_a_delete_per_page(site_tree, admin_user):
    blog = site_tree["blog"]
    from wagtail.actions.unpublish_page import UnpublishPageAction

    UnpublishPageAction(blog, include_descendants=True, user=admin_user).execute()
    expected = {f"page-{p.pk}" for p in [blog, *site_tree["posts"]]}
    assert {j.origin_id for j in EnterspeedJob.objects.filter(job_type=JobType.DELETE)} == expected


def test_deleting_a_tree_queues_one_delete_per_page_including_descendants(site_tree):
    blog = site_tree["blog"]
    ids = [blog.pk, *(p.pk for p in site_tree["posts"])]
    blog.delete()
    assert job_summary() == sorted((f"page-{pk}", "delete", "pending", "en") for pk in ids)


def test_deleting_a_draft_page_still_queues_a_delete(site_tree):
    with pause_sync():
        draft = site_tree["blog"].add_child(
            instance=BlogPage(title="Draft", slug="draft", live=False)
        )
    draft.delete()
    assert job_summary() == [(f"page-{draft.pk}", "delete", "pending", "en")]


def test_move_queues_the_page_and_every_live_descendant(site_tree):
    blog, home = site_tree["blog"], site_tree["home"]
    with pause_sync():
        other = home.add_child(instance=BlogPage(title="Other", slug="other"))
        hidden = blog.add_child(instance=BlogPage(title="Hidden", slug="hidden", live=False))
    blog.move(other, pos="last-child")
    queued = {j.origin_id for j in EnterspeedJob.objects.all()}
    assert queued == {f"page-{p.pk}" for p in [blog, *site_tree["posts"]]}
    assert f"page-{hidden.pk}" not in queued
    assert set(EnterspeedJob.objects.values_list("job_type", flat=True)) == {"publish"}


def test_reordering_siblings_queues_nothing(site_tree):
    first, second = site_tree["posts"][:2]
    second.move(first, pos="left")
    assert job_summary() == []


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_slug_change_queues_the_page_and_live_descendants(
    site_tree, django_capture_on_commit_callbacks
):
    blog = site_tree["blog"]
    with django_capture_on_commit_callbacks(execute=True):
        blog.slug = "news"
        blog.save_revision().publish()
    queued = {j.origin_id for j in EnterspeedJob.objects.all()}
    assert queued == {f"page-{p.pk}" for p in [blog, *site_tree["posts"]]}


def test_jobs_roll_back_with_the_change(site_tree):
    post = site_tree["posts"][0]
    with pytest.raises(RuntimeError), transaction.atomic():
        post.save_revision().publish()
        raise RuntimeError("editor's transaction fails")
    assert job_summary() == []


def test_pause_sync_creates_no_jobs(site_tree):
    with pause_sync():
        site_tree["posts"][0].save_revision().publish()
    assert job_summary() == []


@override_settings(ENTERSPEED_SYNC={"API_KEY": "source-tests", "ENABLED": False})
def test_disabled_creates_no_jobs(site_tree):
    site_tree["posts"][0].save_revision().publish()
    assert job_summary() == []


def test_fixture_loading_queues_nothing(site_tree, tmp_path):
    post = site_tree["posts"][0]
    fixture = tmp_path / "pages.json"
    with fixture.open("w") as f:
        call_command("dumpdata", "testapp.blogpage", "wagtailcore.page", stdout=f)
    EnterspeedJob.objects.all().delete()
    call_command("loaddata", str(fixture), verbosity=0)
    assert job_summary() == []
    assert BlogPage.objects.filter(pk=post.pk).exists()


def test_a_failing_receiver_never_breaks_the_editors_publish(site_tree, monkeypatch, caplog):
    def explode(*args, **kwargs):
        raise RuntimeError("job table unavailable")

    monkeypatch.setattr(fanout, "queue_page_change", explode)
    post = site_tree["posts"][0]
    post.title = "Still published"
    with transaction.atomic():
        post.save_revision().publish()
        post.refresh_from_db()
    assert post.live and post.title == "Still published"
    assert "Could not queue an Enterspeed job" in caplog.text
    assert job_summary() == []


def test_newest_instruction_wins_for_a_pending_job(site_tree):
    post = site_tree["posts"][0]
    post.save_revision().publish()
    post.unpublish()
    assert job_summary() == [(f"page-{post.pk}", "delete", "pending", "en")]
    post.save_revision().publish()
    assert job_summary() == [(f"page-{post.pk}", "publish", "pending", "en")]
    assert EnterspeedJob.objects.filter(state=JobState.PENDING).count() == 1


def test_translated_page_jobs_carry_their_locale(site_tree, danish):
    post = site_tree["posts"][0]
    with pause_sync():
        home_da = site_tree["home"].copy_for_translation(danish)
        home_da.save_revision().publish()
        blog_da = site_tree["blog"].copy_for_translation(danish)
        blog_da.save_revision().publish()
        post_da = post.copy_for_translation(danish)
    post_da.save_revision().publish()
    # The English post is sent again: its list of live translations now has the Danish one.
    assert job_summary() == sorted(
        [
            (f"page-{post_da.pk}", "publish", "pending", "da"),
            (f"page-{post.pk}", "publish", "pending", "en"),
        ]
    )


def test_a_publish_queues_its_page_and_translations_in_one_read_and_one_write(
    site_tree, danish, django_assert_num_queries
):
    # The receiver runs in the editor's request: its cost is part of every publish.
    from enterspeed_sync.capture.receivers import (
        queue_publish_on_page_published,
        remember_how_page_was_shown,
    )

    post = site_tree["posts"][0]
    with pause_sync():
        for page in (site_tree["home"], site_tree["blog"], post):
            page.copy_for_translation(danish).save_revision().publish()
    post.refresh_from_db()
    # A publish that keeps the title of a live page: what links to it shows it as before.
    # Noting that before the save costs one read (in a savepoint of its own).
    with django_assert_num_queries(3):
        remember_how_page_was_shown(type(post), instance=post)
    # Savepoint (the editor's transaction), the page and its translations with their
    # locales, then the upsert in its own savepoint: pending jobs read, new ones inserted.
    with django_assert_num_queries(7):
        queue_publish_on_page_published(type(post), instance=post)
    post_da = post.get_translation(danish)
    assert job_summary() == sorted(
        [
            (f"page-{post.pk}", "publish", "pending", "en"),
            (f"page-{post_da.pk}", "publish", "pending", "da"),
        ]
    )
