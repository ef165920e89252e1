"""
Mapping a batch costs a fixed number of queries, however many pages it holds: the pages,
images, documents and snippets chosen in StreamField chooser blocks (top level and inside
struct, list and stream blocks) are looked up once per model for the whole batch.
"""

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from wagtail.models import Page

from enterspeed_sync.capture.seeding import published_specs
from enterspeed_sync.handlers import prepare_batch
from enterspeed_sync.mapping.batch import mapping_batch
from tests.content import block_id, build_content_site
from tests.testapp.models import StreamPage

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


def map_every_page() -> tuple[list[dict], dict]:
    """Every published page mapped in one batch, as a worker does; the queries it took."""
    jobs = [spec.as_job(pk=n) for n, (_k, spec) in enumerate(published_specs(kinds=["pages"]))]

    def prepare_failed(handler, jobs, exc):
        raise exc

    with override_settings(ENTERSPEED_SYNC=SETTINGS):
        with CaptureQueriesContext(connection) as queries, mapping_batch():
            handlers = prepare_batch(jobs, on_error=prepare_failed)
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
