"""The README's demo runs: `manage.py sandbox_demo --no-serve` syncs every page to the stand-in."""

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
    env.update(
        DJANGO_SETTINGS_MODULE="sandbox.settings",
        SANDBOX_DB_PATH=str(tmp_path / "sandbox.sqlite3"),
        SANDBOX_MEDIA_ROOT=str(tmp_path / "media"),
        ENTERSPEED_STANDIN_PORT=str(free_port()),
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
