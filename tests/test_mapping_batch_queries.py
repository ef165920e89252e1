"""
Mapping a batch costs a fixed number of queries, however many pages it holds: the pages,
images, documents and snippets chosen in StreamField chooser blocks (top level and inside
struct, list and stream blocks) are looked up once per model for the whole batch.
"""

import pytest
from django.db import connection
from django.forms.utils import flatatt
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils.html import conditional_escape
from wagtail.api import APIField
from wagtail.images.api.fields import ImageRenditionField
from wagtail.images.models import Image
from wagtail.models import AbstractPage, Page, Site

from enterspeed_sync.capture.seeding import published_specs
from enterspeed_sync.handlers import prepare_batch
from enterspeed_sync.mapping import prefetch
from enterspeed_sync.mapping.batch import _flat_attributes, mapping_batch
from tests.content import block_id, build_content_site
from tests.testapp.models import (
    Author,
    Category,
    FieldsPage,
    NewsPage,
    NewsPageRelatedLink,
    NewsReview,
    StreamPage,
)

SETTINGS = {"API_KEY": "source-tests", "BASE_URL": "http://127.0.0.1:9"}


@pytest.fixture
def content_site(db, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    with override_settings(ENTERSPEED_SYNC=SETTINGS):
        yield build_content_site()


def chooser_stream(n: int) -> list[dict]:
    """Every chooser block kind, at the top level and nested (ids from tests/content.py)."""
    blocks = [
        ("page", 8002 if n % 2 else 8003),
        ("image", 7001),
        ("image_with_alt", {"image": 7001, "decorative": False, "alt_text": f"Boats {n}"}),
        ("document", 7101),
        ("snippet", 7201),
        ("card", {"title": f"Card {n}", "image": 7001}),
        ("section", [{"type": "page", "value": 8002, "id": block_id(5000 + n)}]),
        ("page", None),
    ]
    return [
        {"type": name, "value": value, "id": block_id(n * 100 + i)}
        for i, (name, value) in enumerate(blocks)
    ]


def add_stream_pages(count: int, start: int) -> None:
    home = Page.objects.get(pk=8001)
    for n in range(start, start + count):
        page = home.add_child(
            instance=StreamPage(title=f"Chooser {n}", slug=f"chooser-{n}", body=chooser_stream(n))
        )
        page.save_revision().publish()


def raise_it(handler, jobs, exc):
    raise exc


def map_every_page() -> tuple[list[dict], dict]:
    """Every published page mapped in one batch, as a worker does; the queries it took."""
    jobs = [spec.as_job(pk=n) for n, (_k, spec) in enumerate(published_specs(kinds=["pages"]))]

    with override_settings(ENTERSPEED_SYNC=SETTINGS):
        with CaptureQueriesContext(connection) as queries, mapping_batch():
            handlers = prepare_batch(jobs, on_error=raise_it)
            operations = [
                op for job, h in zip(jobs, handlers, strict=True) for op in h.operations(job)
            ]
    entities = {op.origin_id: op.entity for op in operations if op.entity}
    return [q["sql"] for q in queries.captured_queries], entities


def is_chooser_page(entity: dict) -> bool:
    return str(entity["properties"].get("title")).startswith("Chooser")


def chooser_queries(sql: list[str]) -> dict[str, int]:
    tables = ["wagtaildocs_document", "testapp_category", "wagtailimages_image"]
    return {table: sum(f'FROM "{table}"' in q for q in sql) for table in tables}


def test_a_batch_costs_the_same_queries_for_3_or_12_pages_with_chooser_blocks(content_site):
    map_every_page()  # once first: renditions created, site root paths cached
    without, _ = map_every_page()
    add_stream_pages(3, start=1)
    map_every_page()
    small, _ = map_every_page()
    add_stream_pages(9, start=4)
    map_every_page()
    large, entities = map_every_page()

    assert len(large) == len(small), "queries grew with the number of pages"
    assert chooser_queries(large) == chooser_queries(small)
    # The chooser blocks cost at most one more query per model than a batch without them.
    for table, count in chooser_queries(large).items():
        assert count - chooser_queries(without)[table] <= 1, table

    # And the chosen objects are there, resolved as Wagtail resolves them.
    chooser_pages = [e for e in entities.values() if is_chooser_page(e)]
    assert len(chooser_pages) == 12
    body = {
        block["type"] + str(i): block["value"]
        for i, block in enumerate(chooser_pages[0]["properties"]["body"])
    }
    assert body["page0"]["id"] in ("page-8002", "page-8003")
    assert body["image1"]["id"] == "image-7001"
    assert body["image_with_alt2"]["alt"].startswith("Boats ")
    assert body["document3"]["id"] == "document-7101"
    assert body["snippet4"]["id"] == "testapp.category-7201"
    assert body["card5"]["image"]["id"] == "image-7001"
    assert body["section6"][0]["value"]["id"] == "page-8002"
    assert body["page7"] is None


def test_each_page_keeps_its_own_alt_text_for_a_shared_image(content_site):
    """An ImageBlock sets its alt text on the image: every use gets its own instance."""
    add_stream_pages(4, start=1)
    _, entities = map_every_page()
    alts = sorted(
        block["value"]["alt"]
        for entity in entities.values()
        if is_chooser_page(entity)
        for block in entity["properties"]["body"]
        if block["type"] == "image_with_alt"
    )
    assert alts == ["Boats 1", "Boats 2", "Boats 3", "Boats 4"]


# What a batch shares gives the entities one page alone gets --------------------------


def map_each_page_alone() -> dict:
    """Every published page mapped on its own, outside a batch (as inspect maps one)."""
    entities = {}
    with override_settings(ENTERSPEED_SYNC=SETTINGS):
        for n, (_k, spec) in enumerate(published_specs(kinds=["pages"])):
            job = spec.as_job(pk=n)
            (handler,) = prepare_batch([job], on_error=raise_it)
            for op in handler.operations(job):
                if op.entity:
                    entities[op.origin_id] = op.entity
    return entities


def test_a_batch_maps_every_page_as_it_is_mapped_alone(content_site):
    # Rich text page links and image embeds, references, chooser blocks, URLs: whatever
    # the batch looks up once must come out as the page's own lookups make it.
    add_stream_pages(2, start=1)
    _, in_batch = map_every_page()
    alone = map_each_page_alone()
    assert in_batch.keys() == alone.keys()
    assert len(in_batch) >= 8
    for origin_id, entity in alone.items():
        assert in_batch[origin_id] == entity, origin_id
    bodies = [str(e["properties"].get("body")) for e in alone.values()]
    assert any('<img alt="Harbour" class="richtext-image full-width"' in b for b in bodies)


def test_a_batch_reads_the_sites_root_paths_once(content_site, monkeypatch):
    # Wagtail reads them from Django's cache on every URL it builds unless it is given an
    # object to keep them on; a batch gives Wagtail's own URL methods one (UrlCache).
    add_stream_pages(3, start=1)
    map_every_page()
    reads = []
    real = Site.get_site_root_paths

    def counted():
        reads.append(1)
        return real()

    monkeypatch.setattr(Site, "get_site_root_paths", staticmethod(counted))
    _, entities = map_every_page()
    assert len(entities) >= 8
    assert len(reads) == 1


def test_a_page_model_with_its_own_get_url_parts_gets_no_stand_in_request(
    content_site, monkeypatch
):
    # A project's override may expect a real request or None: the batch passes it None, as
    # Wagtail's own callers do, and its URL is the entity's.
    add_stream_pages(2, start=1)
    requests = []

    def get_url_parts(self, request=None):
        requests.append(request)
        site_id, root_url, path = AbstractPage.get_url_parts(self, request)
        return site_id, root_url, path + "custom/"

    monkeypatch.setattr(StreamPage, "get_url_parts", get_url_parts)
    _, entities = map_every_page()
    chooser_pages = [e for e in entities.values() if is_chooser_page(e)]
    assert [e["url"].endswith("/custom/") for e in chooser_pages] == [True, True]
    assert requests and set(requests) == {None}


def test_a_custom_get_rendition_is_called_for_rich_text_embeds(content_site, monkeypatch):
    called = []
    real = Image.get_rendition

    def get_rendition(self, filter):
        called.append((self.pk, str(getattr(filter, "spec", filter))))
        return real(self, filter)

    monkeypatch.setattr(Image, "get_rendition", get_rendition)
    _, entities = map_every_page()
    assert any('<img alt="Harbour"' in str(e["properties"].get("body")) for e in entities.values())
    assert (7001, "width-800") in called


@pytest.mark.parametrize(
    "attributes",
    [
        {"src": "/media/a b.png", "width": 64, "height": 48, "alt": "", "loading": "lazy"},
        {"alt": 'Fish & "chips" <b>', "class": "richtext-image left", "data-x": None},
        {"src": "/x.png", "hidden": True, "draggable": False, "width": 0},
    ],
)
def test_the_img_tag_attributes_are_written_as_flatatt_writes_them(attributes):
    escaped = {
        name: value if value is None or isinstance(value, bool) else conditional_escape(value)
        for name, value in attributes.items()
    }
    assert _flat_attributes(escaped) == flatatt(attributes)


def test_every_reference_to_a_page_has_the_url_of_its_own_entity(content_site, monkeypatch):
    # FieldsPage (8002) builds its own URLs; the relations page (8003) points at it with a
    # ForeignKey to the base page model, an inline link and a rich text link, and a stream
    # page with a page chooser: all of them, in a batch or alone, say its real URL.
    add_stream_pages(2, start=1)

    def get_url_parts(self, request=None):
        site_id, root_url, path = AbstractPage.get_url_parts(self, request)
        return site_id, root_url, path + "custom/"

    monkeypatch.setattr(FieldsPage, "get_url_parts", get_url_parts)
    _, in_batch = map_every_page()
    for entities in (in_batch, map_each_page_alone()):
        url = entities["page-8002"]["url"]
        assert url.endswith("/fields/custom/")
        relations = entities["page-8003"]["properties"]
        assert relations["related_page"]["url"] == url
        assert relations["links"][0]["link_page"]["url"] == url
        chooser = next(e for e in entities.values() if e["url"].endswith("/chooser-1/"))
        assert chooser["properties"]["body"][0]["value"]["url"] == url


# Relations a real page model reads: many-to-many, inline children, reverse relations and
# Wagtail's ImageRenditionField, looked up for the whole batch -----------------------------


def add_news_pages(count: int, start: int) -> None:
    """News pages (tests.testapp.models.NewsPage) under the English and the Danish home."""
    english = Page.objects.get(pk=8001)
    danish = Page.objects.get(pk=8101)
    author = Author.objects.get(locale__language_code="en")
    image = Image.objects.get(pk=7001)
    categories = [Category.objects.get(pk=7201)] + [
        Category.objects.get_or_create(name=f"Topic {n}", slug=f"topic-{n}")[0] for n in range(3)
    ]
    for n in range(start, start + count):
        parent = danish if n % 3 == 0 else english
        page = parent.add_child(
            instance=NewsPage(
                title=f"News {n}",
                slug=f"news-{n}",
                intro=f"Intro {n}",
                hero_image=image,
                author=author,
                category=categories[n % 2],
                body=[
                    {"type": "paragraph", "value": '<p><a linktype="page" id="8002">x</a></p>'},
                    {"type": "image", "value": 7001},
                    {"type": "snippet", "value": 7201},
                ],
            )
        )
        page.topics.set(categories[n % 3 : n % 3 + 2])
        page.related_links = [
            NewsPageRelatedLink(title=f"Link {n}", link_page_id=8003 if n % 2 else 8102),
            NewsPageRelatedLink(title="Out", link_url=f"https://example.com/{n}"),
        ]
        page.save_revision().publish()
        for reviewer in range(n % 3):
            NewsReview.objects.create(page=page, reviewer=f"Reader {reviewer}", stars=reviewer)


def relation_queries(sql: list[str]) -> dict[str, int]:
    tables = [
        "testapp_category",
        "testapp_newspagerelatedlink",
        "testapp_newsreview",
        "wagtailimages_rendition",
        "wagtailcore_locale",
    ]
    return {table: sum(f'FROM "{table}"' in q for q in sql) for table in tables}


def test_a_batch_reads_relations_and_renditions_in_the_same_queries_for_3_or_12_pages(
    content_site,
):
    add_news_pages(3, start=1)
    map_every_page()  # once first: renditions created, site root paths cached
    small, _ = map_every_page()
    add_news_pages(9, start=4)
    map_every_page()
    large, entities = map_every_page()

    assert relation_queries(large) == relation_queries(small)
    assert len(large) == len(small), "queries grew with the number of pages"

    news = [e for e in entities.values() if e["type"] == "newsPage"]
    assert len(news) == 12
    properties = news[0]["properties"]
    assert properties["hero_thumbnail"]["width"] == 300
    assert properties["hero_thumbnail"]["url"].endswith(".fill-300x200.png")
    assert properties["hero_wide"]["url"] != properties["hero_thumbnail"]["url"]
    number = properties["intro"].removeprefix("Intro ")
    assert [link["title"] for link in properties["related_links"]] == [f"Link {number}", "Out"]
    assert properties["related_links"][0]["link_page"]["id"] in ("page-8003", "page-8102")
    assert len(properties["topics"]) == 2
    assert {len(e["properties"]["reviews"]) for e in news} == {0, 1, 2}


def test_a_batch_maps_relations_and_renditions_as_each_page_alone(content_site):
    add_news_pages(6, start=1)
    _, in_batch = map_every_page()
    alone = map_each_page_alone()
    news = [origin_id for origin_id, e in alone.items() if e["type"] == "newsPage"]
    assert len(news) == 6
    assert in_batch.keys() == alone.keys()
    for origin_id, entity in alone.items():
        assert in_batch[origin_id] == entity, origin_id
    # The Danish pages' links to English pages are localized, as Wagtail's .localized does.
    danish = [alone[o] for o in news if alone[o]["properties"]["meta"]["locale"] == "da"]
    assert danish
    links = {d["properties"]["related_links"][0]["link_page"]["id"] for d in danish}
    assert links <= {"page-8003", "page-8102"}


def test_a_custom_image_rendition_field_renders_every_page_its_own_way(content_site, monkeypatch):
    # Only Wagtail's own ImageRenditionField is rendered once per image in a batch.
    class CountingField(ImageRenditionField):
        def to_representation(self, image):
            rendered.append(image.pk)
            return super().to_representation(image)

    rendered = []
    entries = [
        APIField("hero_thumbnail", serializer=CountingField("fill-300x200", source="hero_image"))
    ]
    monkeypatch.setattr(NewsPage, "api_fields", entries)
    prefetch.rendition_specs.cache_clear()
    prefetch.mapped_relations.cache_clear()
    try:
        add_news_pages(4, start=1)
        _, entities = map_every_page()
    finally:
        prefetch.rendition_specs.cache_clear()
        prefetch.mapped_relations.cache_clear()
    news = [e for e in entities.values() if e["type"] == "newsPage"]
    assert len(news) == 4
    assert rendered == [7001] * 4
    assert {e["properties"]["hero_thumbnail"]["width"] for e in news} == {300}


# Links across locales: the translations of a batch's link targets, read together --------


def add_danish_news_linking_english_pages(count: int, start: int) -> None:
    """
    Danish news pages, each linking (rich text, a page chooser block, a related link) to an
    English page of its own; every fourth target's Danish translation is a draft.
    """
    english = Page.objects.get(pk=8001)
    danish_home = Page.objects.get(pk=8101)
    danish = danish_home.locale
    for n in range(start, start + count):
        target = english.add_child(instance=StreamPage(title=f"Target {n}", slug=f"target-{n}"))
        target.save_revision().publish()
        translation = target.copy_for_translation(danish)
        if n % 4:
            translation.save_revision().publish()
        page = danish_home.add_child(
            instance=NewsPage(
                title=f"Nyhed {n}",
                slug=f"nyhed-{n}",
                body=[
                    {
                        "type": "paragraph",
                        "value": f'<p><a linktype="page" id="{target.pk}">mål</a></p>',
                    },
                    {"type": "page", "value": target.pk},
                ],
            )
        )
        page.related_links = [NewsPageRelatedLink(title=f"Link {n}", link_page_id=target.pk)]
        page.save_revision().publish()


def test_links_across_locales_cost_the_same_queries_for_3_or_12_pages(content_site):
    add_danish_news_linking_english_pages(3, start=1)
    map_every_page()
    small, _ = map_every_page()
    add_danish_news_linking_english_pages(9, start=4)
    map_every_page()
    large, entities = map_every_page()

    page_queries = [q for q in large if 'FROM "wagtailcore_page"' in q]
    assert len(large) == len(small), "queries grew with the number of link targets"
    assert len(page_queries) == len([q for q in small if 'FROM "wagtailcore_page"' in q])
    # Each link goes to the live Danish translation, or to the English page when the
    # translation is a draft, as Wagtail's .localized does.
    news = [e for e in entities.values() if "/nyhed-" in e["url"]]
    assert len(news) == 12
    for entity in news:
        n = int(entity["url"].rstrip("/").rsplit("-", 1)[1])
        link = entity["properties"]["related_links"][0]["link_page"]
        chosen = entity["properties"]["body"][1]["value"]
        expected = f"/target-{n}/" if n % 4 == 0 else f"/da/target-{n}/"
        assert link["url"].endswith(expected), link
        assert chosen["id"] == link["id"]
        assert expected.removesuffix("/") in entity["properties"]["body"][0]["value"]


def test_links_across_locales_map_in_a_batch_as_each_page_alone(content_site):
    add_danish_news_linking_english_pages(5, start=1)
    _, in_batch = map_every_page()
    alone = map_each_page_alone()
    assert in_batch.keys() == alone.keys()
    for origin_id, entity in alone.items():
        assert in_batch[origin_id] == entity, origin_id
