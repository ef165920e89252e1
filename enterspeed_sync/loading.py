"""
Importing the classes that settings name, with errors that name the setting.

Every class-valued setting (``JOB_HANDLERS``, ``GUARDS``, ``FIELD_CONVERTERS``,
``BLOCK_CONVERTERS``, ``MAPPERS``) takes dotted paths and classes alike: paths keep
``settings.py`` free of imports that need the app registry, classes are handy in tests.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string


class SettingImportError(ImproperlyConfigured):
    """A listed class could not be imported (the cause is chained)."""


def describe(entry: Any) -> str:
    """How an entry is named in messages: its dotted path, or the class's."""
    if isinstance(entry, type):
        return f"{entry.__module__}.{entry.__qualname__}"
    return str(entry)


def load_class(entry: str | type, base_class: type, setting: str) -> type:
    """
    The class ``entry`` names (a dotted path, or the class itself), checked to subclass
    ``base_class``; ``setting`` names the key in messages.
    """
    if isinstance(entry, str):
        try:
            loaded = import_string(entry)
        # A module that fails to import for any reason (a typo, a NameError in the user's
        # module, an app it needs) is a configuration error that names the setting.
        except Exception as e:
            reason = str(e) if isinstance(e, ImportError) else f"{type(e).__name__}: {e}"
            raise SettingImportError(
                f"Could not import {entry!r} listed in ENTERSPEED_SYNC[{setting!r}]: {reason}"
            ) from e
    elif isinstance(entry, type):
        loaded = entry
    else:
        raise SettingImportError(
            f"ENTERSPEED_SYNC[{setting!r}] should list dotted paths or classes, not {entry!r}."
        )
    if not (isinstance(loaded, type) and issubclass(loaded, base_class)):
        raise ImproperlyConfigured(
            f"{describe(entry)!r} listed in ENTERSPEED_SYNC[{setting!r}] is not a subclass of "
            f"{base_class.__module__}.{base_class.__qualname__}."
        )
    return loaded


@cache
def load_instances(entries: tuple[str | type, ...], base_class: type, setting: str) -> tuple:
    """One instance per entry, created once per list of entries (cleared when settings change)."""
    return tuple(load_class(entry, base_class, setting)() for entry in entries)


@receiver(setting_changed)
def _clear_caches(*, setting: str, **kwargs) -> None:
    if setting == "ENTERSPEED_SYNC":
        load_instances.cache_clear()
