import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from enterspeed_sync.conf import SETTING_RULES

VALID = {"API_KEY": "source-tests", "BASE_URL": "https://api.enterspeed.com"}


def check_ids():
    return sorted({m.id for m in run_checks() if m.id and m.id.startswith("enterspeed_sync.")})


def test_valid_settings_pass():
    with override_settings(ENTERSPEED_SYNC=VALID):
        assert check_ids() == []


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"API_KEY": ""}, "enterspeed_sync.W032"),
        ({"BASE_URL": "api.enterspeed.com"}, "enterspeed_sync.E002"),
        ({"BASE_URL": "ftp://api.enterspeed.com"}, "enterspeed_sync.E002"),
        ({"JOB_HANDLERS": ["nowhere.Handler"]}, "enterspeed_sync.E003"),
        ({"JOB_HANDLERS": ["tests.fakes.NotAHandler"]}, "enterspeed_sync.E004"),
        ({"TIMEOUT": 0}, "enterspeed_sync.E006"),
        ({"TIMEOUT": (1, 2, 3)}, "enterspeed_sync.E006"),
        ({"BATCH_SIZE": 0}, "enterspeed_sync.E007"),
        ({"APIKEY": "x"}, "enterspeed_sync.W001"),
        ({"PREVIEW_API_KEY": "source-tests"}, "enterspeed_sync.E011"),
        ({"PREVIEW_API_KEY": "preview-123"}, "enterspeed_sync.W021"),
        ({"PREVIEW_SETTLE_SECONDS": -1}, "enterspeed_sync.E010"),
        ({"RATE_LIMIT_HEADROOM": 1}, "enterspeed_sync.E010"),
        ({"RATE_LIMIT_HEADROOM": "10 %"}, "enterspeed_sync.E010"),
        ({"POST_SYNC_HOOKS": {"url": "https://example.com"}}, "enterspeed_sync.E012"),
        ({"POST_SYNC_HOOKS": [{"url": "example.com/build"}]}, "enterspeed_sync.E012"),
        (
            {"POST_SYNC_HOOKS": [{"url": "https://x.test", "method": "DELETE"}]},
            "enterspeed_sync.E012",
        ),
        ({"POST_SYNC_HOOKS": [{"url": "https://x.test", "attempts": 0}]}, "enterspeed_sync.E012"),
        (
            {"POST_SYNC_HOOKS": [{"url": "https://x.test", "destinations": ["live"]}]},
            "enterspeed_sync.E012",
        ),
        ({"POST_SYNC_HOOKS": [{"url": "https://x.test", "header": {}}]}, "enterspeed_sync.E012"),
        ({"API_KEY": "management-123"}, "enterspeed_sync.W002"),
        ({"API_KEY": "source-tests\n"}, "enterspeed_sync.W024"),
        ({"API_KEY": "source-te\nsts"}, "enterspeed_sync.E015"),
        ({"PREVIEW_API_KEY": " source-preview"}, "enterspeed_sync.W024"),
        ({"PREVIEW_API_KEY": "source-prévieẃ"}, "enterspeed_sync.E015"),
        ({"MAX_PAYLOAD_BYTES": 5_242_881}, "enterspeed_sync.W025"),
        (
            {"JOB_HANDLERS": ["tests.fakes.NeverHandler", "tests.fakes.NeverHandler"]},
            "enterspeed_sync.W003",
        ),
        ({"FIELD_CONVERTERS": ["nowhere.Converter"]}, "enterspeed_sync.E009"),
        ({"BLOCK_CONVERTERS": ["tests.fakes.NeverHandler"]}, "enterspeed_sync.E009"),
        ({"GUARDS": ["tests.fakes.NeverHandler"]}, "enterspeed_sync.E009"),
        ({"MAPPERS": {"testapp.BlogPage": "nowhere.Mapper"}}, "enterspeed_sync.E009"),
        ({"UNKNOWN_FIELDS": "ignore"}, "enterspeed_sync.W005"),
        ({"MAPPERS": {"blog.Nope": "enterspeed_sync.mapping.PageMapper"}}, "enterspeed_sync.W006"),
        ({"SNIPPET_MODELS": ["testapp.Supplier"]}, "enterspeed_sync.W007"),
        ({"MEDIA_BASE_URL": "cdn.example.com"}, "enterspeed_sync.W008"),
        ({"IMAGE_RENDITIONS": {"thumb": "squash-10"}}, "enterspeed_sync.W009"),
    ],
)
def test_each_problem_has_its_id(setting, expected):
    with override_settings(ENTERSPEED_SYNC={**VALID, **setting}):
        assert expected in check_ids()


def test_settings_must_be_a_dict():
    with override_settings(ENTERSPEED_SYNC=["API_KEY"]):
        assert "enterspeed_sync.E008" in check_ids()


def test_a_missing_key_does_not_stop_manage_py_but_a_malformed_one_does():
    """migrate, runserver and every other command run their checks: a site must migrate
    and serve without a key (the cluster waits for it), never with a broken one."""
    with override_settings(ENTERSPEED_SYNC={"API_KEY": ""}):
        call_command("check")  # warnings only
        (message,) = [m for m in run_checks() if m.id == "enterspeed_sync.W032"]
        assert "ENTERSPEED_API_KEY" in message.hint
        assert "qcluster" in message.hint
    with override_settings(ENTERSPEED_SYNC={"API_KEY": "source-te\nsts"}):
        with pytest.raises(SystemCheckError, match="enterspeed_sync.E015"):
            call_command("check")


def test_missing_key_is_fine_when_disabled():
    with override_settings(ENTERSPEED_SYNC={"API_KEY": "", "ENABLED": False}):
        assert "enterspeed_sync.W032" not in check_ids()


def test_django_q_must_be_installed(tmp_path):
    # django-q2 is required, not a check that could be silenced: without django_q every
    # command stops at startup, naming the fix. Re-populating the app registry mid-run is
    # not possible, so a fresh process starts with settings that leave it out.
    (tmp_path / "no_django_q_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\n"
        "INSTALLED_APPS = [app for app in INSTALLED_APPS if app != 'django_q']  # noqa: F405\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=Path(__file__).resolve().parent.parent,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": f"{tmp_path}:{Path(__file__).resolve().parent.parent}",
            "DJANGO_SETTINGS_MODULE": "no_django_q_settings",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert (
        "ImproperlyConfigured: enterspeed_sync needs django-q2: add 'django_q' to "
        "INSTALLED_APPS" in result.stderr
    )
    assert "enterspeed_sync.E005" not in result.stderr + result.stdout


def test_sqlite_without_immediate_mode_warns(settings):
    from django.db import connections

    connection = connections["default"]
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    options = connection.settings_dict["OPTIONS"]
    saved = dict(options)
    try:
        options.pop("transaction_mode", None)
        assert "enterspeed_sync.W004" in check_ids()
        options["transaction_mode"] = "IMMEDIATE"
        assert "enterspeed_sync.W004" not in check_ids()
    finally:
        options.clear()
        options.update(saved)


def test_check_command_fails_when_misconfigured():
    misconfigured = {**VALID, "BASE_URL": "api.enterspeed.com"}
    with override_settings(ENTERSPEED_SYNC=misconfigured), pytest.raises(SystemCheckError):
        call_command("check")


@pytest.mark.parametrize(
    ("urlconf", "expected"),
    [
        ("tests.urls", []),
        ("tests.urls_api_after_admin", ["enterspeed_sync.W022"]),
        ("sandbox.urls", []),
    ],
)
def test_operations_api_must_come_before_wagtail_admin(urlconf, expected):
    from django.urls import clear_url_caches

    from enterspeed_sync.checks import check_api_urls_before_wagtail_admin

    with override_settings(ROOT_URLCONF=urlconf):
        clear_url_caches()
        try:
            messages = check_api_urls_before_wagtail_admin()
            assert [m.id for m in messages] == expected
            assert all("view wagtail.admin." in m.msg for m in messages)
        finally:
            clear_url_caches()


def test_wrongly_ordered_api_urls_really_redirect_to_login(client):
    """What W022 warns about: a token request gets Wagtail's login redirect, not JSON."""
    with override_settings(ROOT_URLCONF="tests.urls_api_after_admin"):
        response = client.get("/admin/enterspeed/api/v1/health/")
    assert response.status_code == 302 and "/login/" in response["Location"]


# Every setting's type and bounds (conf.SETTING_RULES) ---------------------------------------

E003, E006, E007, E010, E012, E014 = (f"enterspeed_sync.E{n:03}" for n in (3, 6, 7, 10, 12, 14))
W005 = "enterspeed_sync.W005"

#: At least one bad value per setting, and the check id that reports it.
BAD_VALUES = [
    ("API_KEY", 123, E014),
    ("BASE_URL", None, E014),
    ("TIMEOUT", [5], E006),
    ("TIMEOUT", (1, 2, 3), E006),
    ("TIMEOUT", 0, E006),
    ("TIMEOUT", "30", E006),
    ("JOB_HANDLERS", "tests.fakes.NeverHandler", E003),
    ("JOB_HANDLERS", [123], E003),
    ("BATCH_SIZE", 0, E007),
    ("BATCH_SIZE", 2.5, E007),
    ("BATCH_SIZE", "50", E007),
    ("WORKER_THREADS", 0, E007),
    ("WORKER_THREADS", 1.5, E007),
    ("PRIORITY_LANES", "yes", E014),
    ("STALE_PROCESSING_MINUTES", -1, E007),
    ("TASK_TIME_BUDGET_SECONDS", float("nan"), E007),
    ("ENABLED", "false", E014),
    ("PROCESS_ON_COMMIT", 0, E014),
    ("FIELD_CONVERTERS", "myproject.Converter", E014),
    ("BLOCK_CONVERTERS", [42], E014),
    ("MAPPERS", ["testapp.BlogPage"], E014),
    ("GUARDS", "myproject.Guard", E014),
    ("UNKNOWN_FIELDS", "ignore", W005),
    ("MEDIA_BASE_URL", 1, E014),
    ("IMAGE_RENDITIONS", {"thumb": 300}, E014),
    ("SYNC_IMAGES", "yes", E014),
    ("SYNC_DOCUMENTS", None, E014),
    ("SNIPPET_MODELS", "testapp.Supplier", E014),
    ("REINGEST_REFERRERS", "True", E014),
    ("MAX_PAYLOAD_BYTES", -1, E014),
    ("MAX_PROPERTIES", -1, E014),
    ("MAX_PROPERTIES", 10.5, E014),
    ("MAX_ATTEMPTS", 0, E010),
    ("RETRY_BASE_DELAY", "soon", E010),
    ("RETRY_MAX_DELAY", 0, E010),
    ("RATE_LIMIT", -1, E010),
    ("RATE_LIMIT_HEADROOM", 1.5, E010),
    ("RATE_LIMIT_HEADROOM", "10%", E010),
    ("RATE_LIMIT_PAUSE", -0.5, E010),
    ("RETRY_AFTER_MAX", 0, E010),
    ("BREAKER_THRESHOLD", 1.5, E010),
    ("BREAKER_COOLDOWN", True, E010),
    ("BREAKER_COOLDOWN_MAX", float("inf"), E010),
    ("LEASE_SECONDS", None, E010),
    ("RETRY_WAIT_SECONDS", -1, E010),
    ("SKIP_UNCHANGED", "no", E014),
    ("BULK_INGEST", 1, E014),
    ("PREVIEW_API_KEY", 5, E014),
    ("PREVIEW_SETTLE_SECONDS", -1, E010),
    ("TRANSLATION_GROUPS", "off", E014),
    ("POST_SYNC_HOOKS", {"url": "https://example.com"}, E012),
]


def test_every_setting_has_a_bad_value_tested():
    from enterspeed_sync.conf import DEFAULTS

    assert {key for key, _value, _id in BAD_VALUES} == set(DEFAULTS)


@pytest.mark.parametrize(("key", "value", "expected"), BAD_VALUES)
def test_a_bad_value_is_reported_with_its_key(key, value, expected):
    with override_settings(ENTERSPEED_SYNC={**VALID, key: value}):
        messages = [m for m in run_checks() if m.id and m.id.startswith("enterspeed_sync.")]
    # A secret (an API key) is named by its type, never shown.
    shown = f"a {type(value).__name__}" if SETTING_RULES[key].secret else repr(value)
    named = [m for m in messages if f"['{key}']" in m.msg and shown in m.msg]
    assert [m.id for m in named] == [expected], [(m.id, m.msg) for m in messages]


@pytest.mark.django_db
@pytest.mark.parametrize(("key", "value", "expected"), BAD_VALUES)
def test_processing_never_fails_jobs_on_a_bad_value(key, value, expected, standin):
    from django.core.exceptions import ImproperlyConfigured

    from enterspeed_sync.capture.outbox import JobSpec, queue_job
    from enterspeed_sync.models import EnterspeedJob
    from enterspeed_sync.processing.runner import process_pending_jobs

    spec = JobSpec(entity_type="page", entity_id="1", job_type="delete", origin_id="page-1")
    good = {"API_KEY": "source-tests", "BASE_URL": standin.url, "PROCESS_ON_COMMIT": False}
    with override_settings(ENTERSPEED_SYNC={**good, "RETRY_WAIT_SECONDS": 0, key: value}):
        queue_job(spec)
        if expected.startswith("enterspeed_sync.W"):  # a warning: the default is used
            assert process_pending_jobs().succeeded == 1
            return
        with pytest.raises(ImproperlyConfigured, match=rf"\['{key}'\] should be"):
            process_pending_jobs()
    job = EnterspeedJob.objects.get()
    assert (job.state, job.attempts) == ("pending", 0)
    assert standin.requests == []


@pytest.mark.parametrize(
    ("url", "warns"),
    [
        ("http://api.enterspeed.com", True),
        ("http://10.0.0.5:8080", True),
        ("https://api.enterspeed.com", False),
        ("http://127.0.0.1:8000", False),
        ("http://localhost:8000/", False),
        ("http://[::1]:8000", False),
    ],
)
def test_plain_http_base_url_warns_unless_loopback(url, warns):
    with override_settings(ENTERSPEED_SYNC={**VALID, "BASE_URL": url}):
        assert ("enterspeed_sync.W023" in check_ids()) is warns


@pytest.mark.django_db
def test_processing_claims_nothing_when_the_setting_is_not_a_dict():
    from django.core.exceptions import ImproperlyConfigured

    from enterspeed_sync.capture.outbox import JobSpec, queue_job
    from enterspeed_sync.models import EnterspeedJob
    from enterspeed_sync.processing.runner import process_pending_jobs

    spec = JobSpec(entity_type="page", entity_id="1", job_type="delete", origin_id="page-1")
    with override_settings(ENTERSPEED_SYNC={"PROCESS_ON_COMMIT": False}):
        queue_job(spec)
    with override_settings(ENTERSPEED_SYNC=[("API_KEY", "source-tests")]):
        assert check_ids() == ["enterspeed_sync.E008"]
        with pytest.raises(ImproperlyConfigured, match="ENTERSPEED_SYNC should be a dict"):
            process_pending_jobs()
    assert EnterspeedJob.objects.get().state == "pending"
