"""Wording shared by the management commands."""


def plural(count: int, singular: str, plural: str | None = None) -> str:
    """``"1 job"``, ``"2 jobs"``; pass ``plural`` when adding an "s" is wrong."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"
