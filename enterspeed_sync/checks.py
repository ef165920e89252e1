"""
System checks. Ids are listed in docs/checks.md and never reused.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections, router
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from modelcluster.models import get_all_child_relations
from wagtail.images.exceptions import InvalidFilterSpecError
from wagtail.images.models import Filter
from wagtail.models import get_page_models

from enterspeed_sync.conf import DEFAULTS, SETTING_NAME, conf
from enterspeed_sync.guards import BaseGuard
from enterspeed_sync.handlers import load_handler_class
from enterspeed_sync.loading import SettingImportError, describe, load_class
from enterspeed_sync.mapping import (
    BaseBlockConverter,
    BaseFieldConverter,
    BaseMapper,
    get_synced_snippet_models,
)
from enterspeed_sync.mapping.api_fields import find_entry_problems
from enterspeed_sync.mapping.identity import get_document_model, get_image_model
from enterspeed_sync.models import EnterspeedJob
from enterspeed_sync.processing.post_sync import hook_problems
from enterspeed_sync.status import get_sync_status


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
    if not _is_dict_setting():
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
    if not _is_dict_setting() or not conf.ENABLED:
        return []
    if not conf.API_KEY:
        return [
            Error(
                f"No Enterspeed API key is configured: set {SETTING_NAME}['API_KEY'].",
                hint="Use the key of the Enterspeed source that should receive published "
                "content (it looks like 'source-<guid>'), or set ENABLED to False.",
                id="enterspeed_sync.E001",
            )
        ]
    if not conf.API_KEY.startswith("source-"):
        return [
            Warning(
                f"{SETTING_NAME}['API_KEY'] does not look like an Enterspeed source key.",
                hint="Ingest keys start with 'source-'; management API keys do not work here.",
                id="enterspeed_sync.W002",
            )
        ]
    return []


@register(Tags.compatibility)
def check_preview_api_key(app_configs=None, **kwargs):
    if not _is_dict_setting() or not conf.PREVIEW_API_KEY:
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

    if not _is_dict_setting():
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
    if not _is_dict_setting():
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


@register(Tags.compatibility)
def check_job_handlers(app_configs=None, **kwargs):

    if not _is_dict_setting():
        return []
    errors = []
    seen_keys: dict[str, str] = {}
    # Not a list of paths or classes: E003 from check_setting_values.
    for entry in conf.JOB_HANDLERS:
        path = describe(entry)
        try:
            handler_class = load_handler_class(entry)
        except ImproperlyConfigured as e:
            error_id = "E003" if isinstance(e, SettingImportError) else "E004"
            errors.append(Error(str(e), id=f"enterspeed_sync.{error_id}"))
            continue
        key = handler_class.key or path
        if key in seen_keys:
            errors.append(
                Warning(
                    f"{path!r} and {seen_keys[key]!r} in {SETTING_NAME}['JOB_HANDLERS'] share "
                    f"the key {key!r}.",
                    hint="Give every handler class its own `key`.",
                    id="enterspeed_sync.W003",
                )
            )
        seen_keys[key] = path
    return errors


@register(Tags.compatibility)
def check_mapping_classes(app_configs=None, **kwargs):

    if not _is_dict_setting():
        return []
    listed = [
        *(("FIELD_CONVERTERS", path, BaseFieldConverter) for path in conf.FIELD_CONVERTERS),
        *(("BLOCK_CONVERTERS", path, BaseBlockConverter) for path in conf.BLOCK_CONVERTERS),
        *(("GUARDS", path, BaseGuard) for path in conf.GUARDS),
        *(("MAPPERS", path, BaseMapper) for path in conf.MAPPERS.values()),
    ]
    errors = []
    for setting, path, base_class in listed:
        try:
            load_class(path, base_class, setting)
        except ImproperlyConfigured as e:
            errors.append(Error(str(e), id="enterspeed_sync.E009"))
    return errors


@register(Tags.urls)
def check_api_urls_before_wagtail_admin(app_configs=None, **kwargs):
    """The operations API mounted behind Wagtail's admin URLs never answers."""
    try:
        health_path = reverse("enterspeed_sync_api:health")
    except (NoReverseMatch, ImproperlyConfigured):
        return []  # the API is not mounted (it is optional)
    try:
        match = resolve(health_path)
    except Resolver404:
        return []
    if "enterspeed_sync_api" in match.app_names:
        return []
    return [
        Warning(
            f"The operations API ({health_path}) is mounted after a URL pattern that answers "
            f"its requests instead: {match.route!r}, view {match.view_name}.",
            hint="Put path(..., include('enterspeed_sync.api.urls')) before Wagtail's admin "
            "URLs in urlpatterns (see docs/installation.md).",
            id="enterspeed_sync.W022",
        )
    ]


@register(Tags.compatibility)
def check_mapping_settings(app_configs=None, **kwargs):
    if not _is_dict_setting():
        return []
    warnings = []
    for label in conf.MAPPERS:
        try:
            apps.get_model(label)
        except (LookupError, ValueError):
            warnings.append(
                Warning(
                    f"{SETTING_NAME}['MAPPERS'] names {label!r}, which is not an installed model.",
                    hint="Use 'app_label.ModelName', e.g. 'blog.BlogPage'.",
                    id="enterspeed_sync.W006",
                )
            )
    if conf.SNIPPET_MODELS is not None:
        synced = {model._meta.label_lower for model in get_synced_snippet_models()}
        for label in conf.SNIPPET_MODELS:
            if label.lower() not in synced:
                warnings.append(
                    Warning(
                        f"{SETTING_NAME}['SNIPPET_MODELS'] names {label!r}, which is not a "
                        "registered snippet model; it does not sync.",
                        hint="Register it with wagtail.snippets.models.register_snippet.",
                        id="enterspeed_sync.W007",
                    )
                )
    media_base_url = conf.MEDIA_BASE_URL
    if media_base_url and urlsplit(media_base_url).scheme not in ("http", "https"):
        warnings.append(
            Warning(
                f"{SETTING_NAME}['MEDIA_BASE_URL'] should be an absolute http(s) URL, not "
                f"{media_base_url!r}.",
                id="enterspeed_sync.W008",
            )
        )
    warnings += _check_renditions()
    return warnings


def _check_renditions():
    warnings = []
    for name, spec in conf.IMAGE_RENDITIONS.items():
        try:
            Filter(spec=spec).operations  # noqa: B018  (parsing is the check)
        except InvalidFilterSpecError as e:
            warnings.append(
                Warning(
                    f"{SETTING_NAME}['IMAGE_RENDITIONS'][{name!r}] is not a valid filter spec: {e}",
                    hint="Use a Wagtail filter spec such as 'fill-300x200' or 'width-800'.",
                    id="enterspeed_sync.W009",
                )
            )
    return warnings


@register(Tags.compatibility)
def check_django_q_installed(app_configs=None, **kwargs):
    if not apps.is_installed("django_q"):
        return [
            Error(
                "enterspeed_sync processes jobs with django-q2, but 'django_q' is not in "
                "INSTALLED_APPS.",
                hint="Add 'django_q' to INSTALLED_APPS and configure Q_CLUSTER.",
                id="enterspeed_sync.E005",
            )
        ]
    return []


@register(Tags.compatibility)
def check_sqlite_transaction_mode(app_configs=None, **kwargs):
    connection = connections["default"]
    if connection.vendor != "sqlite":
        return []
    options = connection.settings_dict.get("OPTIONS", {})
    if options.get("transaction_mode") in ("IMMEDIATE", "EXCLUSIVE"):
        return []
    return [
        Warning(
            "SQLite runs without transaction_mode 'IMMEDIATE'; the job queue and the "
            "django-q2 cluster can then fail with 'database is locked' under load.",
            hint='Set DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE" '
            "(and WAL mode), or use PostgreSQL in production.",
            id="enterspeed_sync.W004",
        )
    ]


def _is_dict_setting() -> bool:
    return isinstance(getattr(settings, SETTING_NAME, None) or {}, dict)


@register(Tags.compatibility)
def check_task_results_saved(app_configs=None, **kwargs):
    """The admin dashboard reads a seed's result from django-q2's saved task results."""
    q_cluster = getattr(settings, "Q_CLUSTER", None) or {}
    save_limit = q_cluster.get("save_limit", 250) if isinstance(q_cluster, dict) else 250
    if isinstance(save_limit, int) and save_limit < 0:
        return [
            Warning(
                "Q_CLUSTER['save_limit'] is negative, so django-q2 keeps no successful task "
                "results and the Enterspeed dashboard cannot show what a seed queued.",
                hint="Use save_limit 0 (keep all) or a positive number such as 250.",
                id="enterspeed_sync.W020",
            )
        ]
    return []


# Reliability (docs/reliability.md) ------------------------------------------------------

#: Enterspeed's documented ingest limit per tenant.
ENTERSPEED_RATE_LIMIT = 25
#: The shortest lease that a few seconds of database slowness cannot take from a live worker.
MIN_LEASE_SECONDS = 10.0


@register(Tags.compatibility)
def check_reliability_numbers(app_configs=None, **kwargs):
    """How the (valid) reliability settings fit together; their values: check_setting_values."""
    if not _is_dict_setting():
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


@register(Tags.compatibility)
def check_q_cluster(app_configs=None, **kwargs):
    """The django-q2 settings that put jobs at risk (docs/reliability.md#recommended-settings)."""
    q_cluster = getattr(settings, "Q_CLUSTER", None)
    if not isinstance(q_cluster, dict) or not apps.is_installed("django_q"):
        return []
    warnings = []
    timeout, retry = q_cluster.get("timeout"), q_cluster.get("retry", 60)
    if not _is_number(timeout) or not _is_number(retry) or retry <= timeout:
        warnings.append(
            Warning(
                f"Q_CLUSTER['retry'] ({retry!r}) should be well above Q_CLUSTER['timeout'] "
                f"({timeout!r}): django-q2 hands a task to a second worker once `retry` "
                "seconds have passed, even while the first still runs it.",
                hint="e.g. 'timeout': 120, 'retry': 300.",
                id="enterspeed_sync.W011",
            )
        )
    elif _is_dict_setting() and conf.TASK_TIME_BUDGET_SECONDS >= timeout:
        warnings.append(
            Warning(
                f"{SETTING_NAME}['TASK_TIME_BUDGET_SECONDS'] "
                f"({conf.TASK_TIME_BUDGET_SECONDS:g}) should be below Q_CLUSTER['timeout'] "
                f"({timeout:g}), or django-q2 kills the task in the middle of a batch.",
                hint="Keep the budget at about half of the timeout.",
                id="enterspeed_sync.W015",
            )
        )
    if q_cluster.get("max_attempts", 0) != 1 and not q_cluster.get("ack_failures", False):
        warnings.append(
            Warning(
                "django-q2 retries failed tasks (Q_CLUSTER has neither 'max_attempts': 1 nor "
                "'ack_failures': True); enterspeed_sync keeps retry state in its job rows, and "
                "django-q2's own retries only repeat whole batches without backoff.",
                hint="Set 'max_attempts': 1 and 'ack_failures': True.",
                id="enterspeed_sync.W012",
            )
        )
    orm = q_cluster.get("orm")
    jobs_alias = router.db_for_write(EnterspeedJob)
    if orm and orm != jobs_alias:
        warnings.append(
            Warning(
                f"The django-q2 ORM broker uses the database {orm!r} but Enterspeed jobs live "
                f"in {jobs_alias!r}: queueing a task inside a transaction then closes the "
                "other connection and breaks the editor's transaction.",
                hint=f"Set Q_CLUSTER['orm'] = {jobs_alias!r}.",
                id="enterspeed_sync.W013",
            )
        )
    database = connections[orm or jobs_alias] if (orm or jobs_alias) in connections else None
    if (
        orm
        and database is not None
        and database.vendor == "postgresql"
        and not database.settings_dict.get("CONN_MAX_AGE")
    ):
        warnings.append(
            Warning(
                f"DATABASES[{orm!r}] has CONN_MAX_AGE = 0: django-q2's ORM broker then opens "
                "a new PostgreSQL connection for every broker call (about 10x slower).",
                hint="Set CONN_MAX_AGE = 300 and CONN_HEALTH_CHECKS = True.",
                id="enterspeed_sync.W014",
            )
        )
    return warnings


@register(Tags.compatibility)
def check_sqlite_wal(app_configs=None, **kwargs):
    connection = connections["default"]
    if connection.vendor != "sqlite":
        return []
    init_command = str(connection.settings_dict.get("OPTIONS", {}).get("init_command", ""))
    if "journal_mode=wal" in init_command.replace(" ", "").lower():
        return []
    return [
        Warning(
            "SQLite runs without WAL mode: every write then blocks readers, and the job "
            "queue, the cluster and the site wait on each other.",
            hint='Add "PRAGMA journal_mode=WAL;" to DATABASES["default"]["OPTIONS"]'
            '["init_command"] (see docs/reliability.md#recommended-settings).',
            id="enterspeed_sync.W018",
        )
    ]


@register(Tags.database)
def check_sync_status(app_configs=None, databases=None, **kwargs):
    """Why nothing moves: run with `manage.py check --database default`."""
    if not databases or not _is_dict_setting():
        return []
    try:
        status = get_sync_status()
    except DatabaseError:
        return []  # not migrated yet
    return [
        Warning(
            f"Enterspeed sync: {row.message}",
            hint=f"{row.pending} pending, {row.processing} processing, {row.failed} failed jobs.",
            id="enterspeed_sync.W016",
        )
        for row in status.destinations
        if not row.ok
    ]


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@register(Tags.models)
def check_property_entries(app_configs=None, **kwargs):
    """Each synced model's enterspeed_fields/api_fields entry must resolve, as Wagtail's API
    needs it to; otherwise every job of that model fails."""

    if not _is_dict_setting():
        return []  # E008 says so; which models sync is unknown
    synced = [*get_page_models(), *get_synced_snippet_models()]
    if conf.SYNC_IMAGES:
        synced.append(get_image_model())
    if conf.SYNC_DOCUMENTS:
        synced.append(get_document_model())
    # Inline children are mapped with their own entries too.
    models = list(
        dict.fromkeys(
            model
            for parent in synced
            for model in [parent, *(rel.related_model for rel in get_all_child_relations(parent))]
        )
    )
    errors = []
    for model in models:
        if callable(getattr(model, "get_enterspeed_properties", None)):
            continue  # the model builds its properties itself
        uses_own = getattr(model, "enterspeed_fields", None) is not None
        setting = "enterspeed_fields" if uses_own else "api_fields"
        for entry, problem in find_entry_problems(model, setting):
            errors.append(
                Error(
                    f"{model._meta.label}.{setting} entry {entry!r}: {problem}.",
                    hint=f"Every {setting} entry needs a field, relation, property or method "
                    "of the model, or a serializer whose source is one (as for Wagtail's API). "
                    "Fix or remove the entry; until then every job of this model fails.",
                    obj=model,
                    id="enterspeed_sync.E013",
                )
            )
    return errors
