"""`/v1/events`: ingest one event, read its status, redeliver its dead letters."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from temporalio.service import RPCError

from api.deps import ApiKeyDep, PipelinesDep, SettingsDep, TemporalClientDep
from api.errors import ApiError
from api.models import (
    ErrorBody,
    EventAccepted,
    EventIn,
    EventStatusOut,
    RedeliverAccepted,
    RedeliverIn,
    WorkflowRef,
)
from ingestlayer import ingest, tracking
from ingestlayer.events import EVENT_TYPE_MAX_LENGTH, EVENT_TYPE_RE
from ingestlayer.settings import Settings
from ingestlayer.status import RedeliverRequest

router = APIRouter(prefix="/v1/events", tags=["events"])

IDEMPOTENCY_KEY_MAX = 255

_errors: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or invalid API key"},
    422: {"model": ErrorBody, "description": "malformed JSON or an invalid event"},
    503: {"model": ErrorBody, "description": "the workflow service is not reachable; retry"},
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


def parse_event(body: bytes) -> EventIn:
    """Parse and validate by hand so each mistake gets its own stable error code."""
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ApiError(422, "malformed_json", "the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            422,
            "malformed_json",
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ApiError(422, "malformed_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_body", "the body is a JSON object with `type` and `payload`")
    unknown = sorted(set(data) - {"type", "payload"})
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
    return EventIn.model_validate(data)


def _check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable() or not key.isascii():
        raise ApiError(
            422,
            "invalid_idempotency_key",
            f"Idempotency-Key is 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters",
        )
    return key


def _status_url(settings: Settings, event_id: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/v1/events/{event_id}"


def _unavailable() -> ApiError:
    return ApiError(
        503,
        "temporal_unavailable",
        "the workflow service is not reachable; the event was not accepted, retry shortly",
        headers={"Retry-After": "1"},
    )


@router.post(
    "",
    status_code=202,
    response_model=EventAccepted,
    summary="Ingest one event",
    responses={
        **_errors,
        409: {"model": ErrorBody, "description": "Idempotency-Key reused with a different body"},
        413: {"model": ErrorBody, "description": "body over the size limit"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": EventIn.model_json_schema()}},
        }
    },
)
async def create_event(
    request: Request,
    response: Response,
    _auth: ApiKeyDep,
    settings: SettingsDep,
    pipelines: PipelinesDep,
    client: TemporalClientDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> EventAccepted:
    key = _check_idempotency_key(idempotency_key)
    event = parse_event(await read_body(request, settings.max_body_bytes))
    try:
        accepted = await ingest.submit(
            client, settings, pipelines, event.type, event.payload, idempotency_key=key
        )
    except ingest.IdempotencyConflict as exc:
        raise ApiError(409, exc.code, str(exc)) from None
    except (ingest.TemporalUnavailable, RPCError):
        raise _unavailable() from None
    status_url = _status_url(settings, accepted.id)
    response.headers["Location"] = status_url
    return EventAccepted(id=accepted.id, status_url=status_url, duplicate=accepted.duplicate)


@router.get(
    "/{event_id}",
    response_model=EventStatusOut,
    summary="An event's status: each step's outcome, each delivery's attempts and result",
    responses={**_errors, 404: {"model": ErrorBody, "description": "no such event"}},
)
async def get_event(
    event_id: str, _auth: ApiKeyDep, settings: SettingsDep, client: TemporalClientDep
) -> EventStatusOut:
    try:
        tracked = await tracking.get_status(client, event_id)
    except tracking.EventNotFound:
        raise ApiError(404, "event_not_found", f"no event with id {event_id}") from None
    except RPCError:
        raise _unavailable() from None
    ui = f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}/workflows/{event_id}"
    return EventStatusOut(
        **tracked.status.model_dump(),
        workflow=WorkflowRef(
            id=event_id, run_id=tracked.run_id, status=tracked.workflow_status, ui_url=ui
        ),
    )


@router.post(
    "/{event_id}/redeliver",
    status_code=202,
    response_model=RedeliverAccepted,
    summary="Retry an event's dead-lettered deliveries (all, or one pipeline's or destination's)",
    responses={
        **_errors,
        404: {"model": ErrorBody, "description": "no such event"},
        409: {"model": ErrorBody, "description": "no dead-lettered delivery matches"},
    },
)
async def redeliver_event(
    event_id: str,
    _auth: ApiKeyDep,
    client: TemporalClientDep,
    body: RedeliverIn | None = None,
) -> RedeliverAccepted:
    request = RedeliverRequest(**(body.model_dump() if body else {}))
    try:
        matched = await tracking.redeliver(client, event_id, request)
    except tracking.EventNotFound:
        raise ApiError(404, "event_not_found", f"no event with id {event_id}") from None
    except tracking.NothingToRedeliver:
        raise ApiError(
            409, "nothing_to_redeliver", "no dead-lettered delivery of this event matches"
        ) from None
    except RPCError:
        raise _unavailable() from None
    return RedeliverAccepted(id=event_id, redelivering=matched)
