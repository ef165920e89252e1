import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

VALID = {"API_KEY": "source-tests", "BASE_URL": "https://api.enterspeed.com"}


def check_ids():
    return sorted({m.id for m in run_checks() if m.id and m.id.startswith("enterspeed_sync.")})


def test_valid_settings_pass():
    with override_settings(ENTERSPEED_SYNC=VALID):
        assert check_ids() == []


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"API_KEY": ""}, "enterspeed_sync.E001"),
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


def test_missing_key_is_fine_when_disabled():
    with override_settings(ENTERSPEED_SYNC={"API_KEY": "", "ENABLED": False}):
        assert "enterspeed_sync.E001" not in check_ids()


def test_django_q_must_be_installed(monkeypatch):
    from django.apps import apps

    from enterspeed_sync import checks

    # Re-populating the app registry without django_q is not possible mid-run (Wagtail's
    # API routers register once), so only the registry's answer is changed.
    real_is_installed = apps.is_installed
    monkeypatch.setattr(
        checks.apps, "is_installed", lambda name: name != "django_q" and real_is_installed(name)
    )
    assert [e.id for e in checks.check_django_q_installed()] == ["enterspeed_sync.E005"]


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
    with override_settings(ENTERSPEED_SYNC={"API_KEY": ""}), pytest.raises(SystemCheckError):
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
