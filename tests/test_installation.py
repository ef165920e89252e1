"""
docs/installation.md, followed to the letter on a fresh ``wagtail start`` project.

The page is the script: every shell block runs (in order, in the project folder, in a new
virtual environment), every Python block is pasted where its marker says (settings or
urls.py), and a block that must not run says so with a ``docs-test: skip`` marker (see
tests/docs_blocks.py). The only changes made to what the page says:

- the repository URL in ``git clone`` is a snapshot of this checkout (working tree
  included), so the wheel is built from the code under test;
- the stand-in's port 8765 and runserver's port 8000 become free ports;
- commands that run until stopped (the stand-in, ``qcluster``, ``runserver``) are started
  in the background, and the ``admin`` user the page's token command names is created.

Two shells, as the page has two terminals: every block runs in the first one's environment
(its ``export`` lines last for the rest of the page), except a command the page starts "in
another terminal" (the stand-in, ``qcluster``): it starts from a new terminal's environment,
with only the ``export`` lines of its own block. So the cluster sends only if the page tells
the reader to give it the key. ``runserver``, which no step starts, runs in the first.

Then it checks what the page promises: `check` finds nothing, the package is the wheel's, the
seed and an editor's publish reach the stand-in through the running cluster, the token
request got the health document, and without the key in the environment `collectstatic`,
`check` (warning W032, exit status 0) and `migrate` work and the site serves pages.

The new environment reuses the test environment's installed dependencies (a ``.pth`` file to
a copy of its site-packages without enterspeed_sync), so nothing is downloaded but
flit_core; enterspeed_sync itself comes only from the wheel the page builds.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

from tests.docs_blocks import ROOT, read_blocks

pytestmark = [
    pytest.mark.installation,
    pytest.mark.skipif(
        os.environ.get("ENTERSPEED_TEST_DB") == "postgresql",
        reason="uses no test database: the project is the SQLite one `wagtail start` makes",
    ),
]

DOC = ROOT / "docs" / "installation.md"
REPOSITORY_URL = "https://github.com/enterspeed-sync/enterspeed-sync.git"
#: Commands that run until stopped; the page says to start them in another terminal.
LONG_RUNNING = ("-m enterspeed_sync.testing", "manage.py qcluster", "manage.py runserver")
TIMEOUT = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args} exited with {process.returncode}"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port} after {timeout} s: {process.args}")


def snapshot_checkout(target: Path) -> Path:
    """A git repository holding this checkout's files as they are (uncommitted ones too)."""
    files = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "snapshot"]):
        subprocess.run([*git, *command], cwd=target, check=True, capture_output=True)
    return target


def make_venv(path: Path) -> Path:
    """A virtual environment that sees the test environment's packages but enterspeed_sync."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=TIMEOUT)
    deps = path / "test-deps"
    deps.mkdir()
    site_packages = Path(sysconfig.get_paths()["purelib"])
    for entry in site_packages.iterdir():
        name = entry.name
        if name.startswith(("enterspeed_sync", "__editable__")) or name.endswith(".pth"):
            continue
        (deps / name).symlink_to(entry)
    own_site = Path(
        subprocess.run(
            [
                path / "bin" / "python",
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (own_site / "test-deps.pth").write_text(f"{deps}\n")
    return path


class Site:
    """The project folder, its environment, and the processes started in the background."""

    def __init__(self, folder: Path, venv: Path, ports: dict[str, int]):
        self.folder = folder
        self.venv = venv
        self.ports = ports
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "VIRTUAL_ENV")
            and not key.startswith("ENTERSPEED_")
        }
        self.env.update(
            PATH=f"{venv / 'bin'}:{os.environ['PATH']}",
            VIRTUAL_ENV=str(venv),
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            PYTHONUNBUFFERED="1",
        )
        #: What a terminal opened later starts with: none of the first one's exports.
        self.new_terminal_env = dict(self.env)
        self.background: list[tuple[subprocess.Popen, Path]] = []
        self.has_admin_user = False
        self.web_running = False

    def substitute(self, code: str, repository: Path) -> str:
        code = code.replace(REPOSITORY_URL, str(repository))
        code = code.replace("127.0.0.1:8765", f"127.0.0.1:{self.ports['standin']}")
        code = code.replace("--port 8765", f"--port {self.ports['standin']}")
        return code.replace("127.0.0.1:8000", f"127.0.0.1:{self.ports['web']}")

    def run(self, script: str) -> str:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert result.returncode == 0, (
            f"{script!r} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
        return result.stdout

    def start(
        self, command: str, port: int | None = None, env: dict | None = None
    ) -> subprocess.Popen:
        log = self.folder / f"background-{len(self.background)}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=self.folder,
                env=self.env if env is None else env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.background.append((process, log))
        if port is not None:
            wait_for_port(port, process)
        return process

    def manage(self, *args: str) -> str:
        return self.run(shlex.join(["python", "manage.py", *args]))

    def stop(self) -> None:
        for process, _log in self.background:
            process.terminate()
        for process, _log in self.background:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    def logs(self) -> str:
        return "\n".join(
            f"--- {log.name}:\n{log.read_text()[-3000:]}" for _p, log in self.background
        )


def exported(line: str) -> dict[str, str]:
    """The variables an ``export A=1 B=2`` line sets."""
    return dict(pair.split("=", 1) for pair in shlex.split(line.removeprefix("export ")))


def standin_entities(port: int) -> dict[str, dict]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_standin/entities", timeout=10) as r:
        sources = json.load(r)
    return {origin_id: e for entities in sources.values() for origin_id, e in entities.items()}


def wait_for_entity(port: int, predicate, timeout: float = 90) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entities = standin_entities(port)
        if predicate(entities):
            return entities
        time.sleep(0.5)
    raise AssertionError(f"the stand-in never got it; it holds {sorted(entities)}")


def test_installation_page_as_written(tmp_path):
    blocks = read_blocks(DOC)
    repository = snapshot_checkout(tmp_path / "snapshot" / "enterspeed-sync")
    venv = make_venv(tmp_path / "venv")
    subprocess.run(
        [Path(sys.executable).parent / "wagtail", "start", "mysite"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    site = Site(tmp_path / "mysite", venv, {"standin": free_port(), "web": free_port()})
    pasted = {
        "settings": site.folder / "mysite" / "settings" / "base.py",
        "urls": site.folder / "mysite" / "urls.py",
    }
    outputs = {}
    try:
        for block in blocks:
            if block.kind == "skip":
                continue
            if block.lang == "python":
                assert block.kind in pasted, f"{block.name}: say where it goes (settings/urls)"
                with pasted[block.kind].open("a") as target:
                    target.write(f"\n\n# {block.name}\n{block.code}")
                continue
            assert block.lang == "sh", f"{block.name}: a {block.lang!r} block needs a marker"
            script = site.substitute(block.code, repository)
            if any(command in script for command in LONG_RUNNING):
                # Another terminal: its own exports, then one command.
                *exports, command = script.strip().splitlines()
                terminal = dict(site.new_terminal_env)
                for line in exports:
                    assert line.startswith("export "), f"{block.name}: exports, then one command"
                    terminal.update(exported(line))
                port = next(
                    (int(p) for p in re.findall(r"(?:--port |127\.0\.0\.1:)(\d+)", command)), None
                )
                site.start(command, port, terminal)
                continue
            # `export` lasts for the rest of the page, as in the reader's first terminal.
            for line in re.findall(r"^export .+$", script, re.M):
                site.env.update(exported(line))
            # What the page takes for granted: a user to log in with, the site running.
            if "--user admin" in script and not site.has_admin_user:
                site.run(
                    "DJANGO_SUPERUSER_PASSWORD=admin-password python manage.py createsuperuser "
                    "--noinput --username admin --email admin@example.com"
                )
                site.has_admin_user = True
            if f"127.0.0.1:{site.ports['web']}" in script and not site.web_running:
                site.start(
                    f"python manage.py runserver --noreload 127.0.0.1:{site.ports['web']}",
                    site.ports["web"],
                )
                site.web_running = True
            outputs[block.name] = site.run(script)

        # The settings as the page gives them raise no warning either.
        check_block = next(block for block in blocks if "manage.py check" in block.code)
        assert "System check identified no issues" in outputs[check_block.name]
        # The mapping self-test tried the page `wagtail start` made, and it can be sent.
        self_test_block = next(block for block in blocks if "--all-models" in block.code)
        self_test = outputs[self_test_block.name]
        assert re.search(r"^home\.HomePage +page +1 +1 +0 +0$", self_test, re.M), self_test
        assert "0 problems." in self_test
        # The package came from the wheel, not from the checkout.
        installed = site.run("python -c 'import enterspeed_sync; print(enterspeed_sync.__file__)'")
        assert installed.strip().startswith(str(venv)), installed
        # The seed reached the stand-in: the home page `wagtail start` made is there.
        home_id = site.manage(
            "shell", "-c", "from home.models import HomePage; print(HomePage.objects.get().pk)"
        ).split()[-1]  # Django 5.2's shell may say first how many objects it imported
        wait_for_entity(site.ports["standin"], lambda e: f"page-{home_id}" in e)
        # An editor's publish reaches it through the running cluster.
        site.manage(
            "shell",
            "-c",
            "from home.models import HomePage; page = HomePage.objects.get(); "
            "page.title = 'Published after installing'; page.save_revision().publish()",
        )
        wait_for_entity(
            site.ports["standin"],
            lambda e: "Published after installing" in json.dumps(e.get(f"page-{home_id}")),
        )
        # The operations API answered the token request with its health document.
        curl_block = next(block for block in blocks if "curl" in block.code)
        health = json.loads(outputs[curl_block.name])
        assert health["status"] == "ok", health
        # On a machine without the key (a Docker build, a colleague's laptop) the site
        # works: collectstatic, check (which says what is missing), migrate, and serving.
        without_key = "env -u ENTERSPEED_API_KEY -u ENTERSPEED_BASE_URL python manage.py"
        site.run(f"{without_key} collectstatic --noinput")
        missing_key = subprocess.run(
            ["bash", "-c", f"{without_key} check"],
            cwd=site.folder,
            env=site.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert missing_key.returncode == 0, missing_key.stderr
        assert "Traceback" not in missing_key.stderr
        assert "enterspeed_sync.W032" in missing_key.stderr
        assert "ENTERSPEED_API_KEY" in missing_key.stderr
        site.run(f"{without_key} migrate")
        keyless_port = free_port()
        site.start(f"{without_key} runserver --noreload 127.0.0.1:{keyless_port}", keyless_port)
        with urllib.request.urlopen(f"http://127.0.0.1:{keyless_port}/", timeout=30) as page:
            assert page.status == 200
        status = site.manage("enterspeed_process", "--status")
        assert "0 failed" in status, status
    except BaseException:
        print(site.logs())  # noqa: T201
        raise
    finally:
        site.stop()
