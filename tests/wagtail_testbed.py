"""
A test bed we did not write: Wagtail's own test project (``wagtail.test.testapp`` and the apps
``wagtail.test.settings`` installs), with enterspeed_sync added. It loads Wagtail's fixture,
creates and publishes one page of every page model Wagtail can create and one object of every
snippet model that has none, translates them all into French, then seeds and processes
everything against the ingest stand-in over loopback and reports what arrived::

    DJANGO_SETTINGS_MODULE=tests.wagtail_testapp_settings python -m tests.wagtail_testbed

prints a JSON report and exits 0 when every job succeeded and every page, image, document and
snippet arrived and passes the stand-in's contract validation. ``tests/test_wagtail_testbed.py``
runs it in a subprocess (its INSTALLED_APPS differ from the suite's).

To add a step, use ``testbed_project()``: it yields a ready project (a test database, the
fixture, the content) with ``ENTERSPEED_SYNC`` pointed at a running stand-in, and removes the
database and media afterwards::

    with testbed_project() as bed:
        report = sync_and_verify(bed)
"""

from __future__ import annotations

import datetime
import decimal
import io
import json
import os
import shutil
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
class ReadyProject:
    """A ready project: what was created, what was skipped and why, and the stand-in."""

    standin: Any
    created_pages: dict[str, int] = field(default_factory=dict)  # model label → page id
    existing_pages: list[str] = field(default_factory=list)  # page models the fixture has
    skipped_pages: dict[str, str] = field(default_factory=dict)  # model label → reason
    # Pages whose optional fields could not all be filled: only the required ones are.
    minimal_pages: list[str] = field(default_factory=list)
    created_snippets: dict[str, str] = field(default_factory=dict)  # model label → pk
    translated: dict[str, int] = field(default_factory=dict)  # origin id → its translation's pk
    skipped_snippets: dict[str, str] = field(default_factory=dict)


# Project setup ------------------------------------------------------------------------------


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    import django

    django.setup()


@contextmanager
def testbed_project() -> Iterator[ReadyProject]:
    """
    A test database with Wagtail's fixture and content, and a running stand-in. The tables
    are made from the models (``MIGRATION_MODULES`` in the settings): Wagtail's ~300
    migrations would take a minute.
    """
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
                bed = ReadyProject(standin=standin)
                load_fixture_and_media()
                create_content(bed)
                yield bed
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
        shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)


def load_fixture_and_media() -> None:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.core.management import call_command

    from enterspeed_sync.capture.outbox import pause_sync

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


def create_content(bed: ReadyProject) -> None:
    """One published page of every creatable page model, one object of every empty snippet."""
    from enterspeed_sync.capture.outbox import pause_sync
    from enterspeed_sync.models import EnterspeedJob

    with pause_sync():
        create_pages(bed)
        create_snippets(bed)
        translate_content(bed)
    EnterspeedJob.objects.all().delete()


#: The locale every created page and translatable snippet gets a translation in.
TRANSLATION_LANGUAGE = "fr"

#: Why a page model is skipped when Wagtail itself cannot create it.
NOT_CREATABLE = "is_creatable is False"
NO_PARENT_TYPE = "parent_page_types allows no page type"


def create_pages(bed: ReadyProject) -> None:
    from wagtail.models import Page, get_page_models

    models = [model for model in get_page_models() if model is not Page]
    bed.existing_pages = sorted(
        model._meta.label for model in models if model.objects.filter(depth__gt=1).exists()
    )
    remaining = []
    for model in models:
        if not model.is_creatable:
            bed.skipped_pages[model._meta.label] = NOT_CREATABLE
        elif not model.allowed_parent_page_models():
            bed.skipped_pages[model._meta.label] = NO_PARENT_TYPE
        else:
            remaining.append(model)
    # Some models can only be created under a page of a model created in an earlier round.
    progress = True
    while remaining and progress:
        progress = False
        parents = list(Page.objects.filter(depth__gt=1).order_by("path").specific())
        for model in list(remaining):
            parent = next((p for p in parents if model.can_create_at(p)), None)
            if parent is None:
                continue
            remaining.remove(model)
            try:
                page, complete = build_page(model, parent)
            except Exception as e:  # reported, and the test fails on it
                bed.skipped_pages[model._meta.label] = f"{type(e).__name__}: {e}"
                continue
            if not complete:
                bed.minimal_pages.append(model._meta.label)
            page.save_revision().publish()
            bed.created_pages[model._meta.label] = page.pk
            parents.append(page)
            progress = True
    for model in remaining:
        bed.skipped_pages[model._meta.label] = "no page it can be created under"


def build_page(model, parent) -> tuple[Any, bool]:
    """
    Save a new ``model`` page under ``parent``: every field filled, with one child per
    inline relation; if that does not validate, only the fields that need a value.
    Returns the page and whether every field could be filled.
    """
    from django.db import transaction

    label = model._meta.label_lower.replace(".", "-")
    try:
        with transaction.atomic():
            page = model(title=f"{model._meta.verbose_name} page", slug=f"testbed-{label}")
            fill_fields(page, optional=True)
            add_children(page)
            parent.add_child(instance=page)  # Page.save() runs full_clean()
            return page, True
    except Exception:  # noqa: S110 (retried with fewer fields below)
        pass
    with transaction.atomic():
        page = model(title=f"{model._meta.verbose_name} page", slug=f"testbed-{label}")
        fill_fields(page, optional=False)
        parent.add_child(instance=page)
        return page, False


def add_children(obj) -> None:
    """One valid child for each ``ParentalKey`` relation (inline panel), where one can be made."""
    from modelcluster.models import get_all_child_relations
    from taggit.models import ItemBase

    for relation in get_all_child_relations(type(obj)):
        if issubclass(relation.related_model, ItemBase):
            continue
        child = relation.related_model()
        try:
            fill_fields(child, optional=True, exclude={relation.field.name})
            child.full_clean(exclude=[relation.field.name])
        except Exception:  # noqa: S112 (the page goes without this child)
            continue
        setattr(obj, relation.get_accessor_name(), [child])


def create_snippets(bed: ReadyProject) -> None:
    """One object of every synced snippet model the fixture has none of."""
    from django.db import transaction

    from enterspeed_sync.mapping import get_synced_snippet_models

    for model in get_synced_snippet_models():
        if model._default_manager.exists():
            continue
        error = None
        for optional in (True, False):
            try:
                with transaction.atomic():
                    obj = model()
                    fill_fields(obj, optional=optional)
                    if optional:
                        add_children(obj)
                    obj.full_clean()
                    obj.save()
            except Exception as e:  # reported, and the test fails on it
                error = e
                continue
            bed.created_snippets[model._meta.label] = str(obj.pk)
            break
        else:
            bed.skipped_snippets[model._meta.label] = f"{type(error).__name__}: {error}"


def translate_content(bed: ReadyProject) -> None:
    """A published French translation of every created page and translatable snippet."""
    from django.db import transaction
    from wagtail.models import Locale, Page, TranslatableMixin

    from enterspeed_sync.mapping import get_origin_id, get_synced_snippet_models

    french = Locale.objects.get_or_create(language_code=TRANSLATION_LANGUAGE)[0]
    originals = [Page.objects.get(pk=pk).specific for pk in bed.created_pages.values()]
    originals += [
        obj
        for model in get_synced_snippet_models()
        if issubclass(model, TranslatableMixin)
        for obj in model._default_manager.all()
    ]
    for original in originals:
        with transaction.atomic():
            if isinstance(original, Page):
                translation = original.copy_for_translation(french, copy_parents=True)
                translation.save_revision().publish()
            else:
                translation = original.copy_for_translation(french)
                translation.save()
        bed.translated[get_origin_id(original)] = translation.pk


# Generic values -----------------------------------------------------------------------------


def fill_fields(obj, *, optional: bool, exclude=frozenset(), depth: int = 0) -> None:
    """
    A value for every field that needs one (not blank, no default), and with ``optional``
    for every blank field without a default too. Page fields are left to Wagtail.
    """
    from django.db import models
    from wagtail.models import Page

    page_fields = {f.name for f in Page._meta.get_fields()} if isinstance(obj, Page) else set()
    for model_field in obj._meta.concrete_fields:
        if (
            model_field.name in exclude
            or model_field.name in page_fields
            or isinstance(model_field, models.AutoField)
            or model_field.has_default()
            or getattr(model_field, "auto_now", False)
            or getattr(model_field, "auto_now_add", False)
            or (model_field.one_to_one and model_field.remote_field.parent_link)
        ):
            continue
        needed = not (model_field.blank or model_field.null)
        if not needed and not optional:
            continue
        try:
            value = value_for_field(model_field, depth)
        except CannotFill:
            if needed:
                raise
            continue
        setattr(obj, model_field.name, value)


def value_for_field(model_field, depth: int = 0):
    from django.core.exceptions import ValidationError
    from django.core.files.base import ContentFile
    from django.db import models
    from wagtail.fields import RichTextField, StreamField

    if model_field.choices:
        for value, _label in model_field.flatchoices:
            if value not in ("", None):
                return value
    if isinstance(model_field, models.ForeignKey):  # OneToOneField too
        return related_object(model_field.related_model, depth + 1, new=model_field.one_to_one)
    if isinstance(model_field, models.ImageField):
        return ContentFile(_jpeg_bytes(), name="testbed.jpg")
    if isinstance(model_field, models.FileField):
        return ContentFile(b"A file from the test bed.", name="testbed.txt")
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
        return decimal.Decimal(1)
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
        # The first text the field's validators accept (an email address for a "to" field).
        for text in ("Testbed", "testbed@example.com", "https://example.com/testbed", "1"):
            value = text[: model_field.max_length or None]
            try:
                model_field.run_validators(value)
            except ValidationError:
                continue
            return value
    raise CannotFill(f"no generic value for {type(model_field).__name__} {model_field.name}")


def related_object(model, depth: int = 0, *, new: bool = False):
    """An existing object of ``model`` to point at, else (or with ``new``) a new one."""
    from wagtail.models import Page

    if depth > 3:
        raise CannotFill(f"{model._meta.label}: relations nest too deep")
    if issubclass(model, Page):
        found = model.objects.filter(depth__gt=1).order_by("path").first()
        if found is None:
            raise CannotFill(f"no {model._meta.label} page to point at")
        return found
    # The newest object: the fixture's first image is "A missing image" (no file).
    found = None if new else model._default_manager.order_by("-pk").first()
    if found is None:
        found = model()
        fill_fields(found, optional=False, depth=depth)
        found.save()
    return found


def stream_value(stream_block):
    """One block of every child type that has a generic value (at least one)."""
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
    from django import forms
    from wagtail import blocks
    from wagtail.contrib.table_block.blocks import TableBlock
    from wagtail.contrib.typed_table_block.blocks import TypedTableBlock
    from wagtail.documents.blocks import DocumentChooserBlock
    from wagtail.embeds.blocks import EmbedBlock
    from wagtail.images.blocks import ImageBlock, ImageChooserBlock
    from wagtail.snippets.blocks import SnippetChooserBlock

    if isinstance(block, ImageBlock):
        image = raw_block_value(ImageChooserBlock())
        return {"image": image, "alt_text": "Alt text", "decorative": False}
    if isinstance(block, TypedTableBlock):
        name, child = next(iter(block.child_blocks.items()))
        return {
            "columns": [{"type": name, "heading": "Column"}],
            "rows": [{"values": [raw_block_value(child)]}],
            "caption": "Table",
        }
    if isinstance(block, TableBlock):
        return {"data": [["Head"], ["Cell"]], "first_row_is_table_header": True}
    if isinstance(block, EmbedBlock):
        raise CannotFill("embeds are fetched from the internet")
    if isinstance(block, blocks.StructBlock):
        return {name: raw_block_value(child) for name, child in block.child_blocks.items()}
    if isinstance(block, blocks.ListBlock):
        return [raw_block_value(block.child_block)]
    if isinstance(block, blocks.BaseStreamBlock):
        name, child = next(iter(block.child_blocks.items()))
        return [{"type": name, "value": raw_block_value(child)}]
    if isinstance(block, ImageChooserBlock | DocumentChooserBlock | SnippetChooserBlock):
        return related_object(block.model_class).pk
    if isinstance(block, blocks.PageChooserBlock):
        return related_object(block.target_model).pk
    if isinstance(block, blocks.StaticBlock):
        return None
    if isinstance(block, blocks.RichTextBlock):
        return "<p>Rich text block</p>"
    if isinstance(block, blocks.ChoiceBlock | blocks.MultipleChoiceBlock):
        first = next(value for value, _label in block.field.choices if value not in ("", None))
        return [first] if isinstance(block, blocks.MultipleChoiceBlock) else first
    field = getattr(block, "field", None)
    form_values = (
        (forms.SplitDateTimeField, "2026-01-02T12:00:00Z"),
        (forms.DateTimeField, "2026-01-02T12:00:00Z"),
        (forms.DateField, "2026-01-02"),
        (forms.TimeField, "12:00:00"),
        (forms.BooleanField, True),
        (forms.IntegerField, 1),  # DecimalField and FloatField too
        (forms.EmailField, "testbed@example.com"),
        (forms.URLField, "https://example.com/testbed"),
        (forms.CharField, "Testbed"),  # text, regex, raw HTML, quotes
    )
    for form_class, value in form_values:
        if isinstance(field, form_class):
            return value
    raise CannotFill(f"no generic value for {type(block).__name__}")


# The sync -----------------------------------------------------------------------------------


def expected_origin_ids() -> tuple[dict[str, str], dict[str, str]]:
    """
    ``({origin id: model label}, {origin id: veto})``: every live page, image, document and
    synced snippet, split into those that should arrive and those a guard keeps out (a page
    below no site's root has no URL).
    """
    from wagtail.models import DraftStateMixin, Page

    from enterspeed_sync.guards import find_veto
    from enterspeed_sync.mapping import get_mapper, get_origin_id, get_synced_snippet_models
    from enterspeed_sync.mapping.identity import get_document_model, get_image_model

    objects = list(Page.objects.filter(depth__gt=1).live().specific())
    for model in [get_image_model(), get_document_model(), *get_synced_snippet_models()]:
        queryset = model._default_manager.all()
        if issubclass(model, DraftStateMixin):
            queryset = queryset.filter(live=True)
        objects += list(queryset)
    expected, vetoed = {}, {}
    for obj in objects:
        if veto := find_veto(obj, get_mapper(obj)):
            vetoed[get_origin_id(obj)] = str(veto)
        else:
            expected[get_origin_id(obj)] = type(obj)._meta.label
    return expected, vetoed


def sync_and_verify(bed: ReadyProject) -> dict[str, Any]:
    """Seed, process, and compare what the stand-in holds with what the site has."""
    from django.core.management import CommandError, call_command

    from enterspeed_sync.checks import check_property_entries
    from enterspeed_sync.models import EnterspeedJob
    from enterspeed_sync.testing import validate_entity

    # The site-wide mapping self-test first, as installation.md has users run it.
    self_test = io.StringIO()
    try:
        call_command("enterspeed_inspect", "--all-models", stdout=self_test)
        self_test_error = ""
    except CommandError as e:
        self_test_error = str(e)
    out = io.StringIO()
    call_command("enterspeed_seed", stdout=out)
    call_command("enterspeed_process", stdout=out)
    expected, vetoed = expected_origin_ids()
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
        "minimal_pages": bed.minimal_pages,
        "created_snippets": bed.created_snippets,
        "translated": bed.translated,
        "skipped_snippets": bed.skipped_snippets,
        "expected": kinds,
        "vetoed": vetoed,
        "received": len(received),
        "failed_jobs": failed,
        "missing": sorted(set(expected) - set(received)),
        "invalid": invalid,
        # The api_fields check on models we did not write: Wagtail's API takes them all.
        "property_entry_errors": [error.msg for error in check_property_entries()],
        "self_test": self_test.getvalue(),
        "self_test_error": self_test_error,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the test bed; write the report (with every entity received) to ``--report``."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", help="Write the JSON report here (default: stdout).")
    args = parser.parse_args(argv)
    with testbed_project() as bed:
        report = sync_and_verify(bed)
        report["entities"] = bed.standin.entities
    text = json.dumps(report, indent=2, sort_keys=True, default=str)
    if args.report:
        with open(args.report, "w") as file:
            file.write(text)
    else:
        print(text)  # noqa: T201
    ok = not (report["failed_jobs"] or report["missing"] or report["invalid"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
