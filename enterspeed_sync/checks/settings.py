"""
Checks of the ``ENTERSPEED_SYNC`` values: its shape, every value against its rule in
``conf.SETTINGS``, the API keys and URL, the post-sync hooks, and how the reliability
numbers fit together.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from enterspeed_sync.conf import DEFAULTS, SETTING_NAME, conf
from enterspeed_sync.delivery.client import key_problem
from enterspeed_sync.processing.post_sync import hook_problems


@register(Tags.compatibility)
def check_settings_shape(app_configs=None, **kwargs):
    user_settings = getattr(settings, SETTING_NAME, None)
    if user_settings is not None and not isinstance(user_settings, dict):
        return [Error(f"{SETTING_NAME} should be a dict.", id="enterspeed_sync.E008")]
    if unknown := conf.unknown_keys:
        return [
            Warning(
                f"Unknown keys in {SETTING_NAME}: {', '.join(unknown)}.",
                hint="Check the spelling against the configuration reference in docs/.",
                id="enterspeed_sync.W001",
            )
        ]
    return []


@register(Tags.compatibility)
def check_setting_values(app_configs=None, **kwargs):
    """Every value against its rule in ``conf.SETTING_RULES`` (type and bounds)."""
    if not is_dict_setting():
        return []
    messages = []
    for problem in conf.problems():
        default = DEFAULTS[problem.key]
        if problem.rule.is_error:
            hint = (
                f"Processing claims no job until it is fixed. The default is {default!r}; "
                "see docs/configuration.md."
            )
            messages.append(Error(problem.message, hint=hint, id=problem.rule.check_id))
        else:
            hint = f"The default, {default!r}, is used until it is fixed."
            messages.append(Warning(problem.message, hint=hint, id=problem.rule.check_id))
    return messages


@register(Tags.compatibility)
def check_api_key(app_configs=None, **kwargs):
    if not is_dict_setting() or not conf.ENABLED:
        return []
    if not conf.API_KEY:
        # A warning, not an error: the site migrates and serves without a key (a build
        # step, a developer's machine); only sending waits for it. (E001 was this check.)
        return [
            Warning(
                f"No Enterspeed API key is configured ({SETTING_NAME}['API_KEY']): jobs "
                "are queued, but the cluster sends nothing until it is set.",
                hint="Set the ENTERSPEED_API_KEY environment variable (docs/installation.md "
                "reads the key from it) in every shell and service that runs manage.py for "
                "this site, the cluster's (qcluster) included, to the key of the Enterspeed "
                "source that receives published content ('source-<guid>'); or set ENABLED "
                "to False where nothing should be synced.",
                id="enterspeed_sync.W032",
            )
        ]
    if problems := key_messages("API_KEY", conf.API_KEY):
        return problems
    if not conf.API_KEY.startswith("source-"):
        return [
            Warning(
                f"{SETTING_NAME}['API_KEY'] does not look like an Enterspeed source key.",
                hint="Ingest keys start with 'source-'; management API keys do not work here.",
                id="enterspeed_sync.W002",
            )
        ]
    return []


def key_messages(name: str, key: str) -> list:
    """
    What reading the key ``name`` did or cannot do: whitespace around it is dropped (a
    warning: it was read from a file or a secret store as it is), and a key that cannot
    go into the X-Api-Key header is an error. Neither message shows the key.
    """
    messages = []
    configured = (getattr(settings, SETTING_NAME, None) or {}).get(name)
    if isinstance(configured, str) and configured != configured.strip():
        messages.append(
            Warning(
                f"{SETTING_NAME}[{name!r}] has whitespace around it (a space or a line "
                "break); it is used without it.",
                hint="Strip the key where it is read (a file or a secret store keeps the "
                "newline at its end), so the setting holds the key alone.",
                id="enterspeed_sync.W024",
            )
        )
    if problem := key_problem(key):
        messages.append(
            Error(
                f"{SETTING_NAME}[{name!r}] cannot be sent as the X-Api-Key header: {problem}.",
                hint="Copy the key again from Enterspeed (it looks like 'source-<guid>'). "
                "Until it is fixed nothing is sent to that source, and its jobs wait.",
                id="enterspeed_sync.E015",
            )
        )
    return messages


@register(Tags.compatibility)
def check_preview_api_key(app_configs=None, **kwargs):
    if not is_dict_setting() or not conf.PREVIEW_API_KEY:
        return []
    if conf.PREVIEW_API_KEY == conf.API_KEY:
        return [
            Error(
                f"{SETTING_NAME}['PREVIEW_API_KEY'] is the same key as API_KEY: drafts would "
                "overwrite published content in that source.",
                hint="Use the key of a separate Enterspeed preview source, or remove "
                "PREVIEW_API_KEY.",
                id="enterspeed_sync.E011",
            )
        ]
    if problems := key_messages("PREVIEW_API_KEY", conf.PREVIEW_API_KEY):
        return problems
    if not conf.PREVIEW_API_KEY.startswith("source-"):
        return [
            Warning(
                f"{SETTING_NAME}['PREVIEW_API_KEY'] does not look like an Enterspeed source key.",
                hint="Ingest keys start with 'source-'; management API keys do not work here.",
                id="enterspeed_sync.W021",
            )
        ]
    return []


@register(Tags.compatibility)
def check_post_sync_hooks(app_configs=None, **kwargs):

    if not is_dict_setting():
        return []
    hooks = conf.POST_SYNC_HOOKS  # not a list: check_setting_values reports it (E012)
    return [
        Error(
            f"{SETTING_NAME}['POST_SYNC_HOOKS'][{index}] {'; it '.join(problems)}.",
            hint="Each hook is a dict such as {'url': 'https://…', 'method': 'POST'}; "
            "see docs/post-sync.md. An invalid hook is never called.",
            id="enterspeed_sync.E012",
        )
        for index, entry in enumerate(hooks)
        if (problems := hook_problems(entry))
    ]


@register(Tags.compatibility)
def check_base_url(app_configs=None, **kwargs):
    if not is_dict_setting():
        return []
    url = conf.BASE_URL
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return [
            Error(
                f"{SETTING_NAME}['BASE_URL'] should be an http(s) URL with a host, not {url!r}.",
                hint="The default is https://api.enterspeed.com.",
                id="enterspeed_sync.E002",
            )
        ]
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return [
            Warning(
                f"{SETTING_NAME}['BASE_URL'] ({url}) is not https: the API key and every "
                "entity would cross the network unencrypted.",
                hint="Use https://api.enterspeed.com; plain http is for a local stand-in "
                "(127.0.0.1, ::1 or localhost).",
                id="enterspeed_sync.W023",
            )
        ]
    return []


#: Hosts a plain-http BASE_URL may name without a warning (a local stand-in).
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


# Reliability (docs/reliability.md) ------------------------------------------------------

#: Enterspeed's documented ingest limit per tenant.
ENTERSPEED_RATE_LIMIT = 25
#: Enterspeed's size limit per source entity (its 413 says "exceeds 5,242,880B").
ENTERSPEED_ENTITY_LIMIT = 5_242_880
#: The shortest lease that a few seconds of database slowness cannot take from a live worker.
MIN_LEASE_SECONDS = 10.0


@register(Tags.compatibility)
def check_reliability_numbers(app_configs=None, **kwargs):
    """How the (valid) reliability settings fit together; their values: check_setting_values."""
    if not is_dict_setting():
        return []
    user_settings = getattr(settings, SETTING_NAME, None) or {}
    invalid = {problem.key for problem in conf.problems()}
    errors = []
    rate = conf.RATE_LIMIT
    if "RATE_LIMIT" in user_settings and "RATE_LIMIT" not in invalid:
        if not rate or rate > ENTERSPEED_RATE_LIMIT:
            errors.append(
                Warning(
                    f"{SETTING_NAME}['RATE_LIMIT'] is "
                    f"{'off' if not rate else f'{rate:g} requests per second'}; Enterspeed "
                    f"allows {ENTERSPEED_RATE_LIMIT} per tenant, so a big seed will get 429s.",
                    hint="Leave RATE_LIMIT at its default unless Enterspeed raised your limit.",
                    id="enterspeed_sync.W017",
                )
            )
    if "MAX_PAYLOAD_BYTES" not in invalid and conf.MAX_PAYLOAD_BYTES > ENTERSPEED_ENTITY_LIMIT:
        errors.append(
            Warning(
                f"{SETTING_NAME}['MAX_PAYLOAD_BYTES'] ({conf.MAX_PAYLOAD_BYTES:,} bytes) is "
                f"above Enterspeed's limit of {ENTERSPEED_ENTITY_LIMIT:,} bytes per entity: a "
                "bigger entity passes the pre-flight check and is refused by Enterspeed "
                "(413), a request later.",
                hint="Keep MAX_PAYLOAD_BYTES at 1048576 (the documented 1 MB per request, "
                "the default) or at most 5242880.",
                id="enterspeed_sync.W025",
            )
        )
    if "LEASE_SECONDS" not in invalid and conf.LEASE_SECONDS < MIN_LEASE_SECONDS:
        errors.append(
            Warning(
                f"{SETTING_NAME}['LEASE_SECONDS'] ({conf.LEASE_SECONDS:g}) is under "
                f"{MIN_LEASE_SECONDS:g} s: a worker renews its lease every third of it, so a "
                "database slow for a few seconds could hand a live worker's batch to another.",
                hint="Keep LEASE_SECONDS at 10 or more (default 30): a killed worker's jobs "
                "are claimed again once it runs out.",
                id="enterspeed_sync.W010",
            )
        )
    return errors


def is_dict_setting() -> bool:
    return isinstance(getattr(settings, SETTING_NAME, None) or {}, dict)
