import pytest
from wagtail.models import Locale, Page, Site

from enterspeed_sync.capture.outbox import pause_sync
from enterspeed_sync.models import EnterspeedJob
from tests.testapp.models import BlogIndexPage, BlogPage, HomePage


@pytest.fixture
def standin():
    """A real ingest stand-in on loopback, with ENTERSPEED_SYNC pointed at it."""
    from django.test import override_settings

    from enterspeed_sync.testing import IngestStandIn

    with IngestStandIn(api_keys=["source-tests"]) as server:
        with override_settings(
            ENTERSPEED_SYNC={"API_KEY": "source-tests", "BASE_URL": server.url, "TIMEOUT": 5}
        ):
            yield server


@pytest.fixture
def site_tree(db):
    """home (site root) → blog index → three blog posts, all live; no jobs queued."""
    with pause_sync():
        root = Page.objects.get(depth=1)
        home = root.add_child(instance=HomePage(title="Home", slug="home-es", intro="<p>Hi</p>"))
        Site.objects.update_or_create(
            is_default_site=True,
            defaults={"hostname": "www.example.com", "port": 443, "root_page": home},
        )
        blog = home.add_child(instance=BlogIndexPage(title="Blog", slug="blog"))
        posts = [
            blog.add_child(instance=BlogPage(title=f"Post {i}", slug=f"post-{i}"))
            for i in range(1, 4)
        ]
    EnterspeedJob.objects.all().delete()
    return {"root": root, "home": home, "blog": blog, "posts": posts}


@pytest.fixture
def danish(db):
    return Locale.objects.get_or_create(language_code="da")[0]
