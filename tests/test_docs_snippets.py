"""
Every Python block in README.md and docs/*.md works when pasted (tests/docs_blocks.py has
the markers that say how each is used):

- settings blocks run in a fresh interpreter before Django is set up, as settings.py does,
  without any of the environment variables they read, and may not import Wagtail;
- urls blocks run with Django set up and must mount the operations API where it answers;
- every other block runs with Django set up, a test database and a live ingest stand-in
  (functions and classes it defines are defined, not called);
- compile blocks need something outside this repository and are only compiled.

Snippets import a few modules of the reader's own project; ``READER_MODULES`` stands in
for them with this suite's test app.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from unittest import mock

import pytest
from django.dispatch import Signal
from django.test import override_settings
from django.urls import clear_url_caches, include, path, resolve, reverse
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls

from enterspeed_sync.checks import check_api_urls_before_wagtail_admin
from enterspeed_sync.conf import DEFAULTS
from tests.docs_blocks import ROOT, documentation_files, read_blocks
from tests.testapp import models as testapp_models

BLOCKS = [
    block
    for doc in documentation_files()
    for block in read_blocks(doc)
    if block.lang in ("python", "py")
]


def blocks_of(kind: str):
    chosen = [block for block in BLOCKS if block.kind == kind]
    return pytest.mark.parametrize("block", chosen, ids=[block.name for block in chosen])


#: The settings of a new `wagtail start` project that snippets extend (`INSTALLED_APPS +=`).
SETTINGS_PRELUDE = {
    "INSTALLED_APPS": ["home", "search", "wagtail", "django.contrib.admin"],
    "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}},
}

RUN_SETTINGS = """
import json, sys
block_name, code, prelude = json.loads(sys.stdin.read())
namespace = {"__name__": "settings", **prelude}
exec(compile(code, block_name, "exec"), namespace)
print(json.dumps({
    "wagtail_imported": any(m.split(".")[0] == "wagtail" for m in sys.modules),
    "ENTERSPEED_SYNC": sorted(namespace.get("ENTERSPEED_SYNC", {})),
    "Q_CLUSTER": namespace.get("Q_CLUSTER"),
}))
"""


def run_settings_block(block) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_SETTINGS_MODULE", "NETLIFY_BUILD_HOOK", "CI_TOKEN")
        and not key.startswith("ENTERSPEED_")
    }
    result = subprocess.run(
        [sys.executable, "-c", RUN_SETTINGS],
        input=json.dumps([block.name, block.code, SETTINGS_PRELUDE]),
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{block.name} fails in settings.py:\n{result.stderr}"
    return json.loads(result.stdout)


@blocks_of("settings")
def test_settings_block_works_in_settings_py(block):
    outcome = run_settings_block(block)
    assert not outcome["wagtail_imported"], "settings must not import Wagtail"
    assert set(outcome["ENTERSPEED_SYNC"]) <= set(DEFAULTS), "unknown ENTERSPEED_SYNC keys"


def test_readme_and_installation_agree_on_q_cluster():
    clusters = {
        block.name: run_settings_block(block)["Q_CLUSTER"]
        for block in BLOCKS
        if block.kind == "settings" and "Q_CLUSTER" in block.code
    }
    assert {name.split(":")[0] for name in clusters} >= {"README.md", "docs/installation.md"}
    assert len({json.dumps(cluster, sort_keys=True) for cluster in clusters.values()}) == 1


@blocks_of("urls")
def test_urls_block_mounts_the_api_where_it_answers(block):
    # What a `wagtail start` project's urls.py holds when the block is pasted at its end.
    namespace = {
        "__name__": "urls",
        "urlpatterns": [
            path("admin/", include(wagtailadmin_urls)),
            path("", include(wagtail_urls)),
        ],
    }
    exec(compile(block.code, block.name, "exec"), namespace)  # noqa: S102 (the docs' own code)
    urlconf = types.ModuleType("pasted_urls")
    urlconf.urlpatterns = namespace["urlpatterns"]
    with override_settings(ROOT_URLCONF=urlconf):
        clear_url_caches()
        try:
            assert check_api_urls_before_wagtail_admin() == []
            assert "enterspeed_sync_api" in resolve(reverse("enterspeed_sync_api:health")).app_names
        finally:
            clear_url_caches()


READER_MODULES = {
    "blog.models": {"BlogPage": testapp_models.BlogPage},
    "shop.models": {"Product": testapp_models.Supplier},
}


@pytest.fixture
def reader_modules():
    modules = {}
    for name, attributes in READER_MODULES.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        modules[name] = module
        modules.setdefault(name.split(".")[0], types.ModuleType(name.split(".")[0]))
    with mock.patch.dict(sys.modules, modules):
        yield


@pytest.fixture
def receivers_disconnected_afterwards():
    """A snippet's @receiver must not outlive it (it would run in every later test)."""
    connected = []
    real_connect = Signal.connect

    def connect(signal, receiver, *args, **kwargs):
        connected.append((signal, receiver, kwargs.get("dispatch_uid")))
        return real_connect(signal, receiver, *args, **kwargs)

    with mock.patch.object(Signal, "connect", connect):
        yield
    for signal, receiver, dispatch_uid in connected:
        signal.disconnect(receiver, dispatch_uid=dispatch_uid)


@blocks_of("run")
def test_block_runs(block, db, standin, reader_modules, receivers_disconnected_afterwards):
    exec(compile(block.code, block.name, "exec"), {"__name__": "docs_snippet"})  # noqa: S102


@blocks_of("compile")
def test_block_compiles(block):
    compile(block.code, block.name, "exec")
