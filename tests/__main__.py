"""
Run the whole test suite twice: on SQLite, then on a throwaway PostgreSQL server.

    python -m tests [--sqlite-only | --postgres-only] [pytest arguments ...]

Every other argument goes to pytest, unchanged, for both runs. The PostgreSQL server is
started from the local server binaries (``initdb``/``pg_ctl`` on PATH, else the newest
``/usr/lib/postgresql/*/bin``) in a temporary folder on a free loopback port, and always
stopped and removed afterwards, also on Ctrl-C or SIGTERM. Running as root, the binaries
are installed with ``apt-get install postgresql`` when missing (Debian and derivatives), and
the server runs as the ``postgres`` user because it refuses to run as root.

Environment:

- ``ENTERSPEED_TEST_SKIP_POSTGRES=1`` skips the PostgreSQL run on purpose (and says so);
  without it, a PostgreSQL that cannot be started fails the run.
- ``ENTERSPEED_TEST_PG_RESTART`` is set for the PostgreSQL run (not by you): the command
  that restarts the throwaway server, for the tests of a database restart mid-run.
- ``ENTERSPEED_TEST_SQLITE_DIR``: scratch folder (SQLite files, media); by default a new
  temporary folder per run, removed afterwards.
- ``ENTERSPEED_TEST_REDIS_URL``: the Redis the Redis broker tests use. Without it a
  ``redis-server`` (Debian's package, installed when missing and running as root) is
  started on a free loopback port in a temporary folder for both runs, and stopped
  afterwards; when it cannot be provided those tests are skipped, and the run says so.
- ``ENTERSPEED_TEST_CHROMIUM``: the Chromium the browser tests drive
  (tests/test_admin_browser.py). Without it Debian's ``/usr/bin/chromium`` is used, and
  installed with ``apt-get install chromium`` when missing and running as root; when it
  cannot be provided the browser tests are skipped, and the run says so loudly.

The exit status is 0 only when every run passed; pytest's "no tests collected" (5) fails.
"""

from __future__ import annotations

import locale
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_USER = "postgres"
PG_HOST = "127.0.0.1"
PG_RESTART_ENV = "ENTERSPEED_TEST_PG_RESTART"
DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
SERVER_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
START_ATTEMPTS = 3
READY_TIMEOUT = 30.0
CHILD_STOP_TIMEOUT = 60.0
PYTEST_EXIT_CODES = {
    1: "tests failed",
    2: "interrupted",
    3: "internal error",
    4: "usage error",
    5: "no tests collected",
}


Command = list[str | Path]
AsServerUser = Callable[[Command], Command]


class SetupError(Exception):
    """PostgreSQL could not be provided; the message says why and what to do."""


@dataclass
class Outcome:
    """The result of one database run, for the summary."""

    name: str
    code: int | None = None  # pytest's exit code; None when pytest did not run
    note: str = ""
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return self.skipped or self.code == 0

    def describe(self) -> str:
        if self.skipped:
            return f"{self.name}: skipped ({self.note})"
        if self.code is None:
            return f"{self.name}: FAILED ({self.note})"
        if self.code == 0:
            return f"{self.name}: passed"
        meaning = PYTEST_EXIT_CODES.get(self.code, "unknown")
        return f"{self.name}: FAILED (pytest exit code {self.code}: {meaning})"


@dataclass
class PgBinaries:
    initdb: Path
    pg_ctl: Path
    pg_isready: Path | None
    version: str


# --- output and signals ----------------------------------------------------------------


def say(message: str) -> None:
    print(message, flush=True)  # noqa: T201


def header(title: str) -> None:
    say(f"\n== {title} ==")


_terminated = False  # SIGTERM arrived: unlike a terminal Ctrl-C, pytest did not get it


def on_sigterm(signum: int, frame: object) -> None:
    global _terminated
    _terminated = True
    raise KeyboardInterrupt


@contextmanager
def signals_ignored() -> Iterator[None]:
    """Let a cleanup finish even if Ctrl-C is pressed again."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- command line ------------------------------------------------------------------------


def parse_args(argv: list[str]) -> tuple[bool, bool, list[str]]:
    """(run SQLite, run PostgreSQL, pytest arguments)."""
    sqlite_only = "--sqlite-only" in argv
    postgres_only = "--postgres-only" in argv
    if sqlite_only and postgres_only:
        say("python -m tests: use --sqlite-only or --postgres-only, not both")
        raise SystemExit(2)
    pytest_args = [arg for arg in argv if arg not in ("--sqlite-only", "--postgres-only")]
    return not postgres_only, not sqlite_only, pytest_args


def postgres_skipped() -> bool:
    value = os.environ.get("ENTERSPEED_TEST_SKIP_POSTGRES", "")
    return value.strip().lower() in ("1", "true", "yes")


# --- pytest ------------------------------------------------------------------------------


def run_pytest(pytest_args: list[str], env: dict[str, str]) -> int:
    process = subprocess.Popen([sys.executable, "-m", "pytest", *pytest_args], cwd=ROOT, env=env)
    # SIGINT, not SIGTERM, so that pytest tears down (test database, qcluster subprocesses).
    return wait_for(process, forward=signal.SIGINT)


def wait_for(process: subprocess.Popen, forward: signal.Signals) -> int:
    """The child's exit code. Interrupted, we let the child finish first (never leave a
    child behind that still writes to a folder we are about to remove), then re-raise."""
    try:
        return process.wait()
    except KeyboardInterrupt:
        if _terminated:  # a terminal Ctrl-C reaches the child too, a SIGTERM to us does not
            process.send_signal(forward)
        try:
            process.wait(timeout=CHILD_STOP_TIMEOUT)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            process.kill()
            process.wait()
        raise


@contextmanager
def scratch_dir() -> Iterator[str]:
    """The folder tests/db.py keeps SQLite files in: the caller's, else a temporary one."""
    existing = os.environ.get("ENTERSPEED_TEST_SQLITE_DIR")
    if existing:
        yield existing
        return
    folder = tempfile.mkdtemp(prefix="enterspeed-sync-tests-")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sqlite_run(pytest_args: list[str]) -> Outcome:
    header("SQLite")
    with scratch_dir() as folder:
        env = {**os.environ, "ENTERSPEED_TEST_DB": "sqlite", "ENTERSPEED_TEST_SQLITE_DIR": folder}
        return Outcome("SQLite", run_pytest(pytest_args, env))


def postgres_run(pytest_args: list[str]) -> Outcome:
    if postgres_skipped():
        note = "ENTERSPEED_TEST_SKIP_POSTGRES is set"
        header(f"PostgreSQL: skipped, {note}")
        return Outcome("PostgreSQL", note=note, skipped=True)
    try:
        binaries = postgres_binaries()
        name = f"PostgreSQL {binaries.version}"
        say(f"\nStarting a throwaway {name} server from {binaries.pg_ctl.parent} ...")
        started = time.monotonic()
        with throwaway_postgres(binaries) as port:
            say(f"PostgreSQL started in {time.monotonic() - started:.1f} s")
            header(f"{name} on {PG_HOST}:{port}")
            env = {
                **os.environ,
                "ENTERSPEED_TEST_DB": "postgres",
                "ENTERSPEED_TEST_PG_HOST": PG_HOST,
                "ENTERSPEED_TEST_PG_PORT": str(port),
                "ENTERSPEED_TEST_PG_USER": PG_USER,
            }
            with scratch_dir() as folder:
                env["ENTERSPEED_TEST_SQLITE_DIR"] = folder  # media files and the like
                return Outcome(name, run_pytest(pytest_args, env))
    except SetupError as error:
        say(f"\nERROR: {error}")
        return Outcome("PostgreSQL", note="could not start PostgreSQL, see above")


# --- finding or installing PostgreSQL ----------------------------------------------------


def postgres_binaries() -> PgBinaries:
    binaries = find_binaries()
    if binaries is None and can_install():
        install_postgres()
        binaries = find_binaries()
    if binaries is None:
        raise SetupError(
            "PostgreSQL server binaries (initdb, pg_ctl) were found neither on PATH nor in "
            f"{DEBIAN_PG_ROOT}/*/bin. Install them (Debian/Ubuntu: apt-get install "
            "postgresql), or set ENTERSPEED_TEST_SKIP_POSTGRES=1 to skip PostgreSQL on purpose."
        )
    return binaries


def candidate_bindirs() -> list[Path]:
    """PATH first, then Debian's versioned folders, newest first."""
    found: list[Path] = []
    initdb = shutil.which("initdb")
    if initdb:
        found += [Path(initdb).parent, Path(initdb).resolve().parent]
    versioned = [path for path in DEBIAN_PG_ROOT.glob("*/bin") if path.is_dir()]
    found += sorted(versioned, key=lambda path: version_key(path.parent.name), reverse=True)
    return list(dict.fromkeys(found))


def version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)) or (-1,)


def find_binaries() -> PgBinaries | None:
    for bindir in candidate_bindirs():
        initdb, pg_ctl = bindir / "initdb", bindir / "pg_ctl"
        if is_executable(initdb) and is_executable(pg_ctl):
            pg_isready = bindir / "pg_isready"
            if not is_executable(pg_isready):
                on_path = shutil.which("pg_isready")
                pg_isready = Path(on_path) if on_path else None
            return PgBinaries(initdb, pg_ctl, pg_isready, server_version(bindir))
    return None


def is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def server_version(bindir: Path) -> str:
    """'15.18' from 'postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)'."""
    program = bindir / "postgres" if is_executable(bindir / "postgres") else bindir / "pg_ctl"
    result = subprocess.run([program, "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"\(PostgreSQL\)\s+(\S+)", result.stdout)
    return match.group(1) if match else "(unknown version)"


def can_install() -> bool:
    """Installing is done only as root on an apt-based system (CI images, containers)."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def install_postgres() -> None:
    say("PostgreSQL server binaries not found; installing Debian's 'postgresql' package ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with services_not_started():
        run_checked(["apt-get", "update", "-qq"], env=env)
        run_checked(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"], env=env
        )


@contextmanager
def services_not_started() -> Iterator[None]:
    """Keep the package from starting its own cluster on port 5432 (Debian's policy-rc.d)."""
    if POLICY_RC_D.exists():
        yield
        return
    POLICY_RC_D.write_text("#!/bin/sh\nexit 101\n")
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC_D.unlink(missing_ok=True)


def run_checked(
    command: Command, cwd: Path | None = None, env: dict[str, str] | None = None
) -> None:
    """Run quietly; on failure raise SetupError with the command's output."""
    with tempfile.TemporaryFile("w+", errors="replace") as output:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=output)
        code = wait_for(process, forward=signal.SIGTERM)  # runuser passes SIGTERM on
        if code != 0:
            output.seek(0)
            text = tail(output.read())
            raise SetupError(f"{shlex.join(map(str, command))} failed ({code}):\n{text}")


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# --- Chromium for the browser tests -----------------------------------------------------

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")


def find_chromium() -> str | None:
    configured = os.environ.get("ENTERSPEED_TEST_CHROMIUM")
    if configured and is_executable(Path(configured)):
        return configured
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def ensure_chromium() -> None:
    """
    Find Chromium for the browser tests, installing Debian's package when we may; export
    its path as ENTERSPEED_TEST_CHROMIUM. Never fails the run: without Chromium the browser
    tests skip themselves, and we say so here.
    """
    chromium = find_chromium()
    if chromium is None and can_install():
        say("Chromium not found; installing Debian's 'chromium' package for the browser tests ...")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            run_checked(["apt-get", "update", "-qq"], env=env)
            run_checked(
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"], env=env
            )
        except SetupError as error:
            say(f"WARNING: could not install Chromium: {error}")
        chromium = find_chromium()
    if chromium is None:
        say(
            "\n" + "!" * 78 + "\nWARNING: no Chromium, so the BROWSER TESTS WILL BE SKIPPED. "
            "Install Debian's 'chromium'\npackage (or run as root so that it is installed), "
            "or set ENTERSPEED_TEST_CHROMIUM.\n" + "!" * 78
        )
        return
    os.environ["ENTERSPEED_TEST_CHROMIUM"] = chromium


# --- the throwaway server ----------------------------------------------------------------


def server_user_wrapper() -> AsServerUser:
    """How to run initdb/pg_ctl: as ourselves, or as 'postgres' when we are root."""
    if os.geteuid() != 0:
        return lambda command: command
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        raise SetupError(
            f"Running as root, the server must run as the '{PG_USER}' user, which does not "
            "exist. Create it (useradd --system postgres) or run the tests as a normal user."
        ) from None
    if shutil.which("runuser"):
        return lambda command: ["runuser", "-u", PG_USER, "--", *command]
    if shutil.which("su"):
        return lambda command: ["su", PG_USER, "-s", "/bin/sh", "-c", shlex.join(map(str, command))]
    raise SetupError("Running as root, but neither runuser nor su exists to drop to 'postgres'.")


@contextmanager
def throwaway_postgres(binaries: PgBinaries) -> Iterator[int]:
    """A fresh server in a temporary folder; yields its loopback port."""
    as_server_user = server_user_wrapper()
    folder = Path(tempfile.mkdtemp(prefix="enterspeed-sync-pg-"))
    try:
        if os.geteuid() == 0:
            user = pwd.getpwnam(PG_USER)
            os.chown(folder, user.pw_uid, user.pw_gid)
        init_cluster(binaries, folder, as_server_user)
        port = start_server(binaries, folder, as_server_user)
        # pg_ctl restart keeps the port and options it was started with (postmaster.opts).
        restart = [binaries.pg_ctl, "-D", folder / "data", "-l", folder / "server.log"]
        restart += ["-m", "fast", "-w", "-t", "60", "restart"]
        os.environ[PG_RESTART_ENV] = shlex.join(map(str, as_server_user(restart)))
        yield port
    finally:
        os.environ.pop(PG_RESTART_ENV, None)
        with signals_ignored():
            stopping = time.monotonic()
            stop_server(binaries, folder, as_server_user)
            shutil.rmtree(folder, ignore_errors=True)
            say(f"PostgreSQL stopped and removed in {time.monotonic() - stopping:.1f} s")


def cluster_locale() -> str:
    """C.UTF-8 when the system has it (case-insensitive lookups on non-ASCII text), else C."""
    current = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
    except locale.Error:
        return "C"
    locale.setlocale(locale.LC_CTYPE, current)
    return "C.UTF-8"


def init_cluster(binaries: PgBinaries, folder: Path, as_server_user: AsServerUser) -> None:
    command = [binaries.initdb, "-D", folder / "data", "-A", "trust", "-U", PG_USER]
    command += ["--no-sync", "-E", "UTF8", f"--locale={cluster_locale()}"]
    run_checked(as_server_user(command), cwd=folder)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((PG_HOST, 0))
        return sock.getsockname()[1]


def start_server(binaries: PgBinaries, folder: Path, as_server_user: AsServerUser) -> int:
    """Start on a free port (another one if it was taken meanwhile); returns the port."""
    log = folder / "server.log"
    for attempt in range(1, START_ATTEMPTS + 1):
        port = free_port()
        options = ["-k", shlex.quote(str(folder)), "-p", str(port)]
        options += ["-c", f"listen_addresses={PG_HOST}"]
        for setting in SERVER_SETTINGS:
            options += ["-c", setting]
        command = [binaries.pg_ctl, "-D", folder / "data", "-l", log, "-w", "-t", "60"]
        command += ["-o", " ".join(options), "start"]
        try:
            run_checked(as_server_user(command), cwd=folder)
        except SetupError as error:
            server_log = tail(log.read_text(errors="replace")) if log.exists() else ""
            if attempt < START_ATTEMPTS and "could not bind" in server_log:
                continue
            raise SetupError(f"{error}\nServer log:\n{server_log}") from None
        wait_until_ready(binaries, port)
        return port
    raise AssertionError("unreachable")


def wait_until_ready(binaries: PgBinaries, port: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if is_ready(binaries, port):
            return
        time.sleep(0.1)
    raise SetupError(f"PostgreSQL on {PG_HOST}:{port} did not accept connections in time.")


def is_ready(binaries: PgBinaries, port: int) -> bool:
    if binaries.pg_isready is None:
        try:
            socket.create_connection((PG_HOST, port), timeout=1).close()
        except OSError:
            return False
        return True
    command = [binaries.pg_isready, "-q", "-h", PG_HOST, "-p", str(port), "-U", PG_USER]
    return subprocess.run(command + ["-d", "postgres"], check=False).returncode == 0


def stop_server(binaries: PgBinaries, folder: Path, as_server_user: AsServerUser) -> None:
    data = folder / "data"
    pid_file = data / "postmaster.pid"
    if not pid_file.exists():
        return
    command = [binaries.pg_ctl, "-D", data, "-m", "immediate", "-w", "-t", "30", "stop"]
    try:
        run_checked(as_server_user(command), cwd=folder)
    except SetupError as error:
        say(f"WARNING: {error}")
    if pid_file.exists():  # pg_ctl could not stop it: do not leave a server behind
        kill_postmaster(pid_file)


def kill_postmaster(pid_file: Path) -> None:
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        say(f"WARNING: killed the PostgreSQL server (pid {pid}) that pg_ctl did not stop")
    except (OSError, ValueError, IndexError) as error:
        say(f"WARNING: could not stop the PostgreSQL server: {error}")


# --- Redis for the django-q2 Redis broker tests ------------------------------------------

REDIS_URL_ENV = "ENTERSPEED_TEST_REDIS_URL"


def find_redis_server() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if is_executable(Path("/usr/bin/redis-server")) else None
    )


@contextmanager
def throwaway_redis() -> Iterator[None]:
    """
    A ``redis-server`` (Debian's package, installed when missing and we may) on a free
    loopback port in a temporary folder, for both runs; its URL is exported as
    ENTERSPEED_TEST_REDIS_URL. Never fails the run: without it the Redis tests are skipped,
    and the run says so loudly.
    """
    if os.environ.get(REDIS_URL_ENV):
        yield  # one given by the caller
        return
    binary = find_redis_server()
    if binary is None and can_install():
        say("redis-server not found; installing Debian's 'redis-server' package ...")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            with services_not_started():
                run_checked(["apt-get", "update", "-qq"], env=env)
                run_checked(
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "redis-server"],
                    env=env,
                )
        except SetupError as error:
            say(f"WARNING: {error}")
        binary = find_redis_server()
    if binary is None:
        say(
            "\n" + "!" * 78 + "\nredis-server is not available: the Redis broker tests are "
            "SKIPPED. Install Debian's\n'redis-server' package (or run as root so that it "
            "is installed).\n" + "!" * 78
        )
        yield
        return
    folder = Path(tempfile.mkdtemp(prefix="enterspeed-sync-redis-"))
    port = free_port()
    command = [binary, "--port", str(port), "--bind", PG_HOST, "--dir", str(folder)]
    command += ["--save", "", "--appendonly", "no", "--logfile", str(folder / "redis.log")]
    server = subprocess.Popen(
        command, cwd=folder, stdout=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not redis_answers(port):
            if server.poll() is not None or time.monotonic() > deadline:
                log = folder / "redis.log"
                text = tail(log.read_text(errors="replace")) if log.exists() else ""
                say(f"WARNING: redis-server did not start; the Redis tests are skipped.\n{text}")
                yield
                return
            time.sleep(0.05)
        os.environ[REDIS_URL_ENV] = f"redis://{PG_HOST}:{port}/0"
        say(f"Redis started on {PG_HOST}:{port}")
        yield
    finally:
        os.environ.pop(REDIS_URL_ENV, None)
        with signals_ignored():
            if server.poll() is None:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
            shutil.rmtree(folder, ignore_errors=True)


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection((PG_HOST, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


# --- main --------------------------------------------------------------------------------


def summary(outcomes: list[Outcome], interrupted: bool) -> None:
    header("Summary" + (" (interrupted)" if interrupted else ""))
    for outcome in outcomes:
        say(outcome.describe())


def main(argv: list[str]) -> int:
    run_sqlite, run_postgres, pytest_args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        ensure_chromium()
    except KeyboardInterrupt:
        return 130
    runs = [("SQLite", sqlite_run)] if run_sqlite else []
    runs += [("PostgreSQL", postgres_run)] if run_postgres else []
    outcomes: list[Outcome] = []
    with throwaway_redis():
        for name, run in runs:
            try:
                outcomes.append(run(pytest_args))
            except KeyboardInterrupt:
                outcomes.append(Outcome(name, note="interrupted"))
                summary(outcomes, interrupted=True)
                return 130
    if not run_postgres:
        outcomes.append(Outcome("PostgreSQL", note="--sqlite-only", skipped=True))
    if not run_sqlite:
        outcomes.insert(0, Outcome("SQLite", note="--postgres-only", skipped=True))
    summary(outcomes, interrupted=False)
    if all(outcome.skipped for outcome in outcomes):
        say("Nothing ran: every database was skipped.")
        return 1
    return 0 if all(outcome.ok for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
