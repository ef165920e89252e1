import subprocess
import sys

from django.test import override_settings

from enterspeed_sync.conf import DEFAULTS, SETTING_RULES, SETTINGS, Settings, conf
from enterspeed_sync.conf.reference import DOCS_PATH, END, START, markdown_table, with_table
from enterspeed_sync.delivery.clients import get_client
from enterspeed_sync.handlers import DEFAULT_JOB_HANDLERS, get_handlers
from enterspeed_sync.handlers.base import DeleteHandler
from enterspeed_sync.handlers.media import DocumentPublishHandler, ImagePublishHandler
from enterspeed_sync.handlers.pages import PagePublishHandler
from enterspeed_sync.handlers.snippets import SnippetPublishHandler
from enterspeed_sync.handlers.translation_groups import TranslationGroupHandler


def test_defaults_apply_when_a_key_is_missing():
    with override_settings(ENTERSPEED_SYNC={"API_KEY": "source-x"}):
        assert conf.BASE_URL == "https://api.enterspeed.com"
        assert conf.STALE_PROCESSING_MINUTES == 60
        assert conf.BATCH_SIZE == DEFAULTS["BATCH_SIZE"]
        assert conf.ENABLED is True
        assert conf.JOB_HANDLERS == DEFAULT_JOB_HANDLERS


def test_settings_are_read_live():
    with override_settings(ENTERSPEED_SYNC={"API_KEY": "source-a", "BASE_URL": "https://x.test/"}):
        assert conf.API_KEY == "source-a"
        assert conf.BASE_URL == "https://x.test"
    with override_settings(ENTERSPEED_SYNC={"API_KEY": "source-b", "TIMEOUT": [1, 2]}):
        assert conf.API_KEY == "source-b"
        assert conf.TIMEOUT == (1, 2)


def test_default_handlers_in_order():
    with override_settings(ENTERSPEED_SYNC={"API_KEY": "source-x"}):
        handlers = get_handlers()
    assert [type(h) for h in handlers] == [
        PagePublishHandler,
        ImagePublishHandler,
        DocumentPublishHandler,
        SnippetPublishHandler,
        TranslationGroupHandler,
        DeleteHandler,
    ]


def test_handler_list_follows_setting_changes():
    with override_settings(ENTERSPEED_SYNC={"JOB_HANDLERS": ["tests.fakes.ClaimAllHandler"]}):
        assert [h.key for h in get_handlers()] == ["claim_all"]
    with override_settings(
        ENTERSPEED_SYNC={"JOB_HANDLERS": ["tests.fakes.NeverHandler", *DEFAULT_JOB_HANDLERS]}
    ):
        assert [h.key for h in get_handlers()][:3] == ["never", "page_publish", "image_publish"]


def test_client_is_built_from_settings():
    with override_settings(
        ENTERSPEED_SYNC={"API_KEY": "source-k", "BASE_URL": "http://127.0.0.1:1", "TIMEOUT": 3}
    ):
        client = get_client()
    assert client.base_url == "http://127.0.0.1:1"


def test_every_setting_has_a_rule_and_its_default_passes_it():
    assert set(SETTING_RULES) == set(DEFAULTS)
    problems = {key: rule.problem(key, DEFAULTS[key]) for key, rule in SETTING_RULES.items()}
    assert problems == dict.fromkeys(DEFAULTS)


def test_a_bad_value_is_read_as_the_default_and_logged_once(caplog, monkeypatch):
    from enterspeed_sync import conf as conf_module

    monkeypatch.setattr(conf_module, "_logged", set())  # other tests logged these already
    with override_settings(ENTERSPEED_SYNC={"BATCH_SIZE": "50", "TIMEOUT": [5]}):
        assert conf.BATCH_SIZE == DEFAULTS["BATCH_SIZE"]
        assert conf.BATCH_SIZE == DEFAULTS["BATCH_SIZE"]
        assert conf.TIMEOUT == DEFAULTS["TIMEOUT"]
    logged = [r.getMessage() for r in caplog.records if r.name == "enterspeed_sync.conf"]
    assert logged == [
        "ENTERSPEED_SYNC['BATCH_SIZE'] should be a positive whole number, not '50'. "
        "Using the default, 50, until it is fixed.",
        "ENTERSPEED_SYNC['TIMEOUT'] should be a positive number of seconds or a (connect, "
        "read) pair of them, not [5]. Using the default, (5.0, 30.0), until it is fixed.",
    ]


def test_a_string_is_never_read_as_true(site_tree):
    from enterspeed_sync.models import EnterspeedJob

    # "false" is not False: the check reports it (E014); until then the default applies,
    # and an editor's publish neither fails nor loses its job.
    with override_settings(ENTERSPEED_SYNC={"API_KEY": "source-x", "ENABLED": "false"}):
        assert conf.ENABLED is True
        assert conf.problems()[0].message == (
            "ENTERSPEED_SYNC['ENABLED'] should be True or False, not 'false'."
        )
        site_tree["posts"][0].save_revision().publish()
    assert EnterspeedJob.objects.count() == 1


def test_the_configuration_reference_table_is_the_settings_table():
    text = DOCS_PATH.read_text(encoding="utf-8")
    assert with_table(text) == text, "run `python -m enterspeed_sync.conf` to update it"


def test_every_setting_is_one_documented_row_read_through_its_rule():
    keys = [setting.key for setting in SETTINGS]
    assert len(keys) == len(set(keys)) and list(DEFAULTS) == keys
    for setting in SETTINGS:
        assert setting.help and setting.type, setting.key
        assert SETTING_RULES[setting.key] is setting.rule
        assert isinstance(getattr(Settings, setting.key), property), setting.key
    with override_settings(ENTERSPEED_SYNC={"RETRY_BASE_DELAY": 3, "MEDIA_BASE_URL": "x/"}):
        assert conf.RETRY_BASE_DELAY == 3.0 and isinstance(conf.RETRY_BASE_DELAY, float)
        assert conf.MEDIA_BASE_URL == "x"


def test_the_reference_command_writes_and_checks_the_table(tmp_path):
    page = tmp_path / "configuration.md"
    stale = DOCS_PATH.read_text(encoding="utf-8").replace("| `BATCH_SIZE` |", "| `BATCHSIZE` |")
    page.write_text(stale, encoding="utf-8")

    def run(*args):
        command = [sys.executable, "-m", "enterspeed_sync.conf", *args, str(page)]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    assert run("--check").returncode == 1 and page.read_text(encoding="utf-8") == stale
    assert run().returncode == 0
    written = page.read_text(encoding="utf-8")
    assert f"{START}\n{markdown_table()}\n{END}" in written and "BATCHSIZE" not in written
    assert run("--check").returncode == 0
