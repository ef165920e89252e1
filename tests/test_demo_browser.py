"""
The sandbox demo's failure and recovery in a real browser (docs/sandbox.md): switch a fault
on with the stand-in's own page, publish a page in the Wagtail admin, find the failed job in
the Enterspeed jobs list, switch the fault off, retry, and see the page arrive. The same
browser set-up as tests/test_admin_browser.py; its screenshots (``sandbox-*.png``) go to
ENTERSPEED_SCREENSHOTS like the admin's.
"""

import pytest
from django.test import override_settings
from django.urls import reverse

from enterspeed_sync.models import EnterspeedJob, JobState
from tests import test_admin_browser as admin_browser
from tests.test_admin_browser import in_thread, screenshot

# The admin's browser fixtures: a logged-in admin's page in Debian's Chromium.
admin_user = admin_browser.admin_user
browser = admin_browser.browser
page = admin_browser.page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_fault_switched_on_in_the_standin_page_fails_a_publish_then_retry_syncs_it(
    site_tree, standin, page, settings
):
    from playwright.sync_api import expect

    post = site_tree["posts"][0]
    origin_id = f"page-{post.pk}"
    # The tests run django-q2 inline (no cluster to retry later): one attempt makes a 500
    # final at once, where the sandbox's settings give up after three a few seconds apart.
    sync = {**settings.ENTERSPEED_SYNC, "MAX_ATTEMPTS": 1}

    with override_settings(ENTERSPEED_SYNC=sync):
        # The stand-in's page: fail the next 3 requests with 500.
        page.goto(standin.url + "/")
        expect(page.locator("[data-standin-switches]")).to_contain_text("No faults")
        page.fill("input[name=count]", "3")
        page.select_option("select[name=status]", "500")
        page.click("text=Switch on")
        switches = page.locator("[data-standin-switches]")
        expect(switches).to_contain_text("Failing the next 3 requests with 500.")
        screenshot(page, "sandbox-standin-switches")

        # Publish the post in the admin.
        page.goto(reverse("wagtailadmin_pages:edit", args=[post.pk]))
        page.fill("#id_title", "Post 1, published during a fault")
        page.click("footer .w-dropdown-button button:has-text('More actions')")
        page.click("button[name=action-publish]")
        expect(page.locator(".messages")).to_contain_text("published")
        failed = in_thread(lambda: list(EnterspeedJob.objects.filter(state=JobState.FAILED)))
        assert [job.origin_id for job in failed] == [origin_id]
        assert "HTTP 500" in failed[0].error

        # The failed job in the jobs list, with its reason.
        page.goto(reverse("enterspeed_sync:jobs"))
        row = page.locator("table.listing tr", has_text=origin_id)
        expect(row).to_contain_text("HTTP 500")
        screenshot(page, "sandbox-failed-job")

        # The stand-in's page lists the 500, and the switch still holds two more.
        page.goto(standin.url + "/")
        expect(page.locator("tr[data-status='500']").first).to_contain_text(
            "500 Internal server error (injected)"
        )
        expect(switches).to_contain_text("Failing the next 2 requests with 500.")
        page.click("text=All faults off")
        expect(switches).to_contain_text("No faults")

        # Retry it from the admin: it arrives.
        page.goto(reverse("enterspeed_sync:jobs"))
        page.click(f"a:has-text('{origin_id}')")
        page.click("button:has-text('Retry')")
        expect(page.locator(".messages")).to_contain_text("queued again")
        assert not in_thread(EnterspeedJob.objects.exists)
        entity = standin.entities[origin_id]
        assert entity["properties"]["title"] == "Post 1, published during a fault"
        page.goto(standin.url + "/")
        expect(page.locator("#requests tr[data-status='200']").first).to_contain_text(origin_id)
        screenshot(page, "sandbox-retried")
