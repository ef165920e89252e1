"""Settings for the test suite. The database comes from tests/db.py (SQLite or PostgreSQL)."""

import os
import tempfile

from tests.db import database_settings

SECRET_KEY = "enterspeed-sync-tests"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "enterspeed_sync",
    "tests.testapp",
    "wagtail.contrib.redirects",
    "wagtail.contrib.forms",
    "wagtail.contrib.table_block",
    "wagtail.contrib.typed_table_block",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    # Translations as real multilingual sites make them (tests/test_multilingual.py):
    # wagtail-localize (its locales app replaces wagtail.locales) and Wagtail's own
    # simple_translation.
    "wagtail_localize",
    "wagtail_localize.locales",
    "wagtail.contrib.simple_translation",
    "wagtail",
    "modelcluster",
    "taggit",
    "django_q",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": database_settings()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "/static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = os.path.join(
    os.environ.get("ENTERSPEED_TEST_SQLITE_DIR", tempfile.gettempdir()), "media"
)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

WAGTAIL_SITE_NAME = "enterspeed_sync tests"
WAGTAILADMIN_BASE_URL = "http://testserver"
WAGTAIL_I18N_ENABLED = True
LANGUAGE_CODE = "en"
WAGTAIL_CONTENT_LANGUAGES = LANGUAGES = [("en", "English"), ("da", "Danish")]
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}

ENTERSPEED_SYNC = {
    "API_KEY": "source-tests",
    # Tests point this at a stand-in or at `responses`; nothing leaves the machine.
    "BASE_URL": "http://127.0.0.1:9",
    "TIMEOUT": (2, 5),
}

# django-q2's cluster statistics in the test database (created with it), so the test process
# sees the clusters tests/qcluster.py starts, and no other run's.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "django_q": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "django_q_cache",
    },
}

# Tests that need the cluster start a real `qcluster` process (tests/test_cluster.py);
# everywhere else `async_task` runs inline so a commit processes its jobs at once.
Q_CLUSTER = {
    "name": "enterspeed_sync_tests",
    "orm": "default",
    "workers": 2,
    "timeout": 60,
    "retry": 120,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "poll": 0.1,
    "save_limit": 50,
    "cache": "django_q",
    "sync": os.environ.get("ENTERSPEED_TEST_Q_SYNC", "1") == "1",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"enterspeed_sync": {"handlers": ["console"], "level": "WARNING"}},
}
