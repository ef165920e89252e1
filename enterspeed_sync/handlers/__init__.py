from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from enterspeed_sync.handlers.base import BaseJobHandler

if TYPE_CHECKING:
    from enterspeed_sync.models import EnterspeedJob

__all__ = ["DEFAULT_JOB_HANDLERS", "BaseJobHandler", "find_handler", "get_handlers"]

#: The handlers used when ``ENTERSPEED_SYNC["JOB_HANDLERS"]`` is not set. Put your own
#: handlers in front of them: ``[MyBlogPageHandler, *DEFAULT_JOB_HANDLERS]``.
DEFAULT_JOB_HANDLERS: list[str] = [
    "enterspeed_sync.handlers.pages.PagePublishHandler",
    "enterspeed_sync.handlers.pages.PageDeleteHandler",
]


def load_handler_class(path: str) -> type[BaseJobHandler]:
    """Import one ``JOB_HANDLERS`` entry, with an error that names the entry and the setting."""
    try:
        handler_class = import_string(path)
    except ImportError as e:
        raise ImproperlyConfigured(
            f"Could not import {path!r} listed in ENTERSPEED_SYNC['JOB_HANDLERS']: {e}"
        ) from e
    if not (isinstance(handler_class, type) and issubclass(handler_class, BaseJobHandler)):
        raise ImproperlyConfigured(
            f"{path!r} listed in ENTERSPEED_SYNC['JOB_HANDLERS'] is not a subclass of "
            "enterspeed_sync.handlers.BaseJobHandler."
        )
    return handler_class


@cache
def _get_handlers(paths: tuple[str, ...]) -> tuple[BaseJobHandler, ...]:
    return tuple(load_handler_class(path)() for path in paths)


def get_handlers() -> tuple[BaseJobHandler, ...]:
    """The configured handlers, in order, instantiated once per list of paths."""
    from enterspeed_sync.conf import conf

    return _get_handlers(tuple(conf.JOB_HANDLERS))


def find_handler(
    job: EnterspeedJob, handlers: tuple[BaseJobHandler, ...] | None = None
) -> BaseJobHandler | None:
    """The first handler that can handle ``job``, or None."""
    for handler in get_handlers() if handlers is None else handlers:
        if handler.can_handle(job):
            return handler
    return None


@receiver(setting_changed)
def _clear_handler_cache(*, setting: str, **kwargs) -> None:
    if setting == "ENTERSPEED_SYNC":
        _get_handlers.cache_clear()
