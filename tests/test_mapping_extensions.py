"""
Developers shape what is sent: converters, mappers and guards named in settings, per-model
field lists, and the unknown-field policy; pre-flight validation stops broken entities.
"""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from wagtail.models import Page

from enterspeed_sync.capture.fanout import queue_page_job
from enterspeed_sync.capture.outbox import pause_sync
from enterspeed_sync.diagnostics.inspection import inspect_origin_id
from enterspeed_sync.exceptions import MappingError
from enterspeed_sync.guards import BaseGuard
from enterspeed_sync.mapping import (
    BaseBlockConverter,
    BaseFieldConverter,
    PageMapper,
    base,
    get_mapper,
)
from enterspeed_sync.models import EnterspeedJob, JobType
from enterspeed_sync.processing.runner import process_pending_jobs
from tests.content import build_content_site
from tests.testapp.models import BlogPage, CustomPropertiesPage, FieldsPage


class DayParts(BaseFieldConverter):
    def can_convert(self, field):
        return getattr(field, "get_internal_type", lambda: "")() == "DateField"

    def convert(self, obj, field, mapper):
        value = getattr(obj, field.attname)
        return {"year": value.year, "month": value.month} if value else None


class HexBinary(BaseFieldConverter):
    def can_convert(self, field):
        return getattr(field, "get_internal_type", lambda: "")() == "BinaryField"

    def convert(self, obj, field, mapper):
        value = getattr(obj, field.attname)
        return bytes(value).hex() if value is not None else None


class UpperHeadings(BaseBlockConverter):
    def can_convert(self, block):
        return block.name == "heading"

    def convert(self, block, value, mapper):
        return value.upper()


class TeaserMapper(PageMapper):
    def get_type(self):
        return "teaser"

    def get_base_properties(self):
        return {**super().get_base_properties(), "teaser": f"Read {self.obj.title}"}


class NoDraftsInTitleGuard(BaseGuard):
    key = "no_wip"

    def get_veto_reason(self, obj, mapper):
        if "WIP" in getattr(obj, "title", ""):
            return "Work in progress stays out of Enterspeed."
        return None


def settings_with(standin=None, **extra):
    base = {"API_KEY": "source-tests", "BASE_URL": standin.url if standin else "http://127.0.0.1:9"}
    return override_settings(ENTERSPEED_SYNC={**base, **extra})


@pytest.fixture
def content_site(db, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return build_content_site()


def fields_page_properties():
    return get_mapper(FieldsPage.objects.get(pk=8002)).to_entity()["properties"]


def test_field_converter_from_settings_goes_first(content_site, caplog):
    base._reported_unknown_fields.clear()
    assert fields_page_properties()["day"] == "2026-11-22"
    assert "checksum" not in fields_page_properties()  # no converter knows BinaryField
    unknown = [r for r in caplog.records if "FieldsPage.checksum" in r.getMessage()]
    assert len(unknown) == 1  # reported once, not on every mapping
    with settings_with(FIELD_CONVERTERS=[f"{__name__}.DayParts", f"{__name__}.HexBinary"]):
        properties = fields_page_properties()
    assert properties["day"] == {"year": 2026, "month": 11}
    assert properties["checksum"] == "0001"


def test_block_converter_from_settings_goes_first(content_site):
    with settings_with(BLOCK_CONVERTERS=[f"{__name__}.UpperHeadings"]):
        body = get_mapper(Page.objects.get(pk=8004).specific).to_entity()["properties"]["body"]
    assert body[0] == {"type": "heading", "id": body[0]["id"], "value": "EVERY BLOCK"}
    section = next(block for block in body if block["type"] == "section")
    assert section["value"][0]["value"] == "INSIDE"  # nested blocks too


def test_mapper_from_settings_covers_subclasses(content_site):
    with settings_with(MAPPERS={"wagtailcore.Page": f"{__name__}.TeaserMapper"}):
        entity = get_mapper(FieldsPage.objects.get(pk=8002)).to_entity()
    assert entity["type"] == "teaser"
    assert entity["properties"]["teaser"] == "Read Fields"
    assert entity["properties"]["text"] == "Plain text"


def test_model_level_precedence(content_site):
    api = get_mapper(Page.objects.get(pk=8005).specific).to_entity()["properties"]
    assert api["body"] == "Shown through api_fields"
    assert api["summary"] == "Shown thro"
    assert "internal_note" not in api
    custom = get_mapper(CustomPropertiesPage.objects.get(pk=8006)).to_entity()["properties"]
    assert set(custom) == {"headline", "stars", "meta"}


def test_unknown_field_policy_fail_fails_the_job(content_site, standin):
    with settings_with(standin, UNKNOWN_FIELDS="fail"):
        with pytest.raises(MappingError, match=r"FieldsPage\.checksum \(BinaryField\)"):
            fields_page_properties()
        queue_page_job(FieldsPage.objects.get(pk=8002), JobType.PUBLISH)
        process_pending_jobs()
    job = EnterspeedJob.objects.get()
    assert job.state == "failed"
    assert "FieldsPage.checksum (BinaryField)" in job.error
    assert standin.requests == []


def test_guard_from_settings_vetoes_and_deletes(content_site, standin):
    page = FieldsPage.objects.get(pk=8002)
    with settings_with(standin, GUARDS=[f"{__name__}.NoDraftsInTitleGuard"]):
        queue_page_job(page, JobType.PUBLISH)
        process_pending_jobs()
        assert "page-8002" in standin.entities
        page.title = "Fields WIP"
        with pause_sync():
            page.save_revision().publish()
        queue_page_job(page, JobType.PUBLISH)
        process_pending_jobs()
        assert "page-8002" not in standin.entities  # the veto deleted what was there
        inspection = inspect_origin_id("page-8002")
    assert inspection.action == "delete"
    assert "Work in progress" in inspection.reason and "no_wip" in inspection.reason


def test_default_guard_deletes_unroutable_pages(content_site, standin):
    with pause_sync():
        orphan = Page.objects.get(depth=1).add_child(
            instance=BlogPage(title="Orphan", slug="orphan")
        )
    with settings_with(standin):
        queue_page_job(orphan, JobType.PUBLISH)
        process_pending_jobs()
    assert [(r.method, r.origin_ids) for r in standin.requests] == [
        ("DELETE", [f"page-{orphan.pk}"])
    ]
    assert not EnterspeedJob.objects.exists()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, "properties.1st"),
        ({"MAX_PAYLOAD_BYTES": 200}, "largest properties: headline"),
        ({"MAX_PROPERTIES": 2}, "3 properties, more than the limit of 2"),
    ],
)
def test_preflight_validation_fails_the_job_before_any_request(
    content_site, standin, monkeypatch, extra, expected
):
    def properties(self, mapper):
        return {"headline": "x" * 300, "1st": True}

    monkeypatch.setattr(CustomPropertiesPage, "get_enterspeed_properties", properties)
    with settings_with(standin, **extra):
        queue_page_job(CustomPropertiesPage.objects.get(pk=8006), JobType.PUBLISH)
        process_pending_jobs()
    job = EnterspeedJob.objects.get()
    assert job.state == "failed"
    assert expected in job.error
    assert "page-8006" in job.error
    assert standin.requests == []


def test_inspect_command_prints_the_entity(content_site):
    out = StringIO()
    call_command("enterspeed_inspect", "image-7001", stdout=out)
    image = type(content_site["image"]).objects.get(pk=7001)
    assert json.loads(out.getvalue()) == get_mapper(image).to_entity()


def test_inspect_command_reports_deletes_and_unknown_ids(content_site):
    Page.objects.filter(pk=8006).update(live=False)
    err = StringIO()
    call_command("enterspeed_inspect", "page-8006", stdout=StringIO(), stderr=err)
    assert "page-8006 would be deleted: It is not published." in err.getvalue()
    with pytest.raises(CommandError, match="names no page, image, document or synced snippet"):
        call_command("enterspeed_inspect", "testapp.supplier-7501")
