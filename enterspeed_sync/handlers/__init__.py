"""
Handlers: which job means what. The configured ``JOB_HANDLERS`` are tried in order; the first
whose ``can_handle(job)`` is true returns the job's ``operations(job)`` (save an entity,
delete an origin id), and processing sends them (docs/handlers.md). ``prepare_batch`` and
``sendable_operations`` are that one path, used by processing, verify and inspect alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from enterspeed_sync import defaults
from enterspeed_sync.conf import conf
from enterspeed_sync.delivery.bulk import Operation
from enterspeed_sync.exceptions import EntityValidationError
from enterspeed_sync.handlers.base import BaseJobHandler
from enterspeed_sync.loading import load_class, load_instances

if TYPE_CHECKING:
    from enterspeed_sync.models import EnterspeedJob

__all__ = [
    "DEFAULT_JOB_HANDLERS",
    "BaseJobHandler",
    "Operation",
    "find_handler",
    "get_handlers",
    "prepare_batch",
    "sendable_operations",
]

#: Kept for existing settings; import it from ``enterspeed_sync.defaults`` instead, which
#: settings.py can import before the app registry is ready (this module cannot).
DEFAULT_JOB_HANDLERS: list[str] = list(defaults.DEFAULT_JOB_HANDLERS)


def load_handler_class(path: str | type) -> type[BaseJobHandler]:
    """One ``JOB_HANDLERS`` entry (a dotted path or the class itself) as a class, with an
    error that names the entry and the setting."""
    return load_class(path, BaseJobHandler, "JOB_HANDLERS")


def get_handlers() -> tuple[BaseJobHandler, ...]:
    """The configured handlers, in order, instantiated once per list of paths."""
    return load_instances(tuple(conf.JOB_HANDLERS), BaseJobHandler, "JOB_HANDLERS")


def find_handler(
    job: EnterspeedJob, handlers: tuple[BaseJobHandler, ...] | None = None
) -> BaseJobHandler | None:
    """The first handler that can handle ``job``, or None."""
    for handler in get_handlers() if handlers is None else handlers:
        if handler.can_handle(job):
            return handler
    return None


def prepare_batch(
    jobs: Sequence[EnterspeedJob],
    handlers: tuple[BaseJobHandler, ...] | None = None,
    *,
    on_error: Callable[[BaseJobHandler, list[EnterspeedJob], Exception], None],
) -> list[BaseJobHandler | None]:
    """
    Find each job's handler (None when no handler accepts it) and let every handler load
    what its jobs need, in bulk (``prepare``). Returns the handlers, in the jobs' order.

    A ``prepare`` that raises only costs speed (each object is then loaded alone):
    ``on_error(handler, its jobs, exception)`` is told, and the batch goes on.
    """
    handlers = get_handlers() if handlers is None else handlers
    found = [find_handler(job, handlers) for job in jobs]
    by_handler: dict[int, tuple[BaseJobHandler, list[EnterspeedJob]]] = {}
    for job, handler in zip(jobs, found, strict=True):
        if handler is not None:
            by_handler.setdefault(id(handler), (handler, []))[1].append(job)
    for handler, handler_jobs in by_handler.values():
        try:
            handler.prepare(handler_jobs)
        except Exception as exc:  # noqa: BLE001  (the caller says what it costs)
            on_error(handler, handler_jobs, exc)
    return found


def sendable_operations(handler: BaseJobHandler, job: EnterspeedJob) -> list[Operation]:
    """
    ``handler.operations(job)``, as processing sends them: a save that breaks the ingest
    contract (pre-flight validation) raises ``EntityValidationError`` instead, which fails
    the job with the field at fault.
    """
    operations = handler.operations(job)
    if not isinstance(operations, list | tuple) or not all(
        isinstance(operation, Operation) for operation in operations
    ):
        raise TypeError(
            f"{type(handler).__name__}.operations(job) returned {operations!r}; it must "
            "return a list of Operation.save(...) / Operation.delete(...)."
        )
    for operation in operations:
        operation.job = job  # what the job's outcome is resolved by
        if operation.problems:
            raise EntityValidationError(operation.origin_id, operation.problems)
    return list(operations)
