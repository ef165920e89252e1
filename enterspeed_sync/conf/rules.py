"""
What a setting accepts: a ``Rule`` is the type and bounds of one key, the check id that
reports a value breaking it, and how a valid value is read (``int``, ``float``, a copy).
The builders below make the rules ``conf.table.SETTINGS`` uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SETTING_NAME = "ENTERSPEED_SYNC"

#: The check id a rule reports under when it names none (docs/checks.md).
WRONG_VALUE = "enterspeed_sync.E014"
E006, E007, E010 = "enterspeed_sync.E006", "enterspeed_sync.E007", "enterspeed_sync.E010"


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Rule:
    """What one setting accepts: ``expects`` ends the sentence "… should be"."""

    expects: str
    accepts: Callable[[Any], bool]
    check_id: str = WRONG_VALUE
    #: How a value that passed ``accepts`` is read (``conf.<KEY>``).
    read: Callable[[Any], Any] = _same
    #: A secret (an API key): a bad value is described by its type, never shown.
    secret: bool = False

    @property
    def is_error(self) -> bool:
        return ".E" in self.check_id

    def problem(self, key: str, value: Any) -> str | None:
        """What is wrong with ``value`` for ``key``, or None."""
        if self.accepts(value):
            return None
        shown = f"a {type(value).__name__}" if self.secret else repr(value)
        return f"{SETTING_NAME}[{key!r}] should be {self.expects}, not {shown}."


def is_number(value: Any) -> bool:
    """An int or a finite float; not a bool, NaN or infinity."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


def _is_timeout(value: Any) -> bool:
    # requests takes one number or a (connect, read) pair; [5] fails every request.
    parts = tuple(value) if isinstance(value, list | tuple) else None
    if parts is None:
        return is_number(value) and value > 0
    return len(parts) == 2 and all(is_number(part) and part > 0 for part in parts)


def _is_text_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)


def _is_class_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(item, str | type) for item in value)


def _is_text_dict(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(key, str) and isinstance(item, str) for key, item in value.items()
    )


def _is_class_dict(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(key, str) and isinstance(item, str | type) for key, item in value.items()
    )


def boolean() -> Rule:
    return Rule("True or False", lambda value: isinstance(value, bool))


def text(*, optional: bool = False) -> Rule:
    return Rule(
        "a string" + (" (or None)" if optional else ""),
        lambda value: isinstance(value, str) or (optional and value is None),
        read=lambda value: value or "",
    )


def api_key() -> Rule:
    """An API key: a string (or None), read without the whitespace around it (a key read
    from a file or a secret store often ends with a newline), and never shown."""
    return Rule(
        "a string (or None)",
        lambda value: isinstance(value, str) or value is None,
        read=lambda value: (value or "").strip(),
        secret=True,
    )


def choice(*options: str, check_id: str = WRONG_VALUE) -> Rule:
    return Rule(" or ".join(map(repr, options)), lambda value: value in options, check_id)


def positive_whole(check_id: str = WRONG_VALUE) -> Rule:
    return Rule(
        "a positive whole number",
        lambda value: isinstance(value, int) and not isinstance(value, bool) and value > 0,
        check_id,
        read=int,
    )


def positive_number(check_id: str = WRONG_VALUE) -> Rule:
    return Rule(
        "a positive number", lambda value: is_number(value) and value > 0, check_id, read=float
    )


def non_negative_number(check_id: str = WRONG_VALUE, *, optional: bool = False) -> Rule:
    return Rule(
        "a number, 0 or more" + (" (or None)" if optional else ""),
        lambda value: (is_number(value) and value >= 0) or (optional and value is None),
        check_id,
        read=lambda value: float(value or 0),
    )


def share(upper: float, what: str, check_id: str = WRONG_VALUE) -> Rule:
    return Rule(
        f"a number from 0 to {upper:g} ({what})",
        lambda value: is_number(value) and 0 <= value <= upper,
        check_id,
        read=float,
    )


def timeout(check_id: str = WRONG_VALUE) -> Rule:
    return Rule(
        "a positive number of seconds or a (connect, read) pair of them",
        _is_timeout,
        check_id,
        read=lambda value: tuple(value) if isinstance(value, list | tuple) else value,
    )


def classes(
    *, optional: bool = False, check_id: str = WRONG_VALUE, default: tuple[str, ...] = ()
) -> Rule:
    """A list of classes or dotted paths; ``optional``: None means ``default``."""
    return Rule(
        "a list of classes or their dotted paths"
        + (" or None for the defaults" if optional else ""),
        lambda value: _is_class_list(value) or (optional and value is None),
        check_id,
        read=lambda value: list(default if value is None else value),
    )


def class_dict(expects: str) -> Rule:
    return Rule(expects, _is_class_dict, read=dict)


def text_dict(expects: str) -> Rule:
    return Rule(expects, _is_text_dict, read=dict)


def text_list(expects: str, *, optional: bool = False) -> Rule:
    return Rule(
        expects,
        lambda value: (optional and value is None) or _is_text_list(value),
        read=lambda value: None if value is None else list(value),
    )


def dict_list(check_id: str = WRONG_VALUE) -> Rule:
    """A list of dicts; each entry is checked by whoever reads it (post-sync hooks)."""
    return Rule(
        "a list of dicts", lambda value: isinstance(value, list | tuple), check_id, read=list
    )


#: The whole setting is not a dict (reported by its own check, E008).
NOT_A_DICT = Rule("a dict", lambda value: isinstance(value, dict), "enterspeed_sync.E008")
