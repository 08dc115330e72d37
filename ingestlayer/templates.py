"""`$event.path` references in config strings, rendered against `Event.fields()`.

A string that is exactly one reference renders to the raw value, so `body: $event.payload`
stays a mapping and `amount: $event.total` stays a number. Anything else interpolates:
strings as they are, null or missing as nothing, other values as compact JSON. `$$` is a
literal `$`. `${NAME}` is a secret reference resolved later in the worker and is left alone.

Rendering runs inside workflow code, so it is pure: no I/O, clock or randomness.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from ingestlayer.events import lookup

__all__ = ["MAX_RENDERED_BYTES", "TemplateError", "references", "render", "render_value"]

MAX_RENDERED_BYTES = 1024 * 1024

_TOKEN_RE = re.compile(r"\$\$|\$event\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)")


class TemplateError(ValueError):
    """A template that cannot be rendered, with the offset of the part that broke it."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message, position)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return f"{self.message} at position {self.position}"


def render(template: str, fields: Mapping[str, Any]) -> Any:
    """Render one string; a lone reference keeps its value's type, None when missing."""
    whole = _TOKEN_RE.fullmatch(template)
    if whole and whole.group(1):
        return copy.deepcopy(_resolve(fields, whole.group(1)))
    pieces: list[str] = []
    size = 0
    cursor = 0
    for match in _TOKEN_RE.finditer(template):
        for piece, position in (
            (template[cursor : match.start()], cursor),
            (_interpolate(match, fields), match.start()),
        ):
            size += len(piece.encode("utf-8"))
            if size > MAX_RENDERED_BYTES:
                raise _too_large(position)
            pieces.append(piece)
        cursor = match.end()
    tail = template[cursor:]
    if size + len(tail.encode("utf-8")) > MAX_RENDERED_BYTES:
        raise _too_large(cursor)
    pieces.append(tail)
    return "".join(pieces)


def render_value(value: Any, fields: Mapping[str, Any]) -> Any:
    """Render every string inside a config value; keys are names, not templates."""
    if isinstance(value, str):
        return render(value, fields)
    if isinstance(value, Mapping):
        return {key: render_value(item, fields) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(item, fields) for item in value]
    return value


def references(template: str) -> list[str]:
    """Paths the template reads, in order, without the `$event.` prefix."""
    return [match.group(1) for match in _TOKEN_RE.finditer(template) if match.group(1)]


def _resolve(fields: Mapping[str, Any], path: str) -> Any:
    _, value = lookup(fields, path.split("."))
    return value


def _interpolate(match: re.Match[str], fields: Mapping[str, Any]) -> str:
    path = match.group(1)
    if not path:
        return "$"
    return _to_text(_resolve(fields, path))


def _to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float | dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return str(value)


def as_text(value: Any) -> str:
    """A rendered value as text a person reads (a message, a Notion property): strings as they
    are, numbers and booleans as JSON, objects as spaced JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def validated(template: str | None) -> str | None:
    """A settings validator: the template parses, or ValueError with where it does not."""
    if template is not None:
        try:
            references(template)
        except TemplateError as exc:
            raise ValueError(str(exc)) from None
    return template


def _too_large(position: int) -> TemplateError:
    return TemplateError(f"rendered text is larger than {MAX_RENDERED_BYTES} bytes", position)
