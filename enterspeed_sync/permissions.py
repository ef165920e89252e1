"""
The Wagtail permissions of the Enterspeed admin area, assignable to groups:

- ``enterspeed_sync.view_enterspeedjob``: see the area (dashboard, jobs, test connection);
- ``enterspeed_sync.seed_enterspeedjob``: seed;
- ``enterspeed_sync.manage_enterspeedjob``: retry and delete jobs, clear the pending queue.

"Sync to Enterspeed now" on a page needs the right to publish that page instead.
"""

from __future__ import annotations

from django.contrib.auth.models import Permission

APP_LABEL = "enterspeed_sync"
VIEW = "view_enterspeedjob"
SEED = "seed_enterspeedjob"
MANAGE = "manage_enterspeedjob"
CODENAMES = (VIEW, SEED, MANAGE)


def _has(user, codename: str) -> bool:
    return bool(user and user.is_active and user.has_perm(f"{APP_LABEL}.{codename}"))


def can_view(user) -> bool:
    return _has(user, VIEW)


def can_seed(user) -> bool:
    return _has(user, VIEW) and _has(user, SEED)


def can_manage(user) -> bool:
    return _has(user, VIEW) and _has(user, MANAGE)


def get_permissions():
    """The permissions Wagtail's group editor shows (``register_permissions``)."""
    return Permission.objects.filter(
        content_type__app_label=APP_LABEL, codename__in=CODENAMES
    ).select_related("content_type")
