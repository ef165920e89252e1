"""The README's demo runs: `manage.py sandbox_demo --no-serve` syncs every page to the stand-in."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.cluster


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sandbox_demo_syncs_every_page(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ENTERSPEED_", "DJANGO_"))
    }
    port = free_port()
    env.update(
        DJANGO_SETTINGS_MODULE="sandbox.settings",
        SANDBOX_DB_PATH=str(tmp_path / "sandbox.sqlite3"),
        SANDBOX_MEDIA_ROOT=str(tmp_path / "media"),
        ENTERSPEED_STANDIN_PORT=str(port),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "sandbox_demo", "--no-serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "All 18 live pages and 5 images and snippets arrived" in output
    assert (
        "(2 articleIndexPage, 12 articlePage, 2 contactPage, 2 homePage, 3 image, 2 siteMessage)"
        in output
    )
    # The status model sees the demo's cluster (django-q2's statistics in a shared cache).
    assert "State: ok (health endpoint: HTTP 200)" in output
    assert "Clusters: 1 running, 2 workers in all." in output
    # The user learns where the stand-in's page is and that it can make Enterspeed fail.
    assert f"Ingest stand-in listening on http://127.0.0.1:{port}/ (what Enterspeed " in output
    assert "the recent requests, and fault switches)" in output


def test_sandbox_demo_port_is_in_the_urls_it_sends(tmp_path):
    """`--port` is the port the site is served on, so every URL sent to Enterspeed names
    it (the pages' from the default site, images' from WAGTAILADMIN_BASE_URL)."""
    from enterspeed_sync.testing import IngestStandIn

    site_port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ENTERSPEED_", "DJANGO_", "SANDBOX_"))
    }
    with IngestStandIn(api_keys=["source-sandbox-port"]) as standin:
        env.update(
            DJANGO_SETTINGS_MODULE="sandbox.settings",
            SANDBOX_DB_PATH=str(tmp_path / "sandbox.sqlite3"),
            SANDBOX_MEDIA_ROOT=str(tmp_path / "media"),
            # A "real" Enterspeed: this stand-in, which outlives the command.
            ENTERSPEED_API_KEY="source-sandbox-port",
            ENTERSPEED_BASE_URL=standin.url,
        )
        result = subprocess.run(
            [sys.executable, "manage.py", "sandbox_demo", "--no-serve", "--port", str(site_port)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        entities = standin.entities
    urls = [
        value
        for entity in entities.values()
        for value in (entity.get("url"), entity.get("properties", {}).get("url"))
        if isinstance(value, str) and value.startswith("http")
    ]
    page_urls = [entity["url"] for entity in entities.values() if entity["type"].endswith("Page")]
    assert len(page_urls) == 18, page_urls
    assert urls and all(url.startswith(f"http://127.0.0.1:{site_port}/") for url in urls), urls
    assert ":8000" not in json.dumps(entities)


def test_the_sandbox_gives_up_and_recovers_in_seconds():
    # The failure demo (docs/sandbox.md): three attempts a few seconds apart, not the
    # production defaults' ten over hours; the defaults themselves stay as they are.
    from enterspeed_sync.conf.table import SETTINGS
    from sandbox import settings as sandbox

    defaults = {setting.key: setting.default for setting in SETTINGS}
    demo = sandbox.ENTERSPEED_SYNC
    assert demo["MAX_ATTEMPTS"] == 3 < defaults["MAX_ATTEMPTS"]
    assert demo["RETRY_BASE_DELAY"] * (1 + 2) <= 10  # both waits together
    assert sum(demo["TIMEOUT"]) <= 10 and demo["BREAKER_COOLDOWN"] <= 5
