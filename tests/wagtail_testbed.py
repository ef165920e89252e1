"""
A test bed we did not write: Wagtail's own test project (``wagtail.test.testapp`` and the apps
``wagtail.test.settings`` installs), with enterspeed_sync added. It loads Wagtail's fixture,
creates and publishes one page of every page model Wagtail can create and one object of every
snippet model that has none, then seeds and processes everything against the ingest stand-in
over loopback and reports what arrived::

    DJANGO_SETTINGS_MODULE=tests.wagtail_testapp_settings python -m tests.wagtail_testbed

prints a JSON report and exits 0 when every job succeeded and every page, image, document and
snippet arrived and passes the stand-in's contract validation. ``tests/test_wagtail_testbed.py``
runs it in a subprocess (its INSTALLED_APPS differ from the suite's).

To add a step, use ``testbed_project()``: it yields a ready project (migrated test database,
fixture, content) with ``ENTERSPEED_SYNC`` pointed at a running stand-in, and removes the
database afterwards::

    with testbed_project() as bed:
        report = sync_and_verify(bed)
        call_command("enterspeed_inspect", "--all-models")
"""

from __future__ import annotations

import datetime
import decimal
import io
import json
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

SETTINGS_MODULE = "tests.wagtail_testapp_settings"
FIXTURES = ["test.json"]
# Files the fixture's images and documents name; "missing.jpg" is left missing on purpose
# (Wagtail's fixture calls that image "A missing image").
FIXTURE_FILES = ("original_images/another.jpg", "documents/test.pdf", "documents/another_test.pdf")


class CannotFill(Exception):
    """No generic value for a required field or block."""


@dataclass
class TestBed:
    """A ready project: what was created, what was skipped and why, and the stand-in."""

    standin: Any
    created_pages: dict[str, int] = field(default_factory=dict)  # model label → page id
    existing_pages: list[str] = field(default_factory=list)  # page models the fixture has
    skipped_pages: dict[str, str] = field(default_factory=dict)  # model label → reason
    created_snippets: dict[str, str] = field(default_factory=dict)  # model label → pk
    skipped_snippets: dict[str, str] = field(default_factory=dict)


# Project setup ------------------------------------------------------------------------------


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    import django

    django.setup()


@contextmanager
def testbed_project() -> Iterator[TestBed]:
    """A migrated test database with Wagtail's fixture and content, and a running stand-in."""
    setup_django()
    from django.conf import settings
    from django.db import connection
    from django.test import override_settings
    from django.test.utils import setup_test_environment, teardown_test_environment

    from enterspeed_sync.testing import IngestStandIn

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        with IngestStandIn(api_keys=["source-testbed"]) as standin:
            sync_settings = {**settings.ENTERSPEED_SYNC, "BASE_URL": standin.url}
            with override_settings(ENTERSPEED_SYNC=sync_settings):
                bed = TestBed(standin=standin)
                load_fixture_and_media()
                create_content(bed)
                yield bed
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def load_fixture_and_media() -> None:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.core.management import call_command

    from enterspeed_sync.jobs import pause_sync

    with pause_sync():
        call_command("loaddata", *FIXTURES, verbosity=0)
    for name in FIXTURE_FILES:
        data = _jpeg_bytes() if name.endswith(".jpg") else b"%PDF-1.4\n%%EOF\n"
        default_storage.save(name, ContentFile(data))


def _jpeg_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (1000, 1000), (200, 120, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def create_content(bed: TestBed) -> None:
    """One published page of every creatable page model, one object of every empty snippet."""
    from enterspeed_sync.jobs import pause_sync
    from enterspeed_sync.models import EnterspeedJob

    with pause_sync():
        create_pages(bed)
        create_snippets(bed)
    EnterspeedJob.objects.all().delete()


def create_pages(bed: TestBed) -> None:
    from django.core.exceptions import ValidationError
    from wagtail.models import Page, get_page_models

    models = [model for model in get_page_models() if model is not Page]
    existing = {
        model for model in models if model.objects.filter(depth__gt=1).exists()
    }
    bed.existing_pages = sorted(model._meta.label for model in existing)
    remaining = [model for model in models if model.is_creatable]
    for model in models:
        if not model.is_creatable:
            bed.skipped_pages[model._meta.label] = "is_creatable is False"
    errors: dict[str, str] = {}
    # Some models can only be created under a page of a model created in an earlier round.
    while remaining:
        progress = False
        for model in list(remaining):
            parents = Page.objects.filter(depth__gt=1).order_by("path").specific()
            parent = next((p for p in parents if model.can_create_at(p)), None)
            if parent is None:
                errors[model._meta.label] = "no page it can be created under"
                continue
            try:
                page = build_page(model, parent)
            except (CannotFill, ValidationError) as e:
                errors[model._meta.label] = f"{type(e).__name__}: {e}"
                remaining.remove(model)
                continue
            page.save_revision().publish()
            bed.created_pages[model._meta.label] = page.pk
            errors.pop(model._meta.label, None)
            remaining.remove(model)
            progress = True
        if not progress:
            break
    for model in remaining:
        errors.setdefault(model._meta.label, "no page it can be created under")
    for label, reason in errors.items():
        if label not in bed.created_pages:
            bed.skipped_pages[label] = reason


def build_page(model, parent):
    """Save a new ``model`` page under ``parent``, with every required field filled."""
    page = model(title=f"{model._meta.verbose_name} page", slug=f"testbed-{model._meta.model_name}")
    fill_required_fields(page)
    parent.add_child(instance=page)  # Page.save() runs full_clean()
    return page


def create_snippets(bed: TestBed) -> None:
    from django.core.exceptions import ValidationError
    from django.db import transaction

    from enterspeed_sync.mapping import get_synced_snippet_models

    for model in get_synced_snippet_models():
        label = model._meta.label
        if model._default_manager.exists():
            continue
        obj = model()
        try:
            with transaction.atomic():
                fill_required_fields(obj)
                obj.full_clean()
                obj.save()
        except (CannotFill, ValidationError) as e:
            bed.skipped_snippets[label] = f"{type(e).__name__}: {e}"
            continue
        bed.created_snippets[label] = str(obj.pk)


# Generic values -----------------------------------------------------------------------------


def fill_required_fields(obj) -> None:
    """Give every field a value that needs one (not blank, no default)."""
    from django.db import models
    from wagtail.models import Page

    page_fields = {f.name for f in Page._meta.get_fields()}
    for model_field in obj._meta.concrete_fields:
        if (
            model_field.primary_key
            or (isinstance(obj, Page) and model_field.name in page_fields)
            or model_field.has_default()
            or (model_field.blank and not isinstance(model_field, models.ForeignKey))
            or (isinstance(model_field, models.ForeignKey) and model_field.null)
            or getattr(model_field, "auto_now", False)
            or getattr(model_field, "auto_now_add", False)
            or getattr(model_field, "parent_link", False)
            or (isinstance(model_field, models.OneToOneField) and model_field.remote_field.parent_link)
        ):
            continue
        setattr(obj, model_field.attname if not model_field.is_relation else model_field.name,
                value_for_field(model_field))


def value_for_field(model_field):
    from django.db import models
    from wagtail.fields import RichTextField, StreamField

    if model_field.choices:
        for value, _label in model_field.flatchoices:
            if value not in ("", None):
                return value
    if isinstance(model_field, models.ForeignKey):
        return related_object(model_field.related_model)
    if isinstance(model_field, RichTextField):
        return "<p>Rich text from the test bed.</p>"
    if isinstance(model_field, StreamField):
        return stream_value(model_field.stream_block)
    if isinstance(model_field, models.DateTimeField):
        return datetime.datetime(2026, 1, 2, 12, 0, tzinfo=datetime.UTC)
    if isinstance(model_field, models.DateField):
        return datetime.date(2026, 1, 2)
    if isinstance(model_field, models.TimeField):
        return datetime.time(12, 0)
    if isinstance(model_field, models.DurationField):
        return datetime.timedelta(minutes=5)
    if isinstance(model_field, models.DecimalField):
        return decimal.Decimal(1).scaleb(-model_field.decimal_places) * 100
    if isinstance(model_field, models.FloatField):
        return 1.5
    if isinstance(model_field, models.IntegerField):
        return 1
    if isinstance(model_field, models.BooleanField):
        return True
    if isinstance(model_field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(model_field, models.EmailField):
        return "testbed@example.com"
    if isinstance(model_field, models.URLField):
        return "https://example.com/testbed"
    if isinstance(model_field, models.SlugField):
        return "testbed"
    if isinstance(model_field, models.GenericIPAddressField):
        return "127.0.0.1"
    if isinstance(model_field, models.JSONField):
        return {"testbed": True}
    if isinstance(model_field, models.CharField | models.TextField):
        return "Testbed"[: model_field.max_length or None]
    raise CannotFill(f"no generic value for {model_field.__class__.__name__} {model_field.name}")


def related_object(model):
    from wagtail.models import Page

    if issubclass(model, Page):
        found = model.objects.filter(depth__gt=1).first()
    else:
        found = model._default_manager.first()
    if found is None:
        if issubclass(model, Page):
            raise CannotFill(f"no {model._meta.label} page to point at")
        found = model()
        fill_required_fields(found)
        found.save()
    return found


def stream_value(stream_block) -> list[dict[str, Any]]:
    """One block of each child type that has a generic value (at least one)."""
    raw = []
    for name, child in stream_block.child_blocks.items():
        try:
            raw.append({"type": name, "value": raw_block_value(child)})
        except CannotFill:
            continue
    if not raw:
        raise CannotFill(f"no block of {type(stream_block).__name__} has a generic value")
    return stream_block.to_python(raw)


def raw_block_value(block) -> Any:
    """The JSON a block stores, for one generic value."""
    from wagtail import blocks
    from wagtail.documents.blocks import DocumentChooserBlock
    from wagtail.images.blocks import ImageBlock, ImageChooserBlock
    from wagtail.snippets.blocks import SnippetChooserBlock

    if isinstance(block, ImageBlock):
        return {"image": raw_block_value(ImageChooserBlock()), "alt_text": "Alt", "decorative": False}
    if isinstance(block, blocks.StructBlock):
        return {name: raw_block_value(child) for name, child in block.child_blocks.items()}
    if isinstance(block, blocks.ListBlock):
        return [raw_block_value(block.child_block)]
    if isinstance(block, blocks.BaseStreamBlock):
        return [
            {"type": name, "value": raw_block_value(child)}
            for name, child in list(block.child_blocks.items())[:1]
        ]
    if isinstance(block, ImageChooserBlock | DocumentChooserBlock | SnippetChooserBlock):
        return related_object(block.model_class).pk
    if isinstance(block, blocks.PageChooserBlock):
        return related_object(block.target_model).pk
    if isinstance(block, blocks.ChoiceBlock | blocks.MultipleChoiceBlock):
        first = next(value for value, _label in block.field.choices if value not in ("", None))
        return [first] if isinstance(block, blocks.MultipleChoiceBlock) else first
    if isinstance(block, blocks.RichTextBlock):
        return "<p>Rich text block</p>"
    if isinstance(block, blocks.BooleanBlock):
        return True
    if isinstance(block, blocks.DateTimeBlock):
        return "2026-01-02T12:00:00Z"
    if isinstance(block, blocks.DateBlock):
        return "2026-01-02"
    if isinstance(block, blocks.TimeBlock):
        return "12:00:00"
    if isinstance(block, blocks.IntegerBlock | blocks.FloatBlock | blocks.DecimalBlock):
        return 1
    if isinstance(block, blocks.EmailBlock):
        return "testbed@example.com"
    if isinstance(block, blocks.URLBlock):
        return "https://example.com/testbed"
    if isinstance(block, blocks.FieldBlock) and not block.required:
        return block.get_prep_value(block.get_default())
    if isinstance(block, blocks.CharBlock | blocks.TextBlock | blocks.RawHTMLBlock | blocks.BlockQuoteBlock | blocks.RegexBlock):
        return "Testbed"
    if isinstance(block, blocks.StaticBlock):
        return None
    raise CannotFill(f"no generic value for {type(block).__name__}")


# The sync -----------------------------------------------------------------------------------


def expected_origin_ids() -> dict[str, str]:
    """Origin id → what it is, for every live page, image, document and synced snippet."""
    from wagtail.models import DraftStateMixin, Page

    from enterspeed_sync.mapping import get_origin_id, get_synced_snippet_models
    from enterspeed_sync.mapping.identity import get_document_model, get_image_model

    expected = {}
    for page in Page.objects.filter(depth__gt=1).live().specific():
        expected[get_origin_id(page)] = page.specific_class._meta.label
    for model in [get_image_model(), get_document_model(), *get_synced_snippet_models()]:
        objects = model._default_manager.all()
        if issubclass(model, DraftStateMixin):
            objects = objects.filter(live=True)
        for obj in objects:
            expected[get_origin_id(obj)] = model._meta.label
    return expected


def sync_and_verify(bed: TestBed) -> dict[str, Any]:
    """Seed, process, and compare what the stand-in holds with what the site has."""
    from django.core.management import call_command

    from enterspeed_sync.models import EnterspeedJob
    from enterspeed_sync.testing import validate_entity

    out = io.StringIO()
    call_command("enterspeed_seed", stdout=out)
    call_command("enterspeed_process", stdout=out)
    expected = expected_origin_ids()
    received = bed.standin.entities
    # A job that succeeded is deleted: whatever is left failed or never ran.
    failed = {job.origin_id: f"{job.state}: {job.error}" for job in EnterspeedJob.objects.all()}
    invalid = {
        origin_id: errors
        for origin_id, entity in received.items()
        if (errors := validate_entity(entity, max_properties=bed.standin.max_properties))
    }
    kinds: dict[str, int] = {}
    for origin_id in expected:
        kind = origin_id.split("-", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return {
        "page_models": len(bed.created_pages) + len(bed.skipped_pages),
        "created_pages": bed.created_pages,
        "existing_page_models": bed.existing_pages,
        "skipped_pages": bed.skipped_pages,
        "created_snippets": bed.created_snippets,
        "skipped_snippets": bed.skipped_snippets,
        "expected": kinds,
        "received": len(received),
        "failed_jobs": failed,
        "missing": sorted(set(expected) - set(received)),
        "invalid": invalid,
    }


def main() -> int:
    with testbed_project() as bed:
        report = sync_and_verify(bed)
    print(json.dumps(report, indent=2, sort_keys=True, default=str))  # noqa: T201
    ok = not (report["failed_jobs"] or report["missing"] or report["invalid"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
