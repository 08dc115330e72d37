"""Slack Block Kit messages built from an event, held under Slack's caps.

Caps (Block Kit reference): 50 blocks per message; section text 1 to 3000 characters; section
fields at most 10 of 2000 each; header plain_text at most 150; context at most 10 elements;
block_id at most 255; image alt_text at most 2000. Whatever would exceed a cap is cut, marked
with an ellipsis, and the message then ends with a link to the full payload.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ingestlayer import templates
from ingestlayer.events import Event, lookup
from ingestlayer.templates import as_text

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_BLOCK_ID = 255
MAX_ALT_TEXT = 2000
MAX_FALLBACK = 300
MAX_TEMPLATE_SECTIONS = 10
SHORT_VALUE = 200
ELLIPSIS = "…"


@dataclass(frozen=True)
class Message:
    text: str
    blocks: list[dict[str, Any]]
    truncated: bool


def escape(text: str) -> str:
    """Slack mrkdwn control characters; event values are data, never markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return text[: _entity_safe(text, limit - 1)] + ELLIPSIS, True


def _entity_safe(text: str, end: int) -> int:
    """Where to cut escaped text at or before `end` without splitting `&amp;`, `&lt;` or
    `&gt;` (half an entity shows as stray characters)."""
    start = text.rfind("&", max(0, end - 4), end)
    if start >= 0 and text.startswith(("&amp;", "&lt;", "&gt;"), start):
        entity_end = text.index(";", start) + 1
        return start if entity_end > end else end
    return end


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, Mapping):
        return {key: _escaped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escaped(item) for item in value]
    return value


def escaped_fields(event: Event) -> dict[str, Any]:
    """The event's fields with every string escaped, so templates insert data, not markup."""
    return _escaped(event.fields())


def render_text(template: str, fields: Mapping[str, Any], field: str | None = None) -> str:
    return as_text(templates.render(template, fields, field=field))


def render_blocks(blocks: Any, fields: Mapping[str, Any], field: str = "blocks") -> Any:
    """Every string inside raw blocks rendered as text (a lone reference becomes its text)."""
    if isinstance(blocks, str):
        return render_text(blocks, fields, field)
    if isinstance(blocks, Mapping):
        return {key: render_blocks(item, fields, f"{field}.{key}") for key, item in blocks.items()}
    if isinstance(blocks, list):
        return [render_blocks(item, fields, f"{field}[{i}]") for i, item in enumerate(blocks)]
    return blocks


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def key_fields(event: Event, paths: Sequence[str] | None) -> list[tuple[str, Any]]:
    """The configured paths, or every top-level payload field, then the pipeline's labels."""
    fields = event.fields()
    if paths:
        chosen = []
        for path in paths:
            found, value = lookup(fields, path)
            if found:
                name = path.removeprefix("$event.").removeprefix("payload.")
                chosen.append((name, value))
        return chosen
    chosen = list(event.payload.items())
    chosen += [(name, value) for name, value in event.labels.items() if name not in event.payload]
    return chosen


def default_blocks(event: Event, title: str, paths: Sequence[str] | None) -> list[dict[str, Any]]:
    """A header with the title, the key fields two to a row, long values in their own
    sections, and a context line with the event id and time."""
    header = as_text(title) or event.type
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}}
    ]
    short: list[dict[str, str]] = []
    long: list[dict[str, Any]] = []
    for name, value in key_fields(event, paths):
        text = as_text(value)
        if not text:
            continue
        if len(text) <= SHORT_VALUE:
            short.append(_mrkdwn(f"*{escape(name)}*\n{escape(text)}"))
        else:
            long.append(_section(f"*{escape(name)}*\n{escape(text)}"))
    for start in range(0, len(short), MAX_FIELDS):
        blocks.append({"type": "section", "fields": short[start : start + MAX_FIELDS]})
    blocks.extend(long)
    stamp = event.timestamp.isoformat().replace("+00:00", "Z")
    blocks.append({"type": "context", "elements": [_mrkdwn(f"`{event.id}` · {escape(stamp)}")]})
    return blocks


def template_blocks(text: str) -> list[dict[str, Any]]:
    """A rendered template as sections of at most 3000 characters, split on line ends where
    possible; beyond MAX_TEMPLATE_SECTIONS the rest is cut (and marked by `fit`)."""
    sections: list[dict[str, Any]] = []
    rest = text
    while rest and len(sections) < MAX_TEMPLATE_SECTIONS:
        if len(rest) <= MAX_SECTION_TEXT:
            sections.append(_section(rest))
            rest = ""
            break
        cut = rest.rfind("\n", MAX_SECTION_TEXT // 2, MAX_SECTION_TEXT)
        cut = cut if cut > 0 else _entity_safe(rest, MAX_SECTION_TEXT)
        sections.append(_section(rest[:cut]))
        rest = rest[cut:].lstrip("\n")
    if rest:
        sections.append(_section(rest[: MAX_SECTION_TEXT + 1]))
    return sections


def _fit_text_object(obj: Any, limit: int) -> tuple[Any, bool]:
    """Under the limit, and never empty: Slack rejects a text object with no characters (a
    reference to a missing field renders to nothing)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return obj, False
    text, cut = clip(obj["text"], limit)
    return {**obj, "text": text or " "}, cut


def fit_block(block: Any) -> tuple[Any, bool]:
    """One block held under its caps; True when something was cut."""
    if not isinstance(block, dict):
        return block, False
    block = dict(block)
    cut = False
    if isinstance(block.get("block_id"), str) and len(block["block_id"]) > MAX_BLOCK_ID:
        block["block_id"] = block["block_id"][:MAX_BLOCK_ID]
    kind = block.get("type")
    if kind == "header":
        block["text"], cut = _fit_text_object(block.get("text"), MAX_HEADER)
    elif kind == "section":
        if "text" in block:
            block["text"], cut = _fit_text_object(block["text"], MAX_SECTION_TEXT)
        fields = block.get("fields")
        if isinstance(fields, list):
            if len(fields) > MAX_FIELDS:
                fields, cut = fields[:MAX_FIELDS], True
            fitted = [_fit_text_object(f, MAX_FIELD_TEXT) for f in fields]
            block["fields"] = [f for f, _ in fitted]
            cut = cut or any(c for _, c in fitted)
    elif kind == "context":
        elements = block.get("elements")
        if isinstance(elements, list):
            if len(elements) > MAX_CONTEXT_ELEMENTS:
                elements, cut = elements[:MAX_CONTEXT_ELEMENTS], True
            fitted = [_fit_text_object(e, MAX_SECTION_TEXT) for e in elements]
            block["elements"] = [e for e, _ in fitted]
            cut = cut or any(c for _, c in fitted)
    elif kind == "image" and isinstance(block.get("alt_text"), str):
        block["alt_text"], cut = clip(block["alt_text"], MAX_ALT_TEXT)
    if kind == "section" and "text" in block and not _has_text(block["text"]):
        if block.get("fields"):
            del block["text"]
        else:
            block["text"] = _mrkdwn(" ")
    return block, cut


def _has_text(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(str(obj.get("text", "")).strip())


def full_payload_link(url: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [_mrkdwn(f"{ELLIPSIS} truncated to fit Slack: <{url}|full payload>")],
    }


def fit(blocks: list[Any], fallback: str, event_url: str) -> Message:
    """The message as Slack will accept it: every block under its caps, at most 50 blocks,
    and, when anything was cut, a last block linking to the full payload."""
    fitted = [fit_block(block) for block in blocks]
    kept = [block for block, _ in fitted]
    truncated = any(cut for _, cut in fitted)
    if len(kept) > MAX_BLOCKS:
        kept, truncated = kept[:MAX_BLOCKS], True
    if truncated:
        kept = [*kept[: MAX_BLOCKS - 1], full_payload_link(event_url)]
    text, _ = clip(fallback, MAX_FALLBACK)
    return Message(text=text or ELLIPSIS, blocks=kept, truncated=truncated)


def fallback_text(event: Event, title: str) -> str:
    """The notification text: the title and the first few key fields on one line."""
    parts = [as_text(title) or event.type]
    for name, value in list(event.payload.items())[:3]:
        text = as_text(value)
        if text and len(text) <= SHORT_VALUE:
            parts.append(f"{name}: {text}")
    return escape(" · ".join(parts))
