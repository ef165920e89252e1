from django.test import override_settings

from enterspeed_sync.conf import DEFAULTS, conf, get_client
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
