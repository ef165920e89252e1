from __future__ import annotations

from typing import TYPE_CHECKING

from enterspeed_sync.handlers.base import BaseJobHandler
from enterspeed_sync.loading import load_class, load_instances

if TYPE_CHECKING:
    from enterspeed_sync.models import EnterspeedJob

__all__ = ["DEFAULT_JOB_HANDLERS", "BaseJobHandler", "find_handler", "get_handlers"]

#: The handlers used when ``ENTERSPEED_SYNC["JOB_HANDLERS"]`` is not set. Put your own
#: handlers in front of them: ``[MyBlogPageHandler, *DEFAULT_JOB_HANDLERS]``.
DEFAULT_JOB_HANDLERS: list[str] = [
    "enterspeed_sync.handlers.pages.PagePublishHandler",
    "enterspeed_sync.handlers.media.ImagePublishHandler",
    "enterspeed_sync.handlers.media.DocumentPublishHandler",
    "enterspeed_sync.handlers.snippets.SnippetPublishHandler",
    "enterspeed_sync.handlers.translation_groups.TranslationGroupHandler",
    "enterspeed_sync.handlers.base.DeleteHandler",
]


def load_handler_class(path: str) -> type[BaseJobHandler]:
    """Import one ``JOB_HANDLERS`` entry, with an error that names the entry and the setting."""
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
