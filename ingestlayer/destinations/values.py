"""Reading loosely typed event values the same way in every destination."""

from __future__ import annotations

from typing import Any

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "on", "1", "checked"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "off", "0", "unchecked"})


def as_bool(value: Any) -> bool | None:
    """True/false from a bool, 0/1, or a yes/no word; None when it is none of these."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None
