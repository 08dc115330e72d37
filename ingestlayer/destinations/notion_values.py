"""Event values as Notion property values and blocks, held under Notion's request limits.

Limits (Notion "Request limits"): 2000 characters per rich-text `text.content`, 100 rich-text
objects per array; url 2000, email and phone_number 200; 100 items in a multi_select; 100 children
and 500 KB per append. What would go over is cut and marked with an ellipsis, never dropped
unmarked. Notion counts characters as JavaScript does, in UTF-16 code units, so an emoji is two.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from ingestlayer.destinations.values import as_bool
from ingestlayer.templates import as_text

MAX_TEXT = 2000
MAX_RICH_TEXT_OBJECTS = 100
MAX_URL = 2000
MAX_EMAIL = 200
MAX_PHONE = 200
MAX_MULTI_SELECT = 100
MAX_OPTION_NAME = 100
MAX_CHILDREN = 100
MAX_REQUEST_BYTES = 450_000
ELLIPSIS = "…"

READ_ONLY = frozenset(
    {
        "formula",
        "rollup",
        "created_time",
        "created_by",
        "last_edited_time",
        "last_edited_by",
        "unique_id",
        "verification",
        "button",
    }
)
NEEDS_IDS = frozenset({"people", "relation", "files"})
MARKER_NAMES = frozenset({"eventid", "ingestlayerid", "ingestlayereventid"})


@dataclass(frozen=True)
class Coerced:
    """A property value ready to send, or why the property was not written."""

    value: dict[str, Any] | None = None
    skipped: str | None = None
    truncated: bool = False


def normalise(name: str) -> str:
    """Case- and separator-insensitive: "Signed up", "signed_up" and "SignedUp" all match."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def utf16_length(text: str) -> int:
    """Length as Notion measures it."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _fit_units(piece: str, limit: int) -> str:
    over = utf16_length(piece) - limit
    end = len(piece)
    while over > 0:
        end -= 1
        over -= _units(piece[end])
    return piece[:end]


def chunks(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Consecutive pieces of at most `limit` UTF-16 units, never splitting a character."""
    pieces: list[str] = []
    start = 0
    while start < len(text):
        piece = _fit_units(text[start : start + limit], limit)
        pieces.append(piece)
        start += len(piece)
    return pieces


def _objects(pieces: list[str]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"content": piece}} for piece in pieces]


def rich_text(text: str) -> tuple[list[dict[str, Any]], bool]:
    """Text as rich-text objects of at most 2000 characters each, at most 100 of them; the last
    is cut with an ellipsis when the text is longer than that (then True)."""
    pieces = chunks(text)
    truncated = len(pieces) > MAX_RICH_TEXT_OBJECTS
    if truncated:
        pieces = pieces[:MAX_RICH_TEXT_OBJECTS]
        pieces[-1] = _fit_units(pieces[-1], MAX_TEXT - 1) + ELLIPSIS
    return _objects(pieces), truncated


def _size(value: Any) -> int:
    return len(json.dumps(value))


def fit_row(properties: dict[str, Any], keep: frozenset[str] = frozenset()) -> list[str]:
    """Shrink the largest text properties (halving their rich-text arrays, the last piece ending
    in an ellipsis) until the row's request fits under MAX_REQUEST_BYTES: every property may be
    within its own limit while the row as a whole is over Notion's 500 KB. Returns the names cut;
    `keep` (the event-id marker) is never touched."""
    cut: list[str] = []
    while _size(properties) > MAX_REQUEST_BYTES:
        texts = {
            name: value[kind]
            for name, value in properties.items()
            for kind in ("rich_text", "title")
            if name not in keep and isinstance(value, dict) and value.get(kind)
        }
        name = max(texts, key=lambda n: _size(texts[n]), default=None)
        if name is None or _size(texts[name]) <= len(ELLIPSIS) + 64:
            break
        objects = texts[name]
        if len(objects) > 1:
            objects = objects[: len(objects) // 2]
            last = objects[-1]["text"]["content"]
        else:
            content = objects[0]["text"]["content"]
            last = content[: len(content) // 2]
        objects[-1] = {"type": "text", "text": {"content": _trim_end(last) + ELLIPSIS}}
        kind = "rich_text" if "rich_text" in properties[name] else "title"
        properties[name] = {kind: objects}
        if name not in cut:
            cut.append(name)
    return cut


def _trim_end(text: str) -> str:
    """Room for the ellipsis within the piece's limit, and no half surrogate pair at the end."""
    return _fit_units(text, MAX_TEXT - 1).removesuffix(ELLIPSIS)


def plain(objects: list[dict[str, Any]]) -> str:
    return "".join(str(o.get("text", {}).get("content", "")) for o in objects)


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return None
        return number if number == number and abs(number) != float("inf") else None
    return None


def _iso(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, tz=UTC).isoformat().replace("+00:00", "Z")
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text).isoformat()
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed.isoformat().replace("+00:00", "Z")
    return None


def _option_name(value: Any) -> tuple[str | None, str | None]:
    name = as_text(value).strip()
    if not name:
        return None, "empty value"
    if "," in name:
        return None, "select option names cannot contain commas"
    if utf16_length(name) > MAX_OPTION_NAME:
        return None, f"option names are at most {MAX_OPTION_NAME} characters"
    return name, None


def _limited(kind: str, value: Any, limit: int) -> Coerced:
    text = as_text(value).strip()
    if not text:
        return Coerced(skipped="empty value")
    if utf16_length(text) > limit:
        return Coerced(skipped=f"{kind} values are at most {limit} characters")
    return Coerced(value={kind: text})


def coerce(prop: dict[str, Any], value: Any) -> Coerced:
    """One value as the property's type, or the reason it is not written."""
    kind = str(prop.get("type", ""))
    if kind in READ_ONLY:
        return Coerced(skipped=f"{kind} properties are computed by Notion and cannot be written")
    if kind in NEEDS_IDS:
        return Coerced(skipped=f"{kind} properties need Notion ids; not guessed from event values")
    if value is None:
        return Coerced(skipped="no value")
    if kind in ("title", "rich_text"):
        objects, truncated = rich_text(as_text(value))
        return Coerced(value={kind: objects}, truncated=truncated)
    if kind == "number":
        number = _number(value)
        if number is None:
            return Coerced(skipped="not a number")
        return Coerced(value={"number": number})
    if kind == "select":
        name, reason = _option_name(value)
        return Coerced(value={"select": {"name": name}}) if name else Coerced(skipped=reason)
    if kind == "multi_select":
        items = value if isinstance(value, list) else as_text(value).split(",")
        names = [n for n in (as_text(i).strip() for i in items) if n]
        cut = len(names) > MAX_MULTI_SELECT
        names = names[:MAX_MULTI_SELECT]
        bad = [n for n in names if utf16_length(n) > MAX_OPTION_NAME or "," in n]
        if bad or not names:
            return Coerced(skipped="empty value" if not names else "an option name is invalid")
        return Coerced(value={"multi_select": [{"name": n} for n in names]}, truncated=cut)
    if kind == "status":
        wanted = as_text(value).strip().lower()
        options = (prop.get("status") or {}).get("options") or []
        match = next((o["name"] for o in options if str(o.get("name", "")).lower() == wanted), None)
        if match is None:
            return Coerced(
                skipped=f"no status option named {as_text(value)[:50]!r} in the database"
            )
        return Coerced(value={"status": {"name": match}})
    if kind == "date":
        if isinstance(value, dict) and "start" in value:
            start, end = _iso(value.get("start")), _iso(value.get("end"))
            if start is None:
                return Coerced(skipped="not a date")
            return Coerced(value={"date": {"start": start, **({"end": end} if end else {})}})
        start = _iso(value)
        return Coerced(value={"date": {"start": start}}) if start else Coerced(skipped="not a date")
    if kind == "checkbox":
        flag = as_bool(value)
        return (
            Coerced(skipped="not a yes/no value")
            if flag is None
            else Coerced(value={"checkbox": flag})
        )
    if kind == "url":
        return _limited("url", value, MAX_URL)
    if kind == "email":
        return _limited("email", value, MAX_EMAIL)
    if kind == "phone_number":
        return _limited("phone_number", value, MAX_PHONE)
    return Coerced(skipped=f"{kind or 'unknown'} properties are not supported")


def _block(kind: str, text: str) -> dict[str, Any]:
    objects, _ = rich_text(text)
    return {"object": "block", "type": kind, kind: {"rich_text": objects}}


def text_blocks(kind: str, text: str) -> list[dict[str, Any]]:
    """Long text as several blocks, each under the rich-text limits and small enough to be sent
    on its own (its JSON, with every non-ASCII character escaped, under MAX_REQUEST_BYTES)."""
    blocks: list[dict[str, Any]] = []
    group: list[str] = []
    size = 0
    for piece in chunks(text):
        piece_size = _size(piece) + 40
        if group and (len(group) == MAX_RICH_TEXT_OBJECTS or size + piece_size > _BLOCK_BYTES):
            blocks.append(_rich_block(kind, group))
            group, size = [], 0
        group.append(piece)
        size += piece_size
    return [*blocks, _rich_block(kind, group)]


_BLOCK_BYTES = MAX_REQUEST_BYTES - 10_000


def _rich_block(kind: str, pieces: list[str]) -> dict[str, Any]:
    return {"object": "block", "type": kind, kind: {"rich_text": _objects(pieces)}}


def append_batches(blocks: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """The blocks in order, as appends of at most 100 children and MAX_REQUEST_BYTES."""
    batch: list[dict[str, Any]] = []
    size = 0
    for block in blocks:
        block_size = _size(block) + 1
        if batch and (len(batch) == MAX_CHILDREN or size + block_size > MAX_REQUEST_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(block)
        size += block_size
    if batch:
        yield batch


def marker_text(event_type: str, event_id: str) -> str:
    return f"ingestlayer · {event_type} · {event_id}"


def page_blocks(
    event_type: str,
    event_id: str,
    fields: list[tuple[str, Any]],
    template_text: str | None,
) -> list[dict[str, Any]]:
    """The marker first (it lets a retry find what an earlier attempt appended), then the
    rendered template as paragraphs, or a heading and the fields."""
    blocks = [_block("paragraph", marker_text(event_type, event_id))]
    if template_text is not None:
        for line in template_text.split("\n"):
            blocks.extend(text_blocks("paragraph", line))
        return blocks
    blocks.append(_block("heading_3", event_type))
    long_fields: list[tuple[str, str]] = []
    for name, value in fields:
        text = as_text(value)
        if len(text) > 200 or "\n" in text:
            long_fields.append((name, text))
        elif text:
            blocks.append(_block("bulleted_list_item", f"{name}: {text}"))
    for name, text in long_fields:
        blocks.append(_block("paragraph", f"{name}:"))
        for line in text.split("\n"):
            blocks.extend(text_blocks("paragraph", line))
    return blocks


def block_text(block: dict[str, Any]) -> str:
    kind = block.get("type", "")
    body = block.get(kind) if isinstance(kind, str) else None
    if not isinstance(body, dict):
        return ""
    return plain(body.get("rich_text") or [])
