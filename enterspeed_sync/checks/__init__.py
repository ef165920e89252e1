"""
System checks, registered when this package is imported (``apps.ready()``). Ids are listed
in docs/checks.md and never reused. ``settings``: the values of ``ENTERSPEED_SYNC``;
``mapping``: the classes and models it names; ``deployment``: django-q2, the database, the
URLconf and whether anything is being sent.
"""

from enterspeed_sync.checks.deployment import (
    check_api_urls_before_wagtail_admin,
    check_cluster_statistics_shared,
    check_q_cluster,
    check_sqlite_transaction_mode,
    check_sqlite_wal,
    check_sync_status,
    check_task_results_saved,
)
from enterspeed_sync.checks.mapping import (
    check_job_handlers,
    check_mapping_classes,
    check_mapping_settings,
    check_property_entries,
)
from enterspeed_sync.checks.settings import (
    check_api_key,
    check_base_url,
    check_post_sync_hooks,
    check_preview_api_key,
    check_reliability_numbers,
    check_setting_values,
    check_settings_shape,
)

__all__ = [
    "check_api_key",
    "check_api_urls_before_wagtail_admin",
    "check_base_url",
    "check_cluster_statistics_shared",
    "check_job_handlers",
    "check_mapping_classes",
    "check_mapping_settings",
    "check_post_sync_hooks",
    "check_preview_api_key",
    "check_property_entries",
    "check_q_cluster",
    "check_reliability_numbers",
    "check_setting_values",
    "check_settings_shape",
    "check_sqlite_transaction_mode",
    "check_sqlite_wal",
    "check_sync_status",
    "check_task_results_saved",
]
