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

Every key is optional except ``API_KEY``; ``DEFAULTS`` below documents the rest. Each
property reads ``django.conf.settings`` on every access, so ``override_settings`` works in
tests and nothing is read at import time.

``SETTING_RULES`` says what each key accepts (type and bounds). It is the one place values
are validated: the system checks report every value that breaks its rule, processing
refuses to claim jobs while one of those is an error, and a property reading a bad value
logs it and uses the default instead (so an editor's save never fails on a setting).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from enterspeed_sync import defaults
from enterspeed_sync.delivery.client import DEFAULT_BASE_URL, EnterspeedClient

logger = logging.getLogger(__name__)

SETTING_NAME = "ENTERSPEED_SYNC"

DEFAULTS: dict[str, Any] = {
    # Key of the Enterspeed source that receives published content ("source-<guid>").
    "API_KEY": "",
    "BASE_URL": DEFAULT_BASE_URL,
    # Seconds: one number for connect and read, or a (connect, read) pair.
    "TIMEOUT": (5.0, 30.0),
    # Handler classes (dotted paths or classes); the first whose can_handle(job) is true
    # wins. None means enterspeed_sync.defaults.DEFAULT_JOB_HANDLERS.
    "JOB_HANDLERS": None,
    # Jobs claimed and processed together by one worker pass.
    "BATCH_SIZE": 50,
    # Jobs left in "processing" longer than this are marked failed by the stale-job sweep.
    "STALE_PROCESSING_MINUTES": 60,
    # A django-q2 task stops claiming new batches after this many seconds and queues a
    # follow-up task, so it stays well inside Q_CLUSTER["timeout"].
    "TASK_TIME_BUDGET_SECONDS": 50,
    # False stops job creation entirely (signals are ignored); queued jobs stay queued.
    "ENABLED": True,
    # Queue a django-q2 task after each commit that created jobs. With False only the
    # once-a-minute schedule (or `manage.py enterspeed_process`) processes the queue.
    "PROCESS_ON_COMMIT": True,
    # Mapping (docs/mapping.md). Dotted paths of field/block converters tried before the
    # built-in ones; the first whose can_convert() is true wins.
    "FIELD_CONVERTERS": [],
    "BLOCK_CONVERTERS": [],
    # {"app_label.ModelName": "dotted.path.MapperClass"}; covers subclasses too.
    "MAPPERS": {},
    # Guard classes (dotted paths or classes); None means
    # enterspeed_sync.defaults.DEFAULT_GUARDS.
    "GUARDS": None,
    # A model field no converter knows: "skip" it (logged once) or "fail" the job.
    "UNKNOWN_FIELDS": "skip",
    # Absolute URL media URLs are made absolute against (a CDN, say); "" means the site's.
    "MEDIA_BASE_URL": "",
    # Image renditions sent with every image entity: {"name": "filter spec"}.
    "IMAGE_RENDITIONS": {},
    # Images and documents as entities of their own.
    "SYNC_IMAGES": True,
    "SYNC_DOCUMENTS": True,
    # Snippet models that sync, as "app_label.ModelName"; None means every registered one.
    "SNIPPET_MODELS": None,
    # Re-send the pages and snippets that reference an image, document or snippet that changed.
    "REINGEST_REFERRERS": True,
    # Pre-flight limits (the contract's): bytes per request and properties per entity.
    "MAX_PAYLOAD_BYTES": 1_048_576,
    "MAX_PROPERTIES": 5000,
    # Reliability (docs/reliability.md) ----------------------------------------------
    # Attempts per job for transient errors (network, timeouts, 5xx) before it is failed.
    "MAX_ATTEMPTS": 10,
    # Retry delay after the n-th failed attempt: random between half and all of
    # min(RETRY_MAX_DELAY, RETRY_BASE_DELAY * 2**(n-1)) seconds (jitter: no stampede).
    "RETRY_BASE_DELAY": 30.0,
    "RETRY_MAX_DELAY": 3600.0,
    # Requests per second per API key, shared by every worker on every machine (through
    # the database). Enterspeed allows 25 per tenant. None or 0 turns the limiter off.
    "RATE_LIMIT": 25.0,
    # Share of RATE_LIMIT the limiter leaves unused: 0.1 aims at 90 % of it (22.5/s), so
    # a request that leaves late, clock skew or network jitter does not put one second's
    # requests over Enterspeed's limit (every 429 pauses every worker). 0 to 0.9.
    "RATE_LIMIT_HEADROOM": 0.1,
    # A 429 without Retry-After pauses sending this long; a Retry-After is capped at
    # RETRY_AFTER_MAX so a bogus header cannot stop the sync for days.
    "RATE_LIMIT_PAUSE": 10.0,
    "RETRY_AFTER_MAX": 900.0,
    # After this many transient failures in a row the circuit breaker opens: no worker
    # claims jobs for BREAKER_COOLDOWN seconds (doubling each time, up to
    # BREAKER_COOLDOWN_MAX), then one worker probes the API with a connection test.
    "BREAKER_THRESHOLD": 5,
    "BREAKER_COOLDOWN": 30.0,
    "BREAKER_COOLDOWN_MAX": 900.0,
    # Seconds a claimed job stays leased to its worker without renewal. A heartbeat renews
    # it every third of that while the worker works (however long a request takes); a
    # killed worker's jobs are claimed again once it runs out, within this many seconds.
    "LEASE_SECONDS": 30.0,
    # A task waits for jobs that become due (a retry, a pause, an expired lease) within
    # this many seconds, instead of leaving them to the once-a-minute schedule.
    "RETRY_WAIT_SECONDS": 10.0,
    # Do not re-send an entity whose payload is identical to the last one Enterspeed
    # accepted (per the ledger). `enterspeed_seed --force` sends everything anyway.
    "SKIP_UNCHANGED": True,
    # Send saves and deletes in bulk requests of up to 50 entities. An account that refuses
    # bulk requests is detected and sent single requests automatically; False always does.
    "BULK_INGEST": True,
    # Preview (docs/preview.md) ---------------------------------------------------------
    # Key of the Enterspeed source that receives drafts; "" turns the preview source off.
    "PREVIEW_API_KEY": "",
    # A draft save's preview job waits this long before it is sent, so a burst of
    # autosaves (one every half second while typing) costs one request per interval.
    "PREVIEW_SETTLE_SECONDS": 2.0,
    # One locale-independent entity per set of translated pages (docs/translation-groups.md).
    "TRANSLATION_GROUPS": False,
    # URLs called after a processing run that changed something in Enterspeed
    # (docs/post-sync.md): [{"url": ..., "method": "POST", "headers": {...}}, ...].
    "POST_SYNC_HOOKS": [],
}


# What each setting accepts ---------------------------------------------------------------

#: The check id a rule reports under when it names none (docs/checks.md).
WRONG_VALUE = "enterspeed_sync.E014"


@dataclass(frozen=True)
class Rule:
    """What one setting accepts: ``expects`` ends the sentence "… should be"."""

    expects: str
    accepts: Callable[[Any], bool]
    check_id: str = WRONG_VALUE

    @property
    def is_error(self) -> bool:
        return ".E" in self.check_id

    def problem(self, key: str, value: Any) -> str | None:
        """What is wrong with ``value`` for ``key``, or None."""
        if self.accepts(value):
            return None
        return f"{SETTING_NAME}[{key!r}] should be {self.expects}, not {value!r}."


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)  # NaN and infinity are not


def _is_timeout(value: Any) -> bool:
    # requests takes one number or a (connect, read) pair; [5] fails every request.
    parts = tuple(value) if isinstance(value, list | tuple) else None
    if parts is None:
        return _is_number(value) and value > 0
    return len(parts) == 2 and all(_is_number(part) and part > 0 for part in parts)


def _is_text_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)


def _is_class_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(item, str | type) for item in value)


def _is_text_dict(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(key, str) and isinstance(item, str) for key, item in value.items()
    )


def boolean() -> Rule:
    return Rule("True or False", lambda value: isinstance(value, bool))


def text(*, optional: bool = False) -> Rule:
    return Rule(
        "a string" + (" (or None)" if optional else ""),
        lambda value: isinstance(value, str) or (optional and value is None),
    )


def choice(*options: str, check_id: str = WRONG_VALUE) -> Rule:
    return Rule(" or ".join(map(repr, options)), lambda value: value in options, check_id)


def positive_whole(check_id: str = WRONG_VALUE) -> Rule:
    return Rule(
        "a positive whole number",
        lambda value: isinstance(value, int) and not isinstance(value, bool) and value > 0,
        check_id,
    )


def positive_number(check_id: str = WRONG_VALUE) -> Rule:
    return Rule("a positive number", lambda value: _is_number(value) and value > 0, check_id)


def non_negative_number(check_id: str = WRONG_VALUE, *, optional: bool = False) -> Rule:
    return Rule(
        "a number, 0 or more" + (" (or None)" if optional else ""),
        lambda value: (_is_number(value) and value >= 0) or (optional and value is None),
        check_id,
    )


def classes(*, optional: bool = False, check_id: str = WRONG_VALUE) -> Rule:
    return Rule(
        "a list of classes or their dotted paths"
        + (" or None for the defaults" if optional else ""),
        lambda value: _is_class_list(value) or (optional and value is None),
        check_id,
    )


def text_dict(expects: str) -> Rule:
    return Rule(expects, _is_text_dict)


E006, E007, E010 = "enterspeed_sync.E006", "enterspeed_sync.E007", "enterspeed_sync.E010"

#: What each key of ``DEFAULTS`` accepts, and the check id that reports a value it does not.
SETTING_RULES: dict[str, Rule] = {
    "API_KEY": text(optional=True),
    "BASE_URL": text(),
    "TIMEOUT": Rule(
        "a positive number of seconds or a (connect, read) pair of them", _is_timeout, E006
    ),
    "JOB_HANDLERS": classes(optional=True, check_id="enterspeed_sync.E003"),
    "BATCH_SIZE": positive_whole(E007),
    "STALE_PROCESSING_MINUTES": positive_whole(E007),
    "TASK_TIME_BUDGET_SECONDS": positive_number(E007),
    "ENABLED": boolean(),
    "PROCESS_ON_COMMIT": boolean(),
    "FIELD_CONVERTERS": classes(),
    "BLOCK_CONVERTERS": classes(),
    "MAPPERS": Rule(
        "a dict of {'app_label.ModelName': mapper class or its dotted path}",
        lambda value: (
            isinstance(value, dict)
            and all(
                isinstance(key, str) and isinstance(item, str | type) for key, item in value.items()
            )
        ),
    ),
    "GUARDS": classes(optional=True),
    "UNKNOWN_FIELDS": choice("skip", "fail", check_id="enterspeed_sync.W005"),
    "MEDIA_BASE_URL": text(optional=True),
    "IMAGE_RENDITIONS": text_dict("a dict of {'name': 'filter spec'} strings"),
    "SYNC_IMAGES": boolean(),
    "SYNC_DOCUMENTS": boolean(),
    "SNIPPET_MODELS": Rule(
        "a list of 'app_label.ModelName' strings, or None for every snippet model",
        lambda value: value is None or _is_text_list(value),
    ),
    "REINGEST_REFERRERS": boolean(),
    "MAX_PAYLOAD_BYTES": positive_whole(),
    "MAX_PROPERTIES": positive_whole(),
    "MAX_ATTEMPTS": positive_whole(E010),
    "RETRY_BASE_DELAY": positive_number(E010),
    "RETRY_MAX_DELAY": positive_number(E010),
    "RATE_LIMIT": non_negative_number(E010, optional=True),
    "RATE_LIMIT_HEADROOM": Rule(
        "a number from 0 to 0.9 (the share of RATE_LIMIT the limiter leaves unused)",
        lambda value: _is_number(value) and 0 <= value <= 0.9,
        E010,
    ),
    "RATE_LIMIT_PAUSE": non_negative_number(E010),
    "RETRY_AFTER_MAX": positive_number(E010),
    "BREAKER_THRESHOLD": positive_whole(E010),
    "BREAKER_COOLDOWN": positive_number(E010),
    "BREAKER_COOLDOWN_MAX": positive_number(E010),
    "LEASE_SECONDS": positive_number(E010),
    "RETRY_WAIT_SECONDS": non_negative_number(E010),
    "SKIP_UNCHANGED": boolean(),
    "BULK_INGEST": boolean(),
    "PREVIEW_API_KEY": text(optional=True),
    "PREVIEW_SETTLE_SECONDS": non_negative_number(E010),
    "TRANSLATION_GROUPS": boolean(),
    # Each entry is checked by post_sync.hook_problems (E012 too).
    "POST_SYNC_HOOKS": Rule(
        "a list of dicts", lambda value: isinstance(value, list | tuple), "enterspeed_sync.E012"
    ),
}


#: The whole setting is not a dict (reported by its own check, E008).
NOT_A_DICT = Rule("a dict", lambda value: isinstance(value, dict), "enterspeed_sync.E008")


@dataclass(frozen=True)
class SettingProblem:
    key: str
    message: str
    rule: Rule


#: Bad values already logged (each is logged once per process, not on every read).
_logged: set[str] = set()


class Settings:
    """Typed, live access to ``settings.ENTERSPEED_SYNC``."""

    @property
    def _user_settings(self) -> dict[str, Any]:
        user_settings = getattr(settings, SETTING_NAME, None) or {}
        return user_settings if isinstance(user_settings, dict) else {}

    def _get(self, key: str) -> Any:
        user_settings = self._user_settings
        if key not in user_settings:
            return DEFAULTS[key]
        value = user_settings[key]
        rule = SETTING_RULES.get(key)
        problem = rule.problem(key, value) if rule else None
        if problem is None:
            return value
        if problem not in _logged:
            _logged.add(problem)
            logger.error("%s Using the default, %r, until it is fixed.", problem, DEFAULTS[key])
        return DEFAULTS[key]

    def problems(self) -> list[SettingProblem]:
        """Every configured value that breaks its rule in ``SETTING_RULES``."""
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

    @property
    def unknown_keys(self) -> list[str]:
        return sorted(set(self._user_settings) - set(DEFAULTS))

    @property
    def API_KEY(self) -> str:
        return self._get("API_KEY") or ""

    @property
    def BASE_URL(self) -> str:
        return str(self._get("BASE_URL")).rstrip("/")

    @property
    def TIMEOUT(self) -> float | tuple[float, float]:
        value = self._get("TIMEOUT")
        return tuple(value) if isinstance(value, list | tuple) else value

    @property
    def JOB_HANDLERS(self) -> list[str | type]:
        value = self._get("JOB_HANDLERS")
        return list(defaults.DEFAULT_JOB_HANDLERS if value is None else value)

    @property
    def BATCH_SIZE(self) -> int:
        return int(self._get("BATCH_SIZE"))

    @property
    def STALE_PROCESSING_MINUTES(self) -> int:
        return int(self._get("STALE_PROCESSING_MINUTES"))

    @property
    def TASK_TIME_BUDGET_SECONDS(self) -> float:
        return float(self._get("TASK_TIME_BUDGET_SECONDS"))

    @property
    def ENABLED(self) -> bool:
        return bool(self._get("ENABLED"))

    @property
    def PROCESS_ON_COMMIT(self) -> bool:
        return bool(self._get("PROCESS_ON_COMMIT"))

    @property
    def FIELD_CONVERTERS(self) -> list[str]:
        return list(self._get("FIELD_CONVERTERS") or [])

    @property
    def BLOCK_CONVERTERS(self) -> list[str]:
        return list(self._get("BLOCK_CONVERTERS") or [])

    @property
    def MAPPERS(self) -> dict[str, str]:
        return dict(self._get("MAPPERS") or {})

    @property
    def GUARDS(self) -> list[str | type]:
        value = self._get("GUARDS")
        return list(defaults.DEFAULT_GUARDS if value is None else value)

    @property
    def UNKNOWN_FIELDS(self) -> str:
        return str(self._get("UNKNOWN_FIELDS"))

    @property
    def MEDIA_BASE_URL(self) -> str:
        return str(self._get("MEDIA_BASE_URL") or "").rstrip("/")

    @property
    def IMAGE_RENDITIONS(self) -> dict[str, str]:
        return dict(self._get("IMAGE_RENDITIONS") or {})

    @property
    def SYNC_IMAGES(self) -> bool:
        return bool(self._get("SYNC_IMAGES"))

    @property
    def SYNC_DOCUMENTS(self) -> bool:
        return bool(self._get("SYNC_DOCUMENTS"))

    @property
    def SNIPPET_MODELS(self) -> list[str] | None:
        value = self._get("SNIPPET_MODELS")
        return None if value is None else list(value)

    @property
    def REINGEST_REFERRERS(self) -> bool:
        return bool(self._get("REINGEST_REFERRERS"))

    @property
    def MAX_PAYLOAD_BYTES(self) -> int:
        return int(self._get("MAX_PAYLOAD_BYTES"))

    @property
    def MAX_PROPERTIES(self) -> int:
        return int(self._get("MAX_PROPERTIES"))

    @property
    def MAX_ATTEMPTS(self) -> int:
        return int(self._get("MAX_ATTEMPTS"))

    @property
    def RETRY_BASE_DELAY(self) -> float:
        return float(self._get("RETRY_BASE_DELAY"))

    @property
    def RETRY_MAX_DELAY(self) -> float:
        return float(self._get("RETRY_MAX_DELAY"))

    @property
    def RATE_LIMIT(self) -> float:
        """Requests per second; 0 means unlimited."""
        return float(self._get("RATE_LIMIT") or 0)

    @property
    def RATE_LIMIT_HEADROOM(self) -> float:
        """The share of ``RATE_LIMIT`` left unused, 0 to 0.9."""
        return float(self._get("RATE_LIMIT_HEADROOM"))

    @property
    def RATE_LIMIT_PAUSE(self) -> float:
        return float(self._get("RATE_LIMIT_PAUSE"))

    @property
    def RETRY_AFTER_MAX(self) -> float:
        return float(self._get("RETRY_AFTER_MAX"))

    @property
    def BREAKER_THRESHOLD(self) -> int:
        return int(self._get("BREAKER_THRESHOLD"))

    @property
    def BREAKER_COOLDOWN(self) -> float:
        return float(self._get("BREAKER_COOLDOWN"))

    @property
    def BREAKER_COOLDOWN_MAX(self) -> float:
        return float(self._get("BREAKER_COOLDOWN_MAX"))

    @property
    def LEASE_SECONDS(self) -> float:
        return float(self._get("LEASE_SECONDS"))

    @property
    def RETRY_WAIT_SECONDS(self) -> float:
        return float(self._get("RETRY_WAIT_SECONDS"))

    @property
    def SKIP_UNCHANGED(self) -> bool:
        return bool(self._get("SKIP_UNCHANGED"))

    @property
    def BULK_INGEST(self) -> bool:
        return bool(self._get("BULK_INGEST"))

    @property
    def PREVIEW_API_KEY(self) -> str:
        return self._get("PREVIEW_API_KEY") or ""

    @property
    def PREVIEW_SETTLE_SECONDS(self) -> float:
        return float(self._get("PREVIEW_SETTLE_SECONDS") or 0)

    @property
    def TRANSLATION_GROUPS(self) -> bool:
        return bool(self._get("TRANSLATION_GROUPS"))

    @property
    def POST_SYNC_HOOKS(self) -> list[dict[str, Any]]:
        return list(self._get("POST_SYNC_HOOKS") or [])

    @property
    def TIMEOUT_TOTAL(self) -> float:
        """The longest a request can take to fail: connect plus read timeout."""
        timeout = self.TIMEOUT
        return float(sum(timeout)) if isinstance(timeout, tuple) else float(timeout)


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


def get_client(*, before_request=None, destination: str = PUBLISH) -> EnterspeedClient:
    """The ingest client for a destination's source. Handlers receive it; never build one.
    ``before_request`` is called before every request (the job runner's rate limiter)."""
    return EnterspeedClient(
        api_key=get_api_key(destination),
        base_url=conf.BASE_URL,
        timeout=conf.TIMEOUT,
        before_request=before_request,
    )
