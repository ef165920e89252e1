"""
The Enterspeed admin area in a real browser: Playwright driving Debian's Chromium against a
live server and the ingest stand-in. Few and fast; screenshots go to the folder named by
ENTERSPEED_SCREENSHOTS (docs/images/ in the repository, see docs/admin.md).

Chromium: ``tests/__main__.py`` installs Debian's ``chromium`` when it is missing and it
runs as root; otherwise these tests are skipped with the reason.
"""

import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connections
from django.urls import reverse

from enterspeed_sync.models import EnterspeedJob, JobState

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str | None:
    configured = os.environ.get("ENTERSPEED_TEST_CHROMIUM")
    for candidate in (configured, *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture
def admin_user(transactional_db, django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")


@pytest.fixture
def browser(admin_user, live_server, monkeypatch):
    # Function-scoped on purpose: while Playwright's event loop runs in this thread,
    # Django's connections are looked up per async context, so the test database's
    # serialized-rollback teardown must run after Playwright has stopped.
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    executable = chromium_path()
    if executable is None:
        pytest.skip(
            "BROWSER TESTS SKIPPED: no Chromium found (apt-get install chromium, or set "
            "ENTERSPEED_TEST_CHROMIUM). `python -m tests` installs it when run as root."
        )
    # Playwright's sync API runs an event loop in this thread; Django must not mistake the
    # test's own (synchronous) code for async code. The test queries through in_thread().
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()


@pytest.fixture
def page(live_server, django_user_model, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(15000)
    page = context.new_page()
    page.goto(reverse("wagtailadmin_login"))
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    yield page
    context.close()


def in_thread(func):
    """Run an ORM query in a plain thread (no event loop there), closing its connection."""
    result = {}

    def run():
        try:
            result["value"] = func()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result["value"]


def screenshot(page, name: str) -> None:
    folder = os.environ.get("ENTERSPEED_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_seed_a_scope_watch_counts_reach_zero_then_retry_a_failed_job(site_tree, standin, page):
    from playwright.sync_api import expect

    blog = site_tree["blog"]
    posts = site_tree["posts"]

    # Dashboard: seed the blog subtree, pages only, English.
    page.goto(reverse("enterspeed_sync:dashboard"))
    expect(page.locator("[data-enterspeed-masked-key]")).to_contain_text("source-")
    screenshot(page, "admin-dashboard")
    for kind in ("images", "documents", "snippets"):
        page.uncheck(f"input[name=kinds][value={kind}]")
    page.check("input[name=locales][value=en]")
    page.evaluate(
        "id => { const input = document.querySelector('input[name=root_page]');"
        " input.value = id; }",
        str(blog.pk),
    )
    page.click("button:has-text('Seed')")
    expect(page.locator(".messages")).to_contain_text("Seed queued")
    # The counts reach zero and the seed's result is shown.
    expect(page.locator("[data-count=pending]").first).to_have_text("0")
    seeded = page.locator("[data-enterspeed-seed-result]").first
    expect(seeded.locator("[data-seed-count=queued]")).to_have_text("4")
    expect(seeded.locator("[data-seed-count=sent]")).to_have_text("4")
    assert {f"page-{p.pk}" for p in [blog, *posts]} <= set(standin.entities)
    screenshot(page, "admin-dashboard-seeded")

    # A publish that Enterspeed rejects: "Sync now" from the page editor.
    post = posts[0]
    standin.fail_next(422, origin_id=f"page-{post.pk}")
    page.goto(reverse("wagtailadmin_pages:edit", args=[post.pk]))
    page.click("header [aria-label='Actions'], header button:has(svg.icon-dots-horizontal)")
    page.wait_for_timeout(500)  # let the dropdown finish opening
    screenshot(page, "admin-page-actions")
    page.click("text=Sync to Enterspeed now")
    expect(page.locator(".messages")).to_contain_text("queued for Enterspeed")
    assert in_thread(lambda: EnterspeedJob.objects.filter(state=JobState.FAILED).count()) == 1

    # The homepage tile links to the failed jobs.
    page.goto(reverse("wagtailadmin_home"))
    expect(page.locator("[data-enterspeed-summary]")).to_contain_text("1 failed Enterspeed job")
    screenshot(page, "admin-home-summary")
    page.click("[data-enterspeed-summary] a")

    # Jobs list: the failed job; open it, retry it.
    expect(page.locator("table.listing")).to_contain_text(f"page-{post.pk}")
    expect(page.locator("table.listing [data-enterspeed-title]")).to_contain_text(post.title)
    screenshot(page, "admin-jobs")
    page.click(f"a:has-text('page-{post.pk}')")
    expect(page.locator("[data-enterspeed-http-status]")).to_have_text("422")
    expect(page.locator("[data-enterspeed-entity]")).to_contain_text(post.title)
    screenshot(page, "admin-job-inspect")
    page.click("button:has-text('Retry')")
    expect(page.locator(".messages")).to_contain_text("queued again")
    assert not in_thread(EnterspeedJob.objects.exists)
    assert f"page-{post.pk}" in standin.entities
    # The confirmation before clearing the pending queue.
    page.goto(reverse("enterspeed_sync:clear_pending"))
    expect(page.locator("main")).to_contain_text("There are no pending jobs")
    screenshot(page, "admin-clear-pending")


def test_dashboard_shows_activity_reasons_and_an_outage_in_words(
    site_tree, standin, page, monkeypatch
):
    from django_q.conf import Conf
    from playwright.sync_api import expect

    from enterspeed_sync.capture.outbox import JobSpec, queue_job
    from enterspeed_sync.processing.runner import process_pending_jobs

    blog = site_tree["blog"]
    posts = site_tree["posts"]
    for post in posts[:2]:
        standin.reject_entity(f"page-{post.pk}", {"title": "Too long for the index"})

    # A seed of the blog subtree: two of its four pages are refused.
    page.goto(reverse("enterspeed_sync:dashboard"))
    for kind in ("images", "documents", "snippets"):
        page.uncheck(f"input[name=kinds][value={kind}]")
    page.check("input[name=locales][value=en]")
    page.evaluate(
        "id => { document.querySelector('input[name=root_page]').value = id; }", str(blog.pk)
    )
    page.click("button:has-text('Seed')")
    expect(page.locator("[data-count=pending]").first).to_have_text("0")
    expect(page.locator("[data-count=failed]").first).to_have_text("2")

    # The charts and the reasons carry the real numbers.
    page.reload()
    hour = page.locator("[data-enterspeed-chart=hour]")
    expect(hour.locator("[data-total=sent]")).to_have_text("2")
    expect(hour.locator("[data-total=failed]")).to_have_text("2")
    expect(hour.locator("svg title")).to_contain_text("2 sent, 2 failed")
    assert hour.locator("rect[data-series=sent]").count() >= 1
    expect(page.locator("[data-enterspeed-line]").first).to_have_text("Idle and in sync")
    reasons = page.locator("[data-enterspeed-reasons]")
    expect(reasons).to_contain_text("HTTP 422")
    expect(reasons.locator("[data-reason-count]")).to_have_text("2")
    page.evaluate("document.getElementById('enterspeed-activity-heading').scrollIntoView()")
    screenshot(page, "admin-dashboard-activity")
    reasons.locator("[data-reason-count]").click()
    for post in posts[:2]:
        expect(page.locator("table.listing")).to_contain_text(f"page-{post.pk}")
    expect(page.locator("table.listing")).not_to_contain_text(f"page-{posts[2].pk}")

    # Enterspeed goes down, and no cluster heartbeat is seen (tasks no longer run inline):
    # the line says Enterspeed is unreachable, not that the cluster is missing.
    monkeypatch.setattr(Conf, "SYNC", False)
    standin.outage(True)

    home = site_tree["home"]  # not seeded: a change the ledger has not seen

    def publish_during_outage():
        queue_job(
            JobSpec(
                entity_type="page",
                entity_id=str(home.pk),
                job_type="publish",
                origin_id=f"page-{home.pk}",
                locale="en",
            )
        )
        process_pending_jobs(wait_seconds=0)

    in_thread(publish_during_outage)
    page.goto(reverse("enterspeed_sync:dashboard"))
    line = page.locator("[data-enterspeed-line]").first
    expect(line).to_contain_text("Enterspeed unreachable since")
    expect(line).not_to_contain_text("cluster")
    expect(page.locator("[data-enterspeed-next-retry]").first.locator("time")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("None has been seen")
    # The spinner beside "Updating while work is under way" is text-sized (issue 15, item 4).
    box = page.locator("svg.enterspeed-spinner").bounding_box()
    assert box is not None and box["width"] <= 32 and box["height"] <= 32, box
    screenshot(page, "admin-dashboard-outage")
    standin.outage(False)


def test_bulk_retry_after_a_search_returns_to_the_full_admin_page(page):
    from playwright.sync_api import expect

    def make_jobs():
        for pk, error in [(1, "Enterspeed had a server error (HTTP 500): boom"), (2, "other")]:
            EnterspeedJob.objects.create(
                entity_type="page",
                entity_id=str(pk),
                job_type="publish",
                origin_id=f"page-{pk}",
                state=JobState.FAILED,
                error=error,
            )

    in_thread(make_jobs)
    page.goto(reverse("enterspeed_sync:jobs"))
    # The default filter shows as a chip.
    expect(page.locator("main")).to_contain_text("State: Failed")
    # Search: the results are fetched as a fragment and swapped in.
    page.fill("form[data-controller=w-swap] input[name=q]", "boom")
    expect(page.locator("table.listing tbody tr")).to_have_count(1)
    page.check("input[name=id]")
    page.click("button:has-text('Retry selected')")
    expect(page.locator(".messages")).to_contain_text("1 jobs queued again.")
    url = urlsplit(page.url)
    assert url.path == reverse("enterspeed_sync:jobs") and "q=boom" in url.query
    expect(page.locator("#wagtail-sidebar")).to_have_count(1)  # the admin, not a fragment
