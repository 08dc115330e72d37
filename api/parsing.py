"""Reading request bodies by hand, so each mistake gets its own stable error code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import BaseModel

from api.errors import ApiError
from api.models import EventIn
from ingestlayer.events import EVENT_TYPE_MAX_LENGTH, EVENT_TYPE_RE

IDEMPOTENCY_KEY_MAX = 255


@dataclass(frozen=True)
class ShapeLimits:
    max_depth: int
    max_keys: int


def json_body(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its body by hand (for stable error codes), so the
    OpenAPI document still declares the body's schema."""
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


async def read_body(request: Request, limit: int) -> bytes:
    too_large = ApiError(413, "payload_too_large", f"the request body is over {limit} bytes")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ApiError(422, "malformed_json", "the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            422,
            "malformed_json",
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from None
    except RecursionError:
        raise ApiError(
            422, "payload_too_deep", "the body is nested too deeply to be read"
        ) from None
    except ValueError as exc:
        raise ApiError(422, "malformed_json", f"the body is not valid JSON: {exc}") from None


def check_shape(payload: Any, max_depth: int, max_keys: int, what: str = "`payload`") -> None:
    """Bounds a payload before anything recursive (pydantic, jsonschema, Temporal's converter)
    walks it. Iterative, so no depth of input can exhaust the stack here."""
    keys = 0
    stack: list[tuple[Any, int]] = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
            keys += len(value)
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > max_depth:
            raise ApiError(
                422,
                "payload_too_deep",
                f"{what} is nested more than {max_depth} levels deep",
            )
        if keys > max_keys:
            raise ApiError(
                422,
                "payload_too_many_keys",
                f"{what} holds more than {max_keys} object keys in all",
            )
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def validate_event(
    data: Any,
    limits: ShapeLimits,
    extra_fields: frozenset[str] = frozenset(),
) -> EventIn:
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_body", "an event is a JSON object with `type` and `payload`")
    unknown = sorted(set(data) - {"type", "payload"} - extra_fields)
    if unknown:
        raise ApiError(422, "unknown_field", f"unknown field(s): {', '.join(unknown)}")
    for name in ("type", "payload"):
        if name not in data:
            raise ApiError(422, "missing_field", f"`{name}` is required")
    event_type = data["type"]
    if (
        not isinstance(event_type, str)
        or len(event_type) > EVENT_TYPE_MAX_LENGTH
        or not EVENT_TYPE_RE.match(event_type)
    ):
        raise ApiError(
            422,
            "invalid_event_type",
            "`type` is a dotted name like support.ticket.created "
            f"(letters, digits, _ and -, at most {EVENT_TYPE_MAX_LENGTH} characters)",
        )
    if not isinstance(data["payload"], dict):
        raise ApiError(422, "invalid_payload", "`payload` must be a JSON object")
    check_shape(data["payload"], limits.max_depth, limits.max_keys)
    return EventIn.model_validate({"type": event_type, "payload": data["payload"]})


def check_idempotency_key(key: Any) -> str | None:
    if key is None:
        return None
    if (
        not isinstance(key, str)
        or not key
        or len(key) > IDEMPOTENCY_KEY_MAX
        or not key.isprintable()
        or not key.isascii()
    ):
        raise ApiError(
            422,
            "invalid_idempotency_key",
            f"an idempotency key is 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters",
        )
    return key
