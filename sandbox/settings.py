"""
Settings for the sandbox demo site. Without ENTERSPEED_API_KEY in the environment the site
sends to the ingest stand-in that `manage.py sandbox_demo` embeds; with it, to Enterspeed.
"""

import os
from pathlib import Path

SANDBOX_DIR = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get("SANDBOX_SECRET_KEY", "sandbox-only-not-secret")
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "sandbox.demo",
    "enterspeed_sync",
    "django_q",
    "wagtail.contrib.redirects",
    "wagtail.contrib.simple_translation",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail.locales",
    "wagtail",
    "modelcluster",
    "taggit",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
]

ROOT_URLCONF = "sandbox.urls"
WSGI_APPLICATION = "sandbox.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SANDBOX_DB_PATH", str(SANDBOX_DIR / "db.sqlite3")),
        # The cluster and the web server write at once: take the lock at BEGIN, use WAL.
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "Europe/Copenhagen"
USE_I18N = True
LANGUAGE_CODE = "en"
WAGTAIL_I18N_ENABLED = True
WAGTAIL_CONTENT_LANGUAGES = LANGUAGES = [("en", "English"), ("da", "Danish")]

STATIC_URL = "/static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = os.environ.get("SANDBOX_MEDIA_ROOT", str(SANDBOX_DIR / "media"))

WAGTAIL_SITE_NAME = "enterspeed_sync sandbox"
# The demo site's port: `sandbox_demo --port` sets SANDBOX_PORT for its cluster, which maps
# the pages, so image and document URLs name the port the site is served on.
SANDBOX_PORT = int(os.environ.get("SANDBOX_PORT", "8000"))
WAGTAILADMIN_BASE_URL = f"http://127.0.0.1:{SANDBOX_PORT}"
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}

STANDIN_PORT = int(os.environ.get("ENTERSPEED_STANDIN_PORT", "8765"))
SANDBOX_USES_STANDIN = not os.environ.get("ENTERSPEED_API_KEY")
# A demo of failure and recovery (docs/sandbox.md) should take seconds, not the hour the
# production defaults may take: three attempts a few seconds apart, then the job is *failed*;
# a dropped connection holds the entity back one TIMEOUT (7 s here, 35 s by default); an
# open breaker probes again after 5 s.
DEMO_RETRIES = {
    "MAX_ATTEMPTS": 3,
    "RETRY_BASE_DELAY": 2.0,
    "RETRY_MAX_DELAY": 10.0,
    "TIMEOUT": (2.0, 5.0),
    "BREAKER_COOLDOWN": 5.0,
    "BREAKER_COOLDOWN_MAX": 30.0,
}
if SANDBOX_USES_STANDIN:
    ENTERSPEED_SYNC = {
        "API_KEY": "source-sandbox",
        "BASE_URL": f"http://127.0.0.1:{STANDIN_PORT}",
        **DEMO_RETRIES,
    }
else:
    ENTERSPEED_SYNC = {
        "API_KEY": os.environ["ENTERSPEED_API_KEY"],
        "BASE_URL": os.environ.get("ENTERSPEED_BASE_URL", "https://api.enterspeed.com"),
        **DEMO_RETRIES,
    }

# django-q2's clusters report that they are alive through a cache every process shares, so
# the dashboard and the health endpoint see the demo's cluster (docs/installation.md).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "django_q": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "django_q_cache",
    },
}

Q_CLUSTER = {
    "name": "enterspeed_sandbox",
    "cache": "django_q",
    "orm": "default",
    "workers": 2,
    "timeout": 120,
    "retry": 300,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 50,
    "queue_limit": 4,
    "poll": 0.5,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"enterspeed_sync": {"handlers": ["console"], "level": "INFO"}},
}
