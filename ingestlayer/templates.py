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

__all__ = [
    "MAX_RENDERED_BYTES",
    "TemplateError",
    "TemplateTooLarge",
    "references",
    "render",
    "render_value",
]

# Interpolation can repeat a field many times over; a lone reference passes the event's own
# value through unchanged and is bounded by the ingest limits instead.
MAX_RENDERED_BYTES = 64 * 1024

_TOKEN_RE = re.compile(r"\$\$|\$event\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)")


class TemplateError(ValueError):
    """A template that cannot be rendered, with the offset of the part that broke it."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message, position)
        self.message = message
        self.position = position

    code = "invalid_template"

    def __str__(self) -> str:
        return f"{self.message} at position {self.position}"


class TemplateTooLarge(TemplateError):
    """Rendered text over the limit: an error, never a silent truncation."""

    code = "template_too_large"

    def __init__(self, message: str, position: int, field: str | None = None) -> None:
        super().__init__(message, position)
        self.field = field

    def __str__(self) -> str:
        where = f"`{self.field}`: " if self.field else ""
        return f"{where}{self.message} (the limit is reached at template position {self.position})"


def render(
    template: str,
    fields: Mapping[str, Any],
    *,
    field: str | None = None,
    limit: int = MAX_RENDERED_BYTES,
) -> Any:
    """Render one string; a lone reference keeps its value's type, None when missing.
    `field` names the setting the template came from in the error when the text is over
    `limit` bytes."""
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
            if size > limit:
                raise _too_large(position, field, limit)
            pieces.append(piece)
        cursor = match.end()
    tail = template[cursor:]
    if size + len(tail.encode("utf-8")) > limit:
        raise _too_large(cursor, field, limit)
    pieces.append(tail)
    return "".join(pieces)


def render_value(value: Any, fields: Mapping[str, Any], field: str | None = None) -> Any:
    """Render every string inside a config value; keys are names, not templates."""
    if isinstance(value, str):
        return render(value, fields, field=field)
    if isinstance(value, Mapping):
        return {key: render_value(item, fields, _child(field, key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(item, fields, _child(field, i)) for i, item in enumerate(value)]
    return value


def _child(field: str | None, part: str | int) -> str | None:
    if field is None:
        return None
    return f"{field}[{part}]" if isinstance(part, int) else f"{field}.{part}"


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


def _too_large(position: int, field: str | None, limit: int) -> TemplateTooLarge:
    return TemplateTooLarge(f"rendered text is larger than {limit} bytes", position, field)
