"""
enterspeed_sync on a project we did not write: Wagtail's own test project (see
tests/wagtail_testbed.py). It runs in a subprocess because its INSTALLED_APPS differ from the
suite's, on the database the suite runs on.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.wagtail_testbed import NO_PARENT_TYPE, NOT_CREATABLE

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = tmp_path_factory.mktemp("testbed") / "report.json"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.wagtail_testapp_settings"}
    result = subprocess.run(
        [sys.executable, "-m", "tests.wagtail_testbed", "--report", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert path.exists(), f"The test bed did not finish:\n{result.stderr[-5000:]}"
    data = json.loads(path.read_text())
    print(  # noqa: T201 (the counts the closing note needs)
        f"\nWagtail test bed: {data['page_models']} page models, {len(data['created_pages'])} "
        f"created, {len(data['skipped_pages'])} skipped; {data['expected']}"
    )
    return data


def test_one_page_of_every_page_model_wagtail_can_create(report):
    # Only models Wagtail itself refuses to create are skipped, never one we failed to fill.
    assert set(report["skipped_pages"].values()) <= {NOT_CREATABLE, NO_PARENT_TYPE}, report[
        "skipped_pages"
    ]
    assert report["skipped_pages"] == {
        "tests.MTIBasePage": NOT_CREATABLE,
        "tests.BusinessNowherePage": NO_PARENT_TYPE,
    }
    assert len(report["created_pages"]) >= 80
    # Optional fields and inline children are filled too, so more converters run.
    assert report["minimal_pages"] == []
    assert report["skipped_snippets"] == {}
    assert len(report["created_snippets"]) >= 20


def test_everything_arrives_valid_and_no_job_fails(report):
    assert report["failed_jobs"] == {}
    assert report["missing"] == []
    assert report["invalid"] == {}
    # The fixture's page outside every site is the only thing kept out.
    assert list(report["vetoed"]) == ["page-20"]
    assert report["expected"]["page"] >= 90
    assert report["expected"]["image"] == 2
    assert report["expected"]["document"] == 2
    snippets = sum(n for kind, n in report["expected"].items() if "." in kind)
    assert snippets >= 25
    assert report["received"] == sum(report["expected"].values())


def test_the_api_fields_check_accepts_every_model_wagtails_api_accepts(report):
    assert report["property_entry_errors"] == []


def test_the_mapping_self_test_finds_no_problem_and_tries_every_page_model(report):
    assert report["self_test_error"] == ""
    rows = {}
    for line in report["self_test"].splitlines()[1:]:
        if not line.strip():
            break
        label, kind, tried, ok, skipped, problems = line.split()[:6]
        rows[label] = (kind, int(tried), int(ok), int(skipped), int(problems))
    assert {problems for *_rest, problems in rows.values()} == {0}
    # Every page model the test bed created a page of has a line, and so do the media models.
    assert set(report["created_pages"]) <= set(rows)
    assert rows["wagtailimages.Image"][0] == "image"
    assert rows["wagtaildocs.Document"][0] == "document"
    # The page outside every site is skipped (it would be deleted), not a problem.
    assert sum(skipped for *_rest, skipped, _problems in rows.values()) == 1
    print(f"\n{report['self_test']}")  # noqa: T201 (the table the closing note gives)


def test_api_fields_with_serializers_render_as_wagtails_api_does(report):
    pages = report["created_pages"]
    entity = report["entities"][f"page-{pages['demosite.BlogEntryPage']}"]
    properties = entity["properties"]
    # APIField("feed_image_thumbnail", serializer=ImageRenditionField("fill-300x300",
    # source="feed_image")): the rendition Wagtail's API describes.
    thumbnail = properties["feed_image_thumbnail"]
    assert thumbnail["width"] == thumbnail["height"] == 300
    assert thumbnail["url"].startswith("/media/images/another.")
    assert thumbnail["full_url"].endswith(thumbnail["url"])
    assert thumbnail["alt"] == "Another image"
    # Child relations use the child model's api_fields, properties included ("link").
    assert set(properties["related_links"][0]) == {
        "title",
        "link",
        "link_external",
        "link_page",
        "link_document",
    }


def test_uuid_and_string_primary_key_snippets_arrive(report):
    entities = report["entities"]
    uuid_ids = [i for i in entities if i.startswith("tests.uuidsnippetwithrelations-")]
    assert len(uuid_ids) == 1
    assert entities[uuid_ids[0]]["properties"]["display_text"] == "Testbed (Testbed)"
    assert any(i.startswith("tests.advertwithcustomuuidprimarykey-") for i in entities)
    assert any(i.startswith("tests.advertwithcustomprimarykey-") for i in entities)


def test_translations_arrive_and_point_at_each_other(report):
    entities = report["entities"]
    # Every created page and every translatable snippet has a French translation.
    assert len(report["translated"]) >= len(report["created_pages"]) + 2
    for origin_id, translation_pk in report["translated"].items():
        prefix = origin_id.partition("-")[0]
        translation_id = f"{prefix}-{translation_pk}"
        original, translation = entities[origin_id], entities[translation_id]
        assert original["properties"]["meta"]["locale"] == "en"
        assert translation["properties"]["meta"]["locale"] == "fr"
        assert original["properties"]["meta"]["translations"] == [translation_id]
        assert translation["properties"]["meta"]["translations"] == [origin_id]
