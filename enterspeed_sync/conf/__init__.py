"""
Settings for enterspeed_sync, read live from one dict in the project's settings::

    import os

    from enterspeed_sync.defaults import DEFAULT_JOB_HANDLERS

    ENTERSPEED_SYNC = {
        "API_KEY": os.environ.get("ENTERSPEED_API_KEY", ""),
        "JOB_HANDLERS": [
            "myproject.enterspeed.BlogPagePublishHandler",
            *DEFAULT_JOB_HANDLERS,
        ],
    }

Every key is optional except ``API_KEY``. Each is declared once, in ``table.SETTINGS``
(default, rule, help), and read as ``conf.<KEY>``: a property made from its row that reads
``django.conf.settings`` on every access, so ``override_settings`` works in tests and
nothing is read at import time.

A row's rule is the one place its values are validated: the system checks report every
value that breaks its rule, processing refuses to claim jobs while one of those is an
error (``conf.raise_if_invalid()``), and a property reading a bad value logs it and uses the
default instead (so an editor's save never fails on a setting).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from enterspeed_sync.conf.rules import NOT_A_DICT, SETTING_NAME, WRONG_VALUE, Rule
from enterspeed_sync.conf.table import SETTINGS, Setting

__all__ = [
    "DEFAULTS",
    "PREVIEW",
    "PUBLISH",
    "SETTINGS",
    "SETTING_NAME",
    "SETTING_RULES",
    "WRONG_VALUE",
    "Rule",
    "Setting",
    "SettingProblem",
    "Settings",
    "conf",
    "get_api_key",
    "get_client",
    "get_destinations",
]

logger = logging.getLogger(__name__)

#: Key → default, and key → rule, of every setting (both from ``SETTINGS``).
DEFAULTS: dict[str, Any] = {setting.key: setting.default for setting in SETTINGS}
SETTING_RULES: dict[str, Rule] = {setting.key: setting.rule for setting in SETTINGS}


@dataclass(frozen=True)
class SettingProblem:
    key: str
    message: str
    rule: Rule


#: Bad values already logged (each is logged once per process, not on every read).
_logged: set[str] = set()


class Settings:
    """Live access to ``settings.ENTERSPEED_SYNC``: ``conf.<KEY>`` for every row of
    ``SETTINGS`` (the properties are added below, one per row)."""

    @property
    def _user_settings(self) -> dict[str, Any]:
        user_settings = getattr(settings, SETTING_NAME, None) or {}
        return user_settings if isinstance(user_settings, dict) else {}

    def _get(self, setting: Setting) -> Any:
        user_settings = self._user_settings
        if setting.key not in user_settings:
            return setting.value(setting.default)
        value = user_settings[setting.key]
        problem = setting.rule.problem(setting.key, value)
        if problem is None:
            return setting.value(value)
        if problem not in _logged:
            _logged.add(problem)
            logger.error("%s Using the default, %r, until it is fixed.", problem, setting.default)
        return setting.value(setting.default)

    def problems(self) -> list[SettingProblem]:
        """Every configured value that breaks its rule."""
        configured = getattr(settings, SETTING_NAME, None)
        if configured is not None and not isinstance(configured, dict):
            message = f"{SETTING_NAME} should be a dict, not {type(configured).__name__}."
            return [SettingProblem(SETTING_NAME, message, NOT_A_DICT)]
        found = []
        for key, value in self._user_settings.items():
            rule = SETTING_RULES.get(key)
            if rule is not None and (message := rule.problem(key, value)):
                found.append(SettingProblem(key, message, rule))
        return found

    def raise_if_invalid(self) -> None:
        """Raise ``ImproperlyConfigured`` naming every error-level bad value (processing
        calls it before claiming anything, so a bad value leaves every job pending)."""
        if problems := [problem.message for problem in self.problems() if problem.rule.is_error]:
            raise ImproperlyConfigured(
                f"{' '.join(problems)} No job was claimed; `manage.py check` says what is expected."
            )

    @property
    def unknown_keys(self) -> list[str]:
        return sorted(set(self._user_settings) - set(DEFAULTS))

    @property
    def TIMEOUT_TOTAL(self) -> float:
        """The longest a request can take to fail: connect plus read timeout."""
        timeout = self.TIMEOUT
        return float(sum(timeout)) if isinstance(timeout, tuple) else float(timeout)


def _property(setting: Setting) -> property:
    def read(self: Settings) -> Any:
        return self._get(setting)

    read.__name__ = setting.key
    read.__doc__ = setting.help
    return property(read)


for _setting in SETTINGS:
    setattr(Settings, _setting.key, _property(_setting))
del _setting

conf = Settings()

#: The values of ``enterspeed_sync.models.Destination`` (not imported: conf loads first).
PUBLISH = "publish"
PREVIEW = "preview"


def get_destinations() -> list[str]:
    """The destinations jobs are made for and sent to: publish, and preview when configured."""
    return [PUBLISH, PREVIEW] if conf.PREVIEW_API_KEY else [PUBLISH]


def get_api_key(destination: str = PUBLISH) -> str:
    """The API key of a destination's Enterspeed source ("" when it is not configured)."""
    return conf.PREVIEW_API_KEY if destination == PREVIEW else conf.API_KEY
