"""
Pages in two locales, images, documents and snippets reach the stand-in as entities of their
own, and each edit re-sends exactly the entities that show it.
"""

import pytest
from django.core.management import call_command
from django.test import override_settings
from wagtail.documents import get_document_model
from wagtail.images import get_image_model
from wagtail.models import Locale

from enterspeed_sync.capture.outbox import pause_sync
from enterspeed_sync.capture.seeding import seed
from enterspeed_sync.models import EnterspeedJob
from enterspeed_sync.processing.runner import process_pending_jobs
from tests.content import build_content_site, key
from tests.testapp.models import Author, Category, FieldsPage, FooterText

PAGES = {"page-8001", "page-8002", "page-8003", "page-8004", "page-8005", "page-8006"}
DANISH_PAGES = {"page-8101", "page-8102"}
SNIPPETS = {
    "testapp.category-7201",
    "testapp.category-7202",
    "testapp.author-7301",
    "testapp.footertext-7401",
}
EVERYTHING = PAGES | DANISH_PAGES | SNIPPETS | {"image-7001", "document-7101"}


@pytest.fixture
def synced_site(db, tmp_path, settings, standin):
    """The content site, seeded and synced to the stand-in; then no jobs and no requests."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    objects = build_content_site()
    # The reference index is filled after commit, which these tests never reach.
    call_command("rebuild_references_index", verbosity=0)
    result = seed()
    assert result.counts == {"pages": 8, "images": 1, "documents": 1, "snippets": 4}
    sync()
    assert set(standin.entities) == EVERYTHING
    standin.clear_requests()
    return objects


def sync():
    result = process_pending_jobs()
    failed = list(EnterspeedJob.objects.failed().values_list("origin_id", "error"))
    assert failed == []
    assert not EnterspeedJob.objects.exists()
    return result


def queued():
    return set(EnterspeedJob.objects.values_list("origin_id", flat=True))


def sent(standin):
    return {(r.method, origin_id) for r in standin.requests for origin_id in r.origin_ids}


def test_seed_sends_each_kind_as_its_own_entity(synced_site, standin):
    entities = standin.entities
    assert entities["image-7001"]["type"] == "image"
    assert entities["document-7101"]["type"] == "document"
    assert entities["testapp.author-7301"]["type"] == "author"
    assert entities["page-8102"]["properties"]["meta"]["locale"] == "da"
    assert entities["page-8102"]["originParentId"] == "page-8101"


def test_seed_by_kind_and_locale(synced_site):
    assert seed(kinds=["images", "documents"]).counts == {"images": 1, "documents": 1}
    assert queued() == {"image-7001", "document-7101"}
    EnterspeedJob.objects.all().delete()
    assert seed(kinds=["pages", "snippets"], locales=["da"]).counts == {
        "pages": 2,
        "snippets": 2,  # categories are not translatable, so every locale has them
    }
    assert queued() == DANISH_PAGES | {"testapp.category-7201", "testapp.category-7202"}


def test_image_edit_resends_the_image_and_what_shows_it(synced_site, standin):
    image = synced_site["image"]
    image.title = "Harbour at night"
    image.save()
    # The fields page embeds it in rich text, the relations page as hero image, the stream
    # page in blocks, and the author snippet as portrait.
    assert queued() == {"image-7001", "page-8002", "page-8003", "page-8004", "testapp.author-7301"}
    sync()
    assert standin.entities["image-7001"]["properties"]["title"] == "Harbour at night"
    hero = standin.entities["page-8003"]["properties"]["hero_image"]
    assert hero["title"] == "Harbour at night"


def test_document_delete_removes_it_and_updates_referrers(synced_site, standin):
    get_document_model().objects.get(pk=7101).delete()
    assert queued() == {"document-7101", "page-8002", "page-8003", "page-8004"}
    sync()
    assert "document-7101" not in standin.entities
    assert standin.entities["page-8003"]["properties"]["brochure"] is None


def test_image_delete(synced_site, standin):
    get_image_model().objects.get(pk=7001).delete()
    sync()
    assert "image-7001" not in standin.entities
    assert standin.entities["page-8003"]["properties"]["hero_image"] is None
    assert standin.entities["testapp.author-7301"]["properties"]["portrait"] is None


def test_plain_snippet_syncs_on_save_and_delete(synced_site, standin):
    category = Category.objects.get(pk=7202)
    category.name = "Happenings"
    category.save()
    assert queued() == {"testapp.category-7202", "page-8003"}
    sync()
    names = [c["title"] for c in standin.entities["page-8003"]["properties"]["categories"]]
    assert names == ["News", "Happenings"]
    category.delete()
    sync()
    assert "testapp.category-7202" not in standin.entities


def test_draft_state_snippet_syncs_on_publish_not_on_draft(synced_site, standin):
    author = Author.objects.get(pk=7301)
    author.name = "Ada Lovelace"
    author.save_revision()
    assert queued() == set()
    author.get_latest_revision().publish()
    assert "testapp.author-7301" in queued()
    sync()
    assert standin.entities["testapp.author-7301"]["properties"]["name"] == "Ada Lovelace"
    author.refresh_from_db()
    author.unpublish()
    assert ("testapp.author-7301", "delete") in set(
        EnterspeedJob.objects.values_list("origin_id", "job_type")
    )
    sync()
    assert "testapp.author-7301" not in standin.entities


def test_translating_a_snippet_links_the_variants(synced_site, standin):
    danish = Locale.objects.get(language_code="da")
    footer = FooterText.objects.get(pk=7401)
    footer_da = FooterText.objects.create(
        body="<p>© Eksempel</p>", locale=danish, translation_key=footer.translation_key
    )
    origin_da = f"testapp.footertext-{footer_da.pk}"
    assert queued() == {origin_da, "testapp.footertext-7401"}
    sync()
    assert standin.entities[origin_da]["properties"]["meta"]["locale"] == "da"
    meta_en = standin.entities["testapp.footertext-7401"]["properties"]["meta"]
    assert meta_en["translations"] == [origin_da]


def test_translating_a_page_links_the_variants(synced_site, standin):
    danish = Locale.objects.get(language_code="da")
    page = synced_site["relations_page"]
    with pause_sync():
        page_da = page.copy_for_translation(danish)
    assert queued() == set()  # a draft translation is not content yet
    page_da.save_revision().publish()
    assert queued() == {f"page-{page_da.pk}", "page-8003"}
    sync()
    da = standin.entities[f"page-{page_da.pk}"]
    assert da["originParentId"] == "page-8101"
    assert da["url"] == "https://www.example.com/da/relations/"
    assert standin.entities["page-8003"]["properties"]["meta"]["translations"] == [
        f"page-{page_da.pk}"
    ]
    page_da.refresh_from_db()
    page_da.unpublish()
    sync()
    assert f"page-{page_da.pk}" not in standin.entities
    assert standin.entities["page-8003"]["properties"]["meta"]["translations"] == []


def test_editing_a_page_sends_only_that_page(synced_site, standin):
    page = FieldsPage.objects.get(pk=8002)
    page.text = "Edited"
    page.save_revision().publish()
    # Its Danish variant is queued too (it lists its live translations, and a publish may
    # change that list), but its payload did not change, so the ledger skips the request.
    assert queued() == {"page-8002", "page-8102"}
    sync()
    assert standin.entities["page-8002"]["properties"]["text"] == "Edited"
    assert sent(standin) == {("POST", "page-8002")}


def test_snippet_models_setting_limits_what_syncs(synced_site, standin):
    with override_settings(
        ENTERSPEED_SYNC={
            "API_KEY": "source-tests",
            "BASE_URL": standin.url,
            "SNIPPET_MODELS": ["testapp.Category"],
            "SYNC_IMAGES": False,
        }
    ):
        author = Author.objects.get(pk=7301)
        author.save_revision().publish()
        image = get_image_model().objects.get(pk=7001)
        image.save()
        assert queued() == set()
        assert seed(kinds=["snippets", "images"]).counts == {"snippets": 2, "images": 0}


def test_translation_keys_are_shared(synced_site, standin):
    meta = standin.entities["page-8102"]["properties"]["meta"]
    assert meta["translation_key"] == str(key(8002))
    assert meta["translations"] == ["page-8002"]


def test_verify_covers_every_kind_of_entity(synced_site, standin):
    from enterspeed_sync.diagnostics.verify import MISSING, STALE, verify
    from enterspeed_sync.models import LedgerEntry

    clean = verify()
    assert (clean.checked, clean.in_sync, clean.drift) == (len(EVERYTHING), len(EVERYTHING), [])
    LedgerEntry.objects.filter(origin_id="image-7001").delete()
    LedgerEntry.objects.filter(origin_id="testapp.author-7301").update(payload_hash="0" * 64)
    report = verify(repair=True)
    assert {(d.kind, d.origin_id) for d in report.drift} == {
        (MISSING, "image-7001"),
        (STALE, "testapp.author-7301"),
    }
    assert queued() == {"image-7001", "testapp.author-7301"}
    sync()
    assert verify().drift == []


def test_forced_seed_resends_only_its_scope(synced_site, standin):
    seed(kinds=["images", "documents"], force=True)
    seed(kinds=["snippets"])
    sync()
    # Unchanged snippets are skipped by the ledger; the forced kinds are sent again.
    assert sent(standin) == {("POST", "image-7001"), ("POST", "document-7101")}
