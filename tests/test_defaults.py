"""
``enterspeed_sync.defaults`` is what settings.py imports: it must work before the app registry
is ready, agree with the classes it names, and every class-valued setting takes paths and
classes alike.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.test import override_settings
from wagtail.models import Page

from enterspeed_sync import defaults
from enterspeed_sync.guards import BaseGuard, get_guards
from enterspeed_sync.handlers import BaseJobHandler, get_handlers
from enterspeed_sync.mapping import BaseBlockConverter, BaseFieldConverter, BaseMapper, get_mapper
from enterspeed_sync.mapping.blocks import StructBlockConverter
from enterspeed_sync.mapping.fields import ScalarFieldConverter
from tests.content import build_content_site
from tests.fakes import NeverHandler
from tests.test_mapping_extensions import NoDraftsInTitleGuard, TeaserMapper, UpperHeadings
from tests.testapp.models import FieldsPage

ROOT = Path(__file__).resolve().parent.parent


def run_python(code, **env):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_defaults_import_nothing_from_django_or_wagtail():
    result = run_python(
        """
        import sys
        from enterspeed_sync.defaults import DEFAULT_GUARDS, DEFAULT_JOB_HANDLERS
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("django", "wagtail"))
        print(loaded)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


SETTINGS_MODULE = """
from tests.settings import *  # noqa: F403

from enterspeed_sync.defaults import (
    DEFAULT_BLOCK_CONVERTERS,
    DEFAULT_FIELD_CONVERTERS,
    DEFAULT_GUARDS,
    DEFAULT_JOB_HANDLERS,
)

ENTERSPEED_SYNC = {
    "API_KEY": "source-tests",
    "JOB_HANDLERS": ["tests.fakes.NeverHandler", *DEFAULT_JOB_HANDLERS],
    "GUARDS": [*DEFAULT_GUARDS],
}
"""


def test_settings_that_import_the_defaults_pass_manage_py_check(tmp_path):
    (tmp_path / "defaults_settings.py").write_text(SETTINGS_MODULE)
    result = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": f"{tmp_path}:{ROOT}",
            "DJANGO_SETTINGS_MODULE": "defaults_settings",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_old_names_still_work():
    from enterspeed_sync.guards import DEFAULT_GUARDS
    from enterspeed_sync.handlers import DEFAULT_JOB_HANDLERS
    from enterspeed_sync.mapping import DEFAULT_BLOCK_CONVERTERS, DEFAULT_FIELD_CONVERTERS

    assert DEFAULT_JOB_HANDLERS == list(defaults.DEFAULT_JOB_HANDLERS)
    assert DEFAULT_GUARDS == list(defaults.DEFAULT_GUARDS)
    assert DEFAULT_FIELD_CONVERTERS == list(defaults.DEFAULT_FIELD_CONVERTERS)
    assert DEFAULT_BLOCK_CONVERTERS == list(defaults.DEFAULT_BLOCK_CONVERTERS)


@pytest.mark.parametrize(
    ("paths", "base_class", "module"),
    [
        (defaults.DEFAULT_JOB_HANDLERS, BaseJobHandler, "enterspeed_sync.handlers"),
        (defaults.DEFAULT_GUARDS, BaseGuard, "enterspeed_sync.guards"),
        (defaults.DEFAULT_FIELD_CONVERTERS, BaseFieldConverter, "enterspeed_sync.mapping.fields"),
        (defaults.DEFAULT_BLOCK_CONVERTERS, BaseBlockConverter, "enterspeed_sync.mapping.blocks"),
    ],
)
def test_every_default_names_a_class_of_its_kind(paths, base_class, module):
    from django.utils.module_loading import import_string

    assert len(set(paths)) == len(paths)
    for path in paths:
        assert path.startswith(module)
        assert issubclass(import_string(path), base_class)


def test_every_built_in_converter_is_listed():
    """A converter added to fields.py or blocks.py but not to defaults.py would never run."""
    import inspect

    from enterspeed_sync.mapping import blocks, fields

    for module, base_class, listed in (
        (fields, BaseFieldConverter, defaults.DEFAULT_FIELD_CONVERTERS),
        (blocks, BaseBlockConverter, defaults.DEFAULT_BLOCK_CONVERTERS),
    ):
        concrete = {
            f"{module.__name__}.{name}"
            for name, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, base_class)
            and cls is not base_class
            and cls.__module__ == module.__name__
        }
        assert concrete == set(listed)


def test_handlers_and_guards_accept_classes():
    with override_settings(
        ENTERSPEED_SYNC={
            "API_KEY": "source-tests",
            "JOB_HANDLERS": [NeverHandler, *defaults.DEFAULT_JOB_HANDLERS],
            "GUARDS": [NoDraftsInTitleGuard, *defaults.DEFAULT_GUARDS],
        }
    ):
        assert [h.key for h in get_handlers()][:2] == ["never", "page_publish"]
        assert [g.key for g in get_guards()] == ["no_wip", "routable_page"]
        assert not [m for m in run_checks() if m.id and m.id.startswith("enterspeed_sync.")]


@pytest.fixture
def content_site(db, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return build_content_site()


def test_converters_and_mappers_accept_classes(content_site):
    with override_settings(
        ENTERSPEED_SYNC={
            "API_KEY": "source-tests",
            "BLOCK_CONVERTERS": [UpperHeadings],
            "FIELD_CONVERTERS": [ScalarFieldConverter],
            "MAPPERS": {"wagtailcore.Page": TeaserMapper},
        }
    ):
        body = get_mapper(Page.objects.get(pk=8004).specific).to_entity()["properties"]["body"]
        entity = get_mapper(FieldsPage.objects.get(pk=8002)).to_entity()
    assert body[0]["value"] == "EVERY BLOCK"
    assert entity["type"] == "teaser"


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"JOB_HANDLERS": ["tests.import_fails.Handler"]}, "enterspeed_sync.E003"),
        ({"JOB_HANDLERS": [42]}, "enterspeed_sync.E003"),
        ({"JOB_HANDLERS": ["NoDotsHere"]}, "enterspeed_sync.E003"),
        ({"JOB_HANDLERS": [StructBlockConverter]}, "enterspeed_sync.E004"),
        ({"GUARDS": ["tests.import_fails.Guard"]}, "enterspeed_sync.E009"),
        ({"FIELD_CONVERTERS": [NeverHandler]}, "enterspeed_sync.E009"),
        ({"MAPPERS": {"wagtailcore.Page": "tests.import_fails.Mapper"}}, "enterspeed_sync.E009"),
        ({"MAPPERS": {"wagtailcore.Page": BaseMapper}}, None),
    ],
)
def test_a_class_that_cannot_be_loaded_is_a_check_error(setting, expected):
    """Not a traceback: the error names the entry, the setting and what went wrong."""
    with override_settings(ENTERSPEED_SYNC={"API_KEY": "source-tests", **setting}):
        messages = [m for m in run_checks() if m.id and m.id.startswith("enterspeed_sync.E")]
    assert [m.id for m in messages] == ([expected] if expected else [])
    if expected == "enterspeed_sync.E003" and "import_fails" in str(setting):
        assert "RuntimeError: this module fails while it is imported" in messages[0].msg
