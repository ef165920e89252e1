"""
Errors raised while turning content into Enterspeed entities (client errors live in
``delivery/client.py``), and how much of an error a row keeps.
"""

from __future__ import annotations


class EnterspeedSyncError(Exception):
    """Base class for errors raised by enterspeed_sync itself (not by the HTTP client)."""


class ClusterUnreachable(EnterspeedSyncError):
    """django-q2's broker (Redis, say) did not take a task: nothing was started."""


class MappingError(EnterspeedSyncError):
    """An object cannot be turned into an entity, e.g. a field no converter knows."""


class EntityValidationError(EnterspeedSyncError):
    """
    An entity breaks the ingest contract (property names, property count, payload size).
    Raised before any request is made; ``problems`` maps a field path to what is wrong.
    """

    def __init__(self, origin_id: str, problems: dict[str, str]) -> None:
        self.origin_id = origin_id
        self.problems = problems
        details = "; ".join(f"{path or 'entity'}: {message}" for path, message in problems.items())
        super().__init__(
            f"Entity {origin_id} was not sent, it breaks the ingest contract: {details}"
        )


#: The longest error text a job keeps (a readable line, plus a traceback for bugs).
MAX_ERROR_LENGTH = 10_000
#: The longest error text a status row keeps (a source's pause or last error, a hook's).
MAX_STATUS_ERROR_LENGTH = 2000


def clip_error(text: str, limit: int = MAX_ERROR_LENGTH) -> str:
    """``text`` cut to ``limit`` characters, so one huge error cannot bloat a row."""
    return text[:limit]
