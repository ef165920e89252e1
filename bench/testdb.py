"""
What the small benches share: Django set up on the test settings, and a throwaway test
database (SQLite in a temporary folder, or the PostgreSQL server ``ENTERSPEED_TEST_PG_*``
names) that exists while ``run`` runs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable


def run_on_test_database(run: Callable[[], None], *, postgres: bool, prefix: str) -> None:
    os.environ["ENTERSPEED_TEST_DB"] = "postgres" if postgres else "sqlite"
    os.environ.setdefault("ENTERSPEED_TEST_SQLITE_DIR", tempfile.mkdtemp(prefix=prefix))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        run()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
