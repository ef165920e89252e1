"""
The old import path of ``enterspeed_sync.actions`` (seed, retry, send now, delete, clear
the queue). "Operation" now means only what a handler returns: a save or a delete sent to
Enterspeed. Importing a name from here warns; removed in the next release.
"""

import warnings

from enterspeed_sync import actions


def __getattr__(name: str):
    value = getattr(actions, name)  # AttributeError for a name actions never had
    warnings.warn(
        f"enterspeed_sync.operations.{name} is now enterspeed_sync.actions.{name}.",
        DeprecationWarning,
        stacklevel=2,
    )
    return value
