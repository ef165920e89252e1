"""
Checks of what the sync runs on: django-q2 and its settings, the database, where the
operations API is mounted, and (a database check) whether anything is being sent.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections, router
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from enterspeed_sync.checks.settings import is_dict_setting
from enterspeed_sync.conf import SETTING_NAME, conf
from enterspeed_sync.conf.rules import is_number
from enterspeed_sync.models import EnterspeedJob
from enterspeed_sync.status import get_sync_status
from enterspeed_sync.status.clusters import cluster_statistics_cache, statistics_are_shared


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


@register(Tags.compatibility)
def check_q_cluster(app_configs=None, **kwargs):
    """The django-q2 settings that put jobs at risk (docs/reliability.md#recommended-settings)."""
    q_cluster = getattr(settings, "Q_CLUSTER", None)
    if not isinstance(q_cluster, dict):
        return []
    warnings = []
    timeout, retry = q_cluster.get("timeout"), q_cluster.get("retry", 60)
    if not is_number(timeout) or not is_number(retry) or retry <= timeout:
        warnings.append(
            Warning(
                f"Q_CLUSTER['retry'] ({retry!r}) should be well above Q_CLUSTER['timeout'] "
                f"({timeout!r}): django-q2 hands a task to a second worker once `retry` "
                "seconds have passed, even while the first still runs it.",
                hint="e.g. 'timeout': 120, 'retry': 300.",
                id="enterspeed_sync.W011",
            )
        )
    elif is_dict_setting() and conf.TASK_TIME_BUDGET_SECONDS >= timeout:
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
    # django-q2 picks its broker in a fixed order (django_q/brokers/__init__.py:get_broker):
    # an "orm" key wins over "redis", however the settings were meant.
    if orm and q_cluster.get("redis"):
        warnings.append(
            Warning(
                "Q_CLUSTER has both 'orm' and 'redis': django-q2 uses the ORM broker and "
                "ignores 'redis'.",
                hint="Remove the key of the broker you do not mean: 'orm' to use Redis.",
                id="enterspeed_sync.W031",
            )
        )
    return warnings


@register(Tags.compatibility)
def check_cluster_statistics_shared(app_configs=None, **kwargs):
    """The admin, the health endpoint and `--status` see clusters through django-q2's cache."""
    if statistics_are_shared():
        return []
    alias, backend = cluster_statistics_cache()
    backend = backend or "not configured"
    return [
        Warning(
            f"django-q2 keeps its cluster statistics in the cache {alias!r} ({backend}), "
            "which each process has to itself: the admin, the health endpoint "
            "and `enterspeed_process --status` cannot see the clusters, so they cannot say "
            "when none is running.",
            hint="Give django-q2 a database or Redis cache: add one to CACHES and set "
            "Q_CLUSTER['cache'] to its alias (see docs/installation.md).",
            id="enterspeed_sync.W030",
        )
    ]


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
    if not databases or not is_dict_setting():
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
