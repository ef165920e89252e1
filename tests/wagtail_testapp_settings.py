"""
Settings for the test bed on Wagtail's own test project (``wagtail.test.settings``: its test
app with ~80 page models, snippets with string and UUID keys, forms, i18n, routable pages),
plus enterspeed_sync. Used by ``tests/wagtail_testbed.py`` in a process of its own, because its
INSTALLED_APPS differ from ``tests/settings.py``.

The database is the suite's (``tests/db.py``: SQLite, or the run's PostgreSQL).
"""

import tempfile

from wagtail.test.settings import *  # noqa: F403

from tests.db import database_settings

INSTALLED_APPS = [
    "enterspeed_sync",
    *INSTALLED_APPS,  # noqa: F405
    "django_q",
]

DATABASES = {"default": database_settings()}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The suite's test database is someone else's: this project gets its own.
    DATABASES["default"]["TEST"] = {"NAME": "test_enterspeed_wagtail_testbed"}
    INSTALLED_APPS.append("django.contrib.postgres")
else:
    DATABASES["default"]["TEST"] = {
        "NAME": DATABASES["default"]["NAME"].replace(".sqlite3", "_wagtail_testbed.sqlite3")
    }

# Wagtail's test settings use a database cache (a table we would have to create) and put
# media inside the installed package.
# Translations of every page and translatable snippet (WAGTAIL_CONTENT_LANGUAGES: en, fr).
WAGTAIL_I18N_ENABLED = True

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
MEDIA_ROOT = tempfile.mkdtemp(prefix="enterspeed-wagtail-testbed-media-")
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

ENTERSPEED_SYNC = {
    "API_KEY": "source-testbed",
    # The test bed points this at its ingest stand-in.
    "BASE_URL": "http://127.0.0.1:9",
    "TIMEOUT": (2, 10),
    # A value no mapper can convert fails the job instead of being skipped quietly.
    "UNKNOWN_FIELDS": "fail",
}

Q_CLUSTER = {
    "name": "enterspeed_wagtail_testbed",
    "orm": "default",
    "timeout": 60,
    "retry": 120,
    "max_attempts": 1,
    "ack_failures": True,
    "sync": True,
}

SILENCED_SYSTEM_CHECKS = [
    # SQLite tuning and the like: not what this project is about.
    "enterspeed_sync.W004",
    "enterspeed_sync.W018",
    "enterspeed_sync.W014",
]


# Only Django templates: Wagtail's test settings also configure Jinja2, which is not installed.
TEMPLATES = [TEMPLATES[0]]  # noqa: F405


class _NoMigrations:
    """Create the tables straight from the models: Wagtail's ~300 migrations take a minute."""

    def __contains__(self, app_label):
        return True

    def __getitem__(self, app_label):
        return None


MIGRATION_MODULES = _NoMigrations()
