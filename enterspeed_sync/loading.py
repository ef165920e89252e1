"""Importing the classes that settings name by dotted path, with errors that name the setting."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string


def load_class(path: str, base_class: type, setting: str) -> type:
    """Import ``path`` and check it subclasses ``base_class``; ``setting`` names the key."""
    try:
        loaded = import_string(path)
    except ImportError as e:
        raise ImproperlyConfigured(
            f"Could not import {path!r} listed in ENTERSPEED_SYNC[{setting!r}]: {e}"
        ) from e
    if not (isinstance(loaded, type) and issubclass(loaded, base_class)):
        raise ImproperlyConfigured(
            f"{path!r} listed in ENTERSPEED_SYNC[{setting!r}] is not a subclass of "
            f"{base_class.__module__}.{base_class.__qualname__}."
        )
    return loaded


@cache
def load_instances(paths: tuple[str, ...], base_class: type, setting: str) -> tuple[Any, ...]:
    """One instance per path, created once per list of paths (cleared when settings change)."""
    return tuple(load_class(path, base_class, setting)() for path in paths)


@receiver(setting_changed)
def _clear_caches(*, setting: str, **kwargs) -> None:
    if setting == "ENTERSPEED_SYNC":
        load_instances.cache_clear()
