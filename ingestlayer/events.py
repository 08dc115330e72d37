"""The event as it flows through a pipeline, and how `$event.path` names resolve on it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

EVENT_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-]*(\.[A-Za-z0-9][A-Za-z0-9_\-]*)*$"
EVENT_TYPE_RE = re.compile(EVENT_TYPE_PATTERN)
EVENT_TYPE_MAX_LENGTH = 128

RESERVED_FIELDS = ("id", "type", "timestamp", "payload", "labels")

_MISSING = object()


class Event(BaseModel):
    """An accepted event plus the labels the pipeline's steps added to it."""

    id: str
    type: str
    timestamp: datetime
    payload: dict[str, Any]
    labels: dict[str, Any] = Field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The JSON document destinations receive."""
        return {
            "id": self.id,
            "type": self.type,
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
            "payload": self.payload,
            "labels": self.labels,
        }

    def fields(self) -> dict[str, Any]:
        """Every top-level name a template, expression or column mapping can use.

        Payload fields first, then labels (a step's output wins over the raw payload),
        then the reserved envelope names, which always mean the envelope.
        """
        merged: dict[str, Any] = dict(self.payload)
        merged.update(self.labels)
        body = self.body()
        for name in RESERVED_FIELDS:
            merged[name] = body[name]
        return merged


def split_path(path: str) -> list[str]:
    path = path.strip()
    if path.startswith("$event."):
        path = path[len("$event.") :]
    elif path == "$event":
        return []
    return [part for part in path.split(".")] if path else []


def lookup(root: Mapping[str, Any], path: str | list[str]) -> tuple[bool, Any]:
    """Follow a dotted path through mappings and lists; (found, value)."""
    parts = split_path(path) if isinstance(path, str) else path
    current: Any = root
    for part in parts:
        if isinstance(current, Mapping):
            current = current.get(part, _MISSING)
        elif isinstance(current, list) and part.isdigit():
            index = int(part)
            current = current[index] if index < len(current) else _MISSING
        else:
            return False, None
        if current is _MISSING:
            return False, None
    return True, current
