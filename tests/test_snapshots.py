"""
The entities of one page of every kind, an image, a document and each kind of snippet,
compared with the JSON in tests/snapshots/ (docs/mapping.md shows the same JSON).

After an intended change: ENTERSPEED_UPDATE_SNAPSHOTS=1 .venv/bin/python -m tests --sqlite-only
-k snapshots, then review the diff of tests/snapshots/ like code.
"""

import json
import os
import re
from pathlib import Path

import pytest
from django.test import override_settings

from enterspeed_sync.diagnostics.inspection import inspect_origin_id
from enterspeed_sync.testing import validate_entity as standin_validate
from tests.content import build_content_site

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("ENTERSPEED_UPDATE_SNAPSHOTS") == "1"

CASES = {
    "home_page": "page-8001",
    "fields_page": "page-8002",
    "fields_page_da": "page-8102",
    "relations_page": "page-8003",
    "stream_page": "page-8004",
    "api_fields_page": "page-8005",
    "custom_properties_page": "page-8006",
    "image": "image-7001",
    "document": "document-7101",
    "snippet_category": "testapp.category-7201",
    "snippet_author": "testapp.author-7301",
    "snippet_footer_text": "testapp.footertext-7401",
}

MAPPING_SETTINGS = {
    "API_KEY": "source-tests",
    "BASE_URL": "http://127.0.0.1:9",
    "IMAGE_RENDITIONS": {"thumbnail": "fill-100x100"},
}


@pytest.fixture
def content_site(db, tmp_path, settings):
    # A fresh media folder: stored file names are then the ones the snapshots expect.
    settings.MEDIA_ROOT = str(tmp_path / "media")
    with override_settings(ENTERSPEED_SYNC=MAPPING_SETTINGS):
        yield build_content_site()


@pytest.mark.parametrize("name", CASES)
def test_entity_matches_snapshot(content_site, name):
    with override_settings(ENTERSPEED_SYNC=MAPPING_SETTINGS):
        inspection = inspect_origin_id(CASES[name])
    assert inspection.action == "save", inspection.reason
    assert inspection.problems == {}
    entity = inspection.entity
    assert standin_validate(entity, max_properties=5000) == {}
    path = SNAPSHOTS / f"{name}.json"
    text = json.dumps(entity, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    if UPDATE or not path.exists():
        path.write_text(text)
        if not UPDATE:
            pytest.fail(f"Wrote the missing snapshot {path.name}; check it and run again.")
    assert json.loads(path.read_text()) == entity


def test_docs_show_the_snapshots():
    """docs/mapping.md shows every snapshot, unchanged (rewritten with the snapshots)."""
    docs_path = Path(__file__).parents[1] / "docs" / "mapping.md"
    block = re.compile(r"(<!-- snapshot: (\w+) -->\n```json\n)(.*?)(\n```)", re.S)
    if UPDATE:
        docs_path.write_text(
            block.sub(
                lambda m: m[1] + (SNAPSHOTS / f"{m[2]}.json").read_text().rstrip("\n") + m[4],
                docs_path.read_text(),
            )
        )
    shown = {m[2]: m[3] for m in block.finditer(docs_path.read_text())}
    assert set(shown) == set(CASES)
    for name, text in shown.items():
        assert json.loads(text) == json.loads((SNAPSHOTS / f"{name}.json").read_text()), name
