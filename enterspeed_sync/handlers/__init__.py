from __future__ import annotations

from typing import TYPE_CHECKING

from enterspeed_sync import defaults
from enterspeed_sync.handlers.base import BaseJobHandler
from enterspeed_sync.loading import load_class, load_instances

if TYPE_CHECKING:
    from enterspeed_sync.models import EnterspeedJob

__all__ = ["DEFAULT_JOB_HANDLERS", "BaseJobHandler", "find_handler", "get_handlers"]

#: Kept for existing settings; import it from ``enterspeed_sync.defaults`` instead, which
#: settings.py can import before the app registry is ready (this module cannot).
DEFAULT_JOB_HANDLERS: list[str] = list(defaults.DEFAULT_JOB_HANDLERS)


def load_handler_class(path: str | type) -> type[BaseJobHandler]:
    """One ``JOB_HANDLERS`` entry (a dotted path or the class itself) as a class, with an
    error that names the entry and the setting."""
    return load_class(path, BaseJobHandler, "JOB_HANDLERS")


def get_handlers() -> tuple[BaseJobHandler, ...]:
    """The configured handlers, in order, instantiated once per list of paths."""
    from enterspeed_sync.conf import conf

    return load_instances(tuple(conf.JOB_HANDLERS), BaseJobHandler, "JOB_HANDLERS")


def find_handler(
    job: EnterspeedJob, handlers: tuple[BaseJobHandler, ...] | None = None
) -> BaseJobHandler | None:
    """The first handler that can handle ``job``, or None."""
    for handler in get_handlers() if handlers is None else handlers:
        if handler.can_handle(job):
            return handler
    return None
