import datetime
import decimal

import pytest
from wagtail.contrib.redirects.models import Redirect
from wagtail.models import Page, Site

from enterspeed_sync.capture.outbox import pause_sync
from enterspeed_sync.mapping import PageMapper, is_valid_property_name, lower_camel, to_json_value
from tests.testapp.models import BlogPage, LandingPage

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("name", "expected"),
    [("BlogPage", "blogPage"), ("HTMLPage", "htmlPage"), ("Page", "page"), ("URLs", "urLs")],
)
def test_lower_camel(name, expected):
    assert lower_camel(name) == expected


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("title", True),
        ("_x", True),
        ("a1", True),
        ("1a", False),
        ("__", False),
        ("a-b", False),
        ("ø", False),
    ],
)
def test_property_names_follow_the_contract(name, valid):
    assert is_valid_property_name(name) is valid


def test_json_values():
    tz = datetime.timezone(datetime.timedelta(hours=2))
    assert (
        to_json_value(datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz))
        == "2026-01-02T03:04:05+02:00"
    )
    assert to_json_value(datetime.date(2026, 1, 2)) == "2026-01-02"
    assert to_json_value(decimal.Decimal("4.50")) == 4.5
    assert to_json_value({"a": (1, decimal.Decimal("1"))}) == {"a": [1, 1.0]}


def test_page_entity(site_tree):
    post = site_tree["posts"][0]
    other = site_tree["posts"][1]
    post.body = (
        f'<p>See <a linktype="page" id="{other.pk}">the other post</a> and <a href="/x/">x</a>.</p>'
    )
    post.date = datetime.date(2026, 11, 1)
    post.published_at = datetime.datetime(2026, 11, 1, 12, 30, tzinfo=datetime.UTC)
    post.rating = decimal.Decimal("4.25")
    post.featured = True
    post.related_page = other
    post.content = [
        ("heading", "Hello"),
        ("paragraph", f'<p><a linktype="page" id="{other.pk}">Other</a></p>'),
        ("quote", {"text": "Less is more", "author": "Mies"}),
    ]
    post.seo_title = "SEO"
    with pause_sync():
        post.save_revision().publish()
    post.refresh_from_db()

    entity = PageMapper(post).to_entity()

    assert entity["type"] == "blogPage"
    assert entity["url"] == "https://www.example.com/blog/post-1/"
    assert entity["originParentId"] == f"page-{site_tree['blog'].pk}"
    assert "redirects" not in entity
    props = entity["properties"]
    assert props["title"] == "Post 1"
    assert props["slug"] == "post-1"
    assert props["seo_title"] == "SEO"
    assert props["search_description"] == ""
    assert props["date"] == "2026-11-01"
    assert props["published_at"] == "2026-11-01T12:30:00+00:00"
    assert props["rating"] == 4.25
    assert props["featured"] is True
    assert 'href="https://www.example.com/blog/post-2/"' in props["body"]
    assert 'href="https://www.example.com/x/"' in props["body"]
    assert props["related_page"] == {
        "id": f"page-{other.pk}",
        "title": "Post 2",
        "url": "https://www.example.com/blog/post-2/",
    }
    assert props["hero_image"] is None
    blocks = props["content"]
    assert [b["type"] for b in blocks] == ["heading", "paragraph", "quote"]
    assert blocks[0]["value"] == "Hello"
    assert 'href="https://www.example.com/blog/post-2/"' in blocks[1]["value"]
    assert blocks[2]["value"] == {"text": "Less is more", "author": "Mies"}
    meta = props["meta"]
    assert meta["pk"] == post.pk
    assert meta["locale"] == "en"
    assert meta["depth"] == post.depth
    assert meta["ancestors"] == [f"page-{site_tree['home'].pk}", f"page-{site_tree['blog'].pk}"]
    assert meta["first_published_at"] == post.first_published_at.isoformat()
    assert meta["content_type"] == "testapp.blogpage"
    assert "page_ptr" not in props and "path" not in props


def test_site_root_has_no_parent(site_tree):
    entity = PageMapper(site_tree["home"]).to_entity()
    assert "originParentId" not in entity
    assert entity["url"] == "https://www.example.com/"
    assert entity["type"] == "homePage"


def test_model_can_set_the_type(site_tree):
    with pause_sync():
        landing = site_tree["home"].add_child(instance=LandingPage(title="Landing", slug="landing"))
    assert PageMapper(landing).to_entity()["type"] == "landing"


def test_redirects_become_absolute_urls(site_tree):
    post = site_tree["posts"][0]
    Redirect.objects.create(old_path="/old-post", redirect_page=post, site=Site.objects.get())
    Redirect.objects.create(old_path="/older", redirect_page=post)
    assert PageMapper(post).to_entity()["redirects"] == [
        "https://www.example.com/old-post",
        "https://www.example.com/older",
    ]


def test_page_outside_any_site_has_no_url(site_tree):
    with pause_sync():
        orphan = Page.objects.get(depth=1).add_child(
            instance=BlogPage(title="Orphan", slug="orphan")
        )
    entity = PageMapper(orphan).to_entity()
    assert "url" not in entity
    assert "originParentId" not in entity
