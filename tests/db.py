"""
The test database, picked by environment variables that ``python -m tests`` sets:

- ``ENTERSPEED_TEST_DB``: ``sqlite`` (the default) or ``postgres``;
- ``ENTERSPEED_TEST_SQLITE_DIR``: folder for the SQLite files; created once per test run when
  missing and stored back into ``os.environ`` so that subprocesses (a real ``qcluster``)
  open the same database file;
- ``ENTERSPEED_TEST_PG_HOST`` / ``_PORT`` / ``_USER`` (and optionally ``_PASSWORD``): the
  PostgreSQL server, by default ``127.0.0.1:5432`` as ``postgres``.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

SQLITE_DIR_ENV = "ENTERSPEED_TEST_SQLITE_DIR"


def database_settings() -> dict:
    """``DATABASES["default"]`` for the database chosen by ``ENTERSPEED_TEST_DB``."""
    backend = os.environ.get("ENTERSPEED_TEST_DB", "sqlite").strip().lower()
    if backend == "sqlite":
        return sqlite_settings()
    if backend in ("postgres", "postgresql"):
        return postgres_settings()
    raise RuntimeError(f"ENTERSPEED_TEST_DB must be 'sqlite' or 'postgres', not {backend!r}")


def sqlite_settings() -> dict:
    # A file, not an in-memory database: a real qcluster process must share it. WAL plus
    # IMMEDIATE transactions keep the test process, the cluster's pusher, workers, monitor
    # and scheduler from failing with "database is locked" (django-q2#144) when they write
    # at once: every write transaction takes the lock at BEGIN and waits up to `timeout`.
    folder = sqlite_dir()
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(folder / "enterspeed_sync.sqlite3"),
        "TEST": {"NAME": str(folder / "test.sqlite3")},
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }


def postgres_settings() -> dict:
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "enterspeed_sync",
        "HOST": os.environ.get("ENTERSPEED_TEST_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("ENTERSPEED_TEST_PG_PORT", "5432"),
        "USER": os.environ.get("ENTERSPEED_TEST_PG_USER", "postgres"),
        "PASSWORD": os.environ.get("ENTERSPEED_TEST_PG_PASSWORD", ""),
        # As recommended for production: django-q2's ORM broker reconnects on every call
        # without it.
        "CONN_MAX_AGE": 300,
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"NAME": "test_enterspeed_sync"},
    }


def sqlite_dir() -> Path:
    """The run's SQLite folder: inherited from the environment, else made (and later removed)
    by this process, which publishes it in ``os.environ`` for its subprocesses."""
    existing = os.environ.get(SQLITE_DIR_ENV)
    if existing:
        folder = Path(existing)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    folder = Path(tempfile.mkdtemp(prefix="enterspeed-sync-tests-"))
    os.environ[SQLITE_DIR_ENV] = str(folder)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
