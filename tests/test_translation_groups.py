"""
Translation groups (TRANSLATION_GROUPS): one locale-independent entity per set of
translated pages, over real HTTP to the stand-in.
"""

import pytest
from django.test import override_settings
from wagtail.models import Page

from enterspeed_sync.capture.outbox import pause_sync
from enterspeed_sync.capture.seeding import seed
from enterspeed_sync.models import EnterspeedJob
from enterspeed_sync.processing.runner import process_pending_jobs


@pytest.fixture
def groups(standin):
    with override_settings(
        ENTERSPEED_SYNC={
            "API_KEY": "source-tests",
            "BASE_URL": standin.url,
            "TIMEOUT": 5,
            "TRANSLATION_GROUPS": True,
        }
    ):
        yield standin


@pytest.fixture
def translated(site_tree, danish, groups):
    """The first post in English and Danish, both live and synced; no requests since."""
    post = site_tree["posts"][0]
    with pause_sync():
        home_da = site_tree["home"].copy_for_translation(danish)
        home_da.save_revision().publish()
        blog_da = site_tree["blog"].copy_for_translation(danish)
        blog_da.save_revision().publish()
        post_da = post.copy_for_translation(danish)
        post_da.save_revision().publish()
    seed()
    sync()
    groups.clear_requests()
    return {"en": post.specific, "da": post_da.specific}


def sync():
    process_pending_jobs(wait_seconds=0)
    assert list(EnterspeedJob.objects.failed().values_list("origin_id", "error")) == []


def group_id(page):
    return f"translation-group-{page.translation_key}"


def test_seed_sends_one_group_per_translated_page_set(translated, groups):
    post, post_da = translated["en"], translated["da"]
    entity = groups.entities[group_id(post)]
    assert entity == {
        "type": "translationGroup",
        "properties": {
            "translationKey": str(post.translation_key),
            "variants": [
                {"originId": f"page-{post_da.pk}", "locale": "da"},
                {"originId": f"page-{post.pk}", "locale": "en"},
            ],
        },
    }
    # Untranslated pages have a group of one.
    other = Page.objects.get(slug="post-2")
    assert groups.entities[group_id(other)]["properties"]["variants"] == [
        {"originId": f"page-{other.pk}", "locale": "en"}
    ]
    counts = seed().counts
    assert (
        counts["translation_groups"]
        == Page.objects.live().filter(depth__gt=1).values("translation_key").distinct().count()
    )


def test_a_new_variant_is_added_to_the_group(site_tree, danish, groups):
    post = site_tree["posts"][1]
    post.specific.save_revision().publish()
    sync()
    assert len(groups.entities[group_id(post)]["properties"]["variants"]) == 1
    with pause_sync():
        home_da = site_tree["home"].copy_for_translation(danish)
        home_da.save_revision().publish()
        blog_da = site_tree["blog"].copy_for_translation(danish)
        blog_da.save_revision().publish()
        post_da = post.copy_for_translation(danish)
    post_da.save_revision().publish()
    sync()
    variants = groups.entities[group_id(post)]["properties"]["variants"]
    assert {"originId": f"page-{post_da.pk}", "locale": "da"} in variants


def test_editing_a_variant_resends_the_group_for_free(translated, groups):
    post = translated["en"]
    post.title = "Edited"
    post.save_revision().publish()
    assert (group_id(post), "publish") in set(
        EnterspeedJob.objects.values_list("origin_id", "job_type")
    )
    sync()
    # Nothing volatile in the group (nor in the Danish page, re-sent for its translations
    # list): their payloads are unchanged, so the ledger skips them. Only the edit is sent.
    assert {i for r in groups.requests for i in r.origin_ids} == {f"page-{post.pk}"}


def test_unpublishing_a_variant_removes_it_from_the_group(translated, groups):
    post, post_da = translated["en"], translated["da"]
    post_da.refresh_from_db()
    post_da.unpublish()
    sync()
    assert groups.entities[group_id(post)]["properties"]["variants"] == [
        {"originId": f"page-{post.pk}", "locale": "en"}
    ]


def test_the_group_is_deleted_with_its_last_variant(translated, groups):
    post, post_da = translated["en"], translated["da"]
    Page.objects.get(pk=post_da.pk).delete()
    sync()
    assert groups.entities[group_id(post)]["properties"]["variants"] == [
        {"originId": f"page-{post.pk}", "locale": "en"}
    ]
    Page.objects.get(pk=post.pk).delete()
    sync()
    assert group_id(post) not in groups.entities
    assert ("DELETE", group_id(post)) in {
        (r.method, i) for r in groups.requests for i in r.origin_ids
    }


def test_no_groups_without_the_setting(site_tree, standin):
    post = site_tree["posts"][0].specific
    post.save_revision().publish()
    assert list(EnterspeedJob.objects.values_list("entity_type", flat=True)) == ["page"]
    assert "translation_groups" not in seed().counts
