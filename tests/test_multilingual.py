"""
A multilingual site made the way real ones are, with parts we did not write: translations
by wagtail-localize and by Wagtail's simple_translation, a locale kept in sync as a tree of
alias pages (wagtail-localize's "Sync from"), locales with a region code and a right-to-left
language, ``i18n_patterns`` URLs (tests/urls.py) whose locale home pages are not Site roots.

Every way a live page comes to exist or changes (docs/jobs.md, "Which change creates which
job") is done with Wagtail's and wagtail-localize's own operations, then the stand-in must
hold every live page exactly once, with its URL, parent, locale and translations, nothing
failed or pending, and ``enterspeed_verify --fail-on-drift`` must pass.
"""

from __future__ import annotations

import datetime
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from wagtail import hooks
from wagtail.actions.copy_for_translation import CopyPageForTranslationAction
from wagtail.models import Locale, Page, Site, Workflow
from wagtail.test.utils.form_data import inline_formset, nested_form_data
from wagtail_localize.models import LocaleSynchronization, Translation, TranslationSource

from enterspeed_sync.capture.outbox import pause_sync
from enterspeed_sync.capture.receivers import queue_subtree_on_slug_changed
from enterspeed_sync.capture.seeding import seed
from enterspeed_sync.diagnostics.verify import verify
from enterspeed_sync.models import EnterspeedJob, JobPriority
from enterspeed_sync.processing.runner import process_pending_jobs
from tests.testapp.models import BlogIndexPage, BlogPage, HomePage

LANGUAGES = [
    ("en", "English"),
    ("da", "Danish"),
    ("pt-br", "Brazilian Portuguese"),
    ("ar", "Arabic"),  # right to left
]


@pytest.fixture
def languages(db, settings):
    settings.LANGUAGES = settings.WAGTAIL_CONTENT_LANGUAGES = LANGUAGES
    return {code: Locale.objects.get_or_create(language_code=code)[0] for code, _ in LANGUAGES}


@pytest.fixture
def editor(django_user_model):
    return django_user_model.objects.create_superuser("editor", "editor@example.com", "pw")


@pytest.fixture
def site(languages, standin, editor, django_capture_on_commit_callbacks):
    """
    English home (the Site root) → news index → two posts that link to the index and to
    each other; translated into Danish with wagtail-localize (the posts' rich text still
    links to the English ids, as wagtail-localize leaves them) and into Arabic with
    simple_translation. Seeded and synced; no requests since.
    """
    en, da, ar = languages["en"], languages["da"], languages["ar"]
    with pause_sync():
        root = Page.objects.get(depth=1)
        Page.objects.filter(depth=2, slug="home").delete()
        home = root.add_child(instance=HomePage(title="Home", slug="home", locale=en))
        Site.objects.update_or_create(
            is_default_site=True,
            defaults={"hostname": "www.example.com", "port": 443, "root_page": home},
        )
        news = home.add_child(instance=BlogIndexPage(title="News", slug="news", locale=en))
        first = news.add_child(instance=BlogPage(title="First", slug="first", locale=en))
        second = news.add_child(
            instance=BlogPage(title="Second", slug="second", locale=en, related_page=first)
        )
        first.body = (
            f'<p>See <a linktype="page" id="{news.pk}">all news</a> and '
            f'<a linktype="page" id="{second.pk}">the next one</a>.</p>'
        )
        home.intro = f'<p><a linktype="page" id="{news.pk}">News</a></p>'
        for page in (home, news, first, second):
            page.save_revision().publish()
        for page in (home, news, first, second):
            # One request each: wagtail-localize publishes the translation after commit.
            with django_capture_on_commit_callbacks(execute=True):
                translate(page, da, editor)
        CopyPageForTranslationAction(home, ar, include_subtree=True, user=editor).execute()
        for page in Page.objects.filter(locale=ar):
            page.specific.save_revision().publish()
        # The Danish home page links to the English news index by its id, as translated
        # rich text often does; it shows the Danish index's URL.
        home_da = home.get_translation(da).specific
        home_da.intro = f'<p><a linktype="page" id="{news.pk}">Nyheder</a></p>'
        home_da.save_revision().publish()
    seed()
    sync()
    standin.clear_requests()
    return {"home": home, "news": news, "first": first, "second": second}


def translate(page, locale, user) -> None:
    """wagtail-localize's "Translate this page", then publishing the translation."""
    source, _ = TranslationSource.get_or_create_from_instance(page)
    translation, _ = Translation.objects.get_or_create(source=source, target_locale=locale)
    translation.save_target(user=user, publish=True)


def sync():
    """Process every job now, as the cluster would; nothing may fail."""
    process_pending_jobs(wait_seconds=0)
    assert list(EnterspeedJob.objects.failed().values_list("origin_id", "error")) == []


def live_pages():
    return Page.objects.live().filter(depth__gt=1).specific()


def assert_enterspeed_holds_the_site(standin):
    """Every live page once, as the site shows it; nothing else; nothing waiting."""
    assert EnterspeedJob.objects.count() == 0
    held = dict(standin.entities)
    pages = {f"page-{page.pk}": page for page in live_pages()}
    assert sorted(origin_id for origin_id in held if origin_id.startswith("page-")) == sorted(pages)
    for origin_id, page in pages.items():
        entity = held[origin_id]
        meta = entity["properties"]["meta"]
        assert entity["url"] == page.get_full_url(), origin_id
        assert meta["locale"] == page.locale.language_code, origin_id
        parent = page.get_parent()
        expected_parent = None if page.depth == 2 else f"page-{parent.pk}"
        assert entity.get("originParentId") == expected_parent, origin_id
        variants = Page.objects.live().filter(translation_key=page.translation_key)
        assert set(meta["translations"]) == {
            f"page-{pk}" for pk in variants.exclude(pk=page.pk).values_list("pk", flat=True)
        }, origin_id
        if page.alias_of_id:
            assert meta["alias_of"] == {
                "id": f"page-{page.alias_of_id}",
                "url": page.alias_of.get_full_url(),
            }
        else:
            assert "alias_of" not in meta, origin_id
    assert call_command("enterspeed_verify", "--fail-on-drift") is None
    report = verify()
    assert (report.drift, report.catch_up) == ([], [])


def run_create_page_hooks(page, user):
    """What Wagtail's create view does after it saved and published a page."""
    request = RequestFactory().post("/admin/pages/add/")
    request.user = user
    for hook in hooks.get_hooks("after_create_page"):
        hook(request, page)


def admin_post(client, url: str, data: dict, **extra) -> None:
    """An editor's form post in the admin; it must succeed (a redirect)."""
    response = client.post(url, {**data, **extra})
    assert response.status_code == 302, response.content[:2000]


def bulk(client, action: str, pages, **data):
    """A bulk action on ``pages`` from the page listing."""
    query = urlencode([("id", page.pk) for page in pages])
    url = reverse("wagtail_bulk_action", args=("wagtailcore", "page", action))
    admin_post(client, f"{url}?{query}", data)


def test_the_seed_sends_every_locale_with_its_own_urls(site, standin):
    home_da = site["home"].get_translation(Locale.objects.get(language_code="da"))
    news_ar = site["news"].get_translation(Locale.objects.get(language_code="ar"))
    assert standin.entities[f"page-{home_da.pk}"]["url"] == "https://www.example.com/da/"
    assert standin.entities[f"page-{news_ar.pk}"]["url"] == "https://www.example.com/ar/news/"
    assert_enterspeed_holds_the_site(standin)


def test_every_change_of_the_table_reaches_enterspeed(
    site, languages, standin, editor, client, django_capture_on_commit_callbacks
):
    en, da, pt = languages["en"], languages["da"], languages["pt-br"]
    home, news, first, second = site["home"], site["news"], site["first"], site["second"]
    client.force_login(editor)

    def step():
        return django_capture_on_commit_callbacks(execute=True)

    # A new locale synced from English ("Sync from"): a tree of live aliases, no publish.
    with step():
        LocaleSynchronization.objects.create(locale=pt, sync_from=en)
    assert Page.objects.filter(locale=pt, alias_of__isnull=False).live().count() == 4
    sync()
    assert_enterspeed_holds_the_site(standin)

    # A page published with the admin's create view: wagtail-localize's hook aliases it
    # into Portuguese right after the publish. A page added live by code, with the hooks
    # the create view runs.
    with step():
        admin_post(
            client,
            reverse("wagtailadmin_pages:add", args=("testapp", "blogindexpage", home.pk)),
            nested_form_data({"title": "Events", "slug": "events", "comments": inline_formset([])}),
            **{"action-publish": "action-publish"},
        )
    events = Page.objects.get(locale=en, slug="events")
    assert events.live and events.aliases.filter(locale=pt).live().exists()
    with step():
        third = news.add_child(instance=BlogPage(title="Third", slug="third", locale=en))
        run_create_page_hooks(third, editor)
    assert third.aliases.filter(locale=pt).live().exists()

    # The admin's "Copy → create alias", and the original published: its aliases follow.
    with step():
        admin_post(
            client,
            reverse("wagtailadmin_pages:copy", args=[first.pk]),
            {
                "new_title": "First",
                "new_slug": "first-again",
                "new_parent_page": home.pk,
                "alias": "on",
            },
        )
        first.refresh_from_db()
        first.title = "First, edited"
        first.save_revision(user=editor).publish(user=editor)
    copy = Page.objects.get(slug="first-again")
    assert copy.live and copy.alias_of_id == first.pk
    sync()
    assert_enterspeed_holds_the_site(standin)

    # wagtail-localize's "Convert to alias" turns a Danish translation back into an alias.
    second_da = second.get_translation(da)
    with step():
        admin_post(client, reverse("wagtail_localize:convert_to_alias", args=[second_da.pk]), {})
    assert Page.objects.get(pk=second_da.pk).alias_of_id == second.pk
    sync()
    assert_enterspeed_holds_the_site(standin)

    # The admin converts the copy-alias into an ordinary page; wagtail-localize translates a
    # synced alias (which converts it); a page is copied with "keep live".
    second_pt = second.get_translation(pt)
    with step():
        admin_post(client, reverse("wagtailadmin_pages:convert_alias", args=[copy.pk]), {})
        translate(second, pt, editor)
        second.copy(to=home, update_attrs={"slug": "second-copy"}, keep_live=True, user=editor)
    assert Page.objects.get(pk=second_pt.pk).alias_of_id is None
    sync()
    assert_enterspeed_holds_the_site(standin)

    # Links across locales: the Danish first post still links to the English news index;
    # a slug change of the Danish index changes the URL shown in it.
    news_da, first_da = news.get_translation(da), first.get_translation(da).specific
    with step():
        news_da = news_da.specific
        news_da.slug = "nyheder"
        news_da.save_revision(user=editor).publish(user=editor)
    sync()
    home_da = standin.entities[f"page-{home.get_translation(da).pk}"]
    assert 'href="https://www.example.com/da/nyheder/"' in home_da["properties"]["intro"]
    assert "/da/nyheder/first/" in standin.entities[f"page-{first_da.pk}"]["url"]
    assert_enterspeed_holds_the_site(standin)

    # Bulk actions from the page listing: unpublish, publish, move and delete many pages.
    ar_posts = list(Page.objects.filter(locale=languages["ar"], depth=4))
    with step():
        bulk(client, "unpublish", ar_posts, include_descendants="")
    sync()
    assert_enterspeed_holds_the_site(standin)
    with step():
        bulk(client, "publish", ar_posts)
    with step():
        bulk(client, "move", [Page.objects.get(pk=third.pk)], chooser=home.pk)
    with step():
        bulk(client, "delete", [Page.objects.get(pk=site["first"].pk)])
    sync()
    assert_enterspeed_holds_the_site(standin)

    # The scheduler publishes a revision and expires a page (and so its synced alias); a
    # revision is approved through a workflow.
    second = Page.objects.get(pk=second.pk).specific
    second.title = "Second, scheduled"
    a_minute_ago = timezone.now() - datetime.timedelta(minutes=1)
    second.save_revision(user=editor, approved_go_live_at=a_minute_ago)
    Page.objects.filter(pk=third.pk).update(expire_at=a_minute_ago)
    with step():
        call_command("publish_scheduled")
    assert not Page.objects.filter(alias_of=third.pk, live=True).exists()
    news = Page.objects.get(pk=news.pk).specific
    news.title = "News, approved"
    news.save_revision(user=editor)
    workflow = Workflow.objects.get(name="Moderators approval")
    with step():
        state = workflow.start(news, editor)
        state.current_task_state.approve(user=editor)
    sync()
    assert Page.objects.get(pk=second.pk).title == "Second, scheduled"
    assert Page.objects.get(pk=news.pk).title == "News, approved"
    assert_enterspeed_holds_the_site(standin)


def test_an_alias_created_live_is_queued_without_a_publish(site, languages, standin, editor):
    home, first = site["home"], site["first"]
    alias = first.create_alias(parent=home, update_slug="first-elsewhere", user=editor)
    job = EnterspeedJob.objects.get(origin_id=f"page-{alias.pk}")
    assert (job.job_type, job.state, job.priority) == ("publish", "pending", 10)


def test_simple_translations_synced_tree_aliases_a_new_page(
    site, languages, standin, editor, settings
):
    settings.WAGTAILSIMPLETRANSLATION_SYNC_PAGE_TREE = True
    languages["pt-br"].delete()  # simple_translation syncs into every locale: those with trees
    news = site["news"]
    page = news.add_child(instance=BlogPage(title="Fourth", slug="fourth"))
    page.save_revision().publish()
    run_create_page_hooks(page, editor)
    aliases = Page.objects.filter(alias_of=page)
    assert aliases.count() == 2  # da, ar
    queued = set(EnterspeedJob.objects.values_list("origin_id", flat=True))
    assert {f"page-{alias.pk}" for alias in aliases.live()} <= queued


def test_links_stored_as_another_locales_id_are_resent_when_the_url_changes(
    site, languages, standin
):
    da = languages["da"]
    news_da = site["news"].get_translation(da).specific
    home_da = site["home"].get_translation(da)
    news_da.slug = "nyheder"
    news_da.save_revision().publish()
    EnterspeedJob.objects.all().delete()
    queue_subtree_on_slug_changed(type(news_da), instance=news_da)
    queued = dict(EnterspeedJob.objects.values_list("origin_id", "priority"))
    # The Danish home links to the English index's id and shows the Danish index: bulk
    # work. The English home and first post link to the English index, shown as itself.
    assert queued.pop(f"page-{news_da.pk}") == JobPriority.PERSON
    assert queued.pop(f"page-{home_da.pk}") == JobPriority.BULK
    danish_posts = {f"page-{page.pk}" for page in news_da.get_children()}
    assert set(queued) == danish_posts


def test_deleting_an_original_removes_its_aliases(site, languages, standin, editor):
    home, second = site["home"], site["second"]
    alias = second.create_alias(parent=home, update_slug="second-elsewhere", user=editor)
    sync()
    assert standin.entities[f"page-{alias.pk}"]["properties"]["meta"]["alias_of"]["id"] == (
        f"page-{second.pk}"
    )
    Page.objects.get(pk=second.pk).delete()
    # Wagtail unpublishes the aliases of a page it deletes (and they stop being aliases).
    assert Page.objects.filter(pk=alias.pk, live=False, alias_of=None).exists()
    sync()
    assert f"page-{alias.pk}" not in standin.entities
    assert f"page-{second.pk}" not in standin.entities
    assert_enterspeed_holds_the_site(standin)


def test_a_new_locale_synced_from_another_lists_its_pages_in_every_translation(
    site, languages, standin, django_capture_on_commit_callbacks
):
    en, pt = languages["en"], languages["pt-br"]
    with django_capture_on_commit_callbacks(execute=True):
        LocaleSynchronization.objects.create(locale=pt, sync_from=en)
    sync()
    first_pt = site["first"].get_translation(pt)
    entity = standin.entities[f"page-{site['first'].pk}"]
    assert f"page-{first_pt.pk}" in entity["properties"]["meta"]["translations"]
    assert standin.entities[f"page-{first_pt.pk}"]["url"] == (
        "https://www.example.com/pt-br/news/first/"
    )
    assert_enterspeed_holds_the_site(standin)


def test_verify_calls_a_link_across_locales_catch_up_without_the_fan_out(
    site, languages, standin, settings, django_capture_on_commit_callbacks
):
    # Without REINGEST_REFERRERS the Danish home keeps the Danish index's old URL: it
    # links to the English index's id, and the Danish variant was sent after it.
    settings.ENTERSPEED_SYNC = {**settings.ENTERSPEED_SYNC, "REINGEST_REFERRERS": False}
    da = languages["da"]
    news_da = site["news"].get_translation(da).specific
    home_da = site["home"].get_translation(da)
    with django_capture_on_commit_callbacks(execute=True):
        news_da.slug = "nyheder"
        news_da.save_revision().publish()
    sync()
    report = verify()
    assert report.drift == []
    assert [(item.origin_id, item.because_of) for item in report.catch_up] == [
        (f"page-{home_da.pk}", f"page-{news_da.pk}")
    ]
    assert call_command("enterspeed_verify", "--fail-on-drift") is None
