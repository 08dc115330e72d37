"""`/v1/events`: ingest one event, read its status, redeliver its dead letters."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from pydantic import ValidationError
from temporalio.service import RPCError

from api.deps import ApiKeyDep, PipelinesDep, SettingsDep, TemporalClientDep
from api.errors import ApiError, temporal_unavailable
from api.models import (
    BatchAccepted,
    BatchIn,
    BatchItemResult,
    ErrorBody,
    ErrorDetail,
    EventAccepted,
    EventIn,
    EventStatusOut,
    RedeliverAccepted,
    RedeliverIn,
    WorkflowRef,
)
from api.parsing import (
    ShapeLimits,
    check_idempotency_key,
    check_shape,
    json_body,
    load_json,
    read_body,
    validate_event,
)
from ingestlayer import ingest, secrets, tracking
from ingestlayer.settings import Settings
from ingestlayer.status import RedeliverRequest

router = APIRouter(prefix="/v1/events", tags=["events"])

_errors: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or invalid API key"},
    422: {"model": ErrorBody, "description": "malformed JSON or an invalid event"},
    503: {"model": ErrorBody, "description": "the workflow service is not reachable; retry"},
}


def _status_url(settings: Settings, event_id: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/v1/events/{event_id}"


def _limits(settings: Settings) -> ShapeLimits:
    return ShapeLimits(settings.max_payload_depth, settings.max_payload_keys)


def _unavailable() -> ApiError:
    return temporal_unavailable("the event was not accepted, ")


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
    openapi_extra=json_body(EventIn),
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
    key = check_idempotency_key(idempotency_key)
    event = validate_event(
        load_json(await read_body(request, settings.max_body_bytes)), _limits(settings)
    )
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


@router.post(
    "/batch",
    status_code=202,
    response_model=BatchAccepted,
    summary="Ingest up to 500 events; each is accepted or rejected on its own",
    responses={
        **_errors,
        207: {"model": BatchAccepted, "description": "some events were rejected; see `results`"},
        413: {"model": ErrorBody, "description": "body over the batch size limit"},
    },
    openapi_extra=json_body(BatchIn),
)
async def create_events(
    request: Request,
    response: Response,
    _auth: ApiKeyDep,
    settings: SettingsDep,
    pipelines: PipelinesDep,
    client: TemporalClientDep,
) -> BatchAccepted:
    data = load_json(await read_body(request, settings.max_batch_bytes))
    if (
        not isinstance(data, dict)
        or set(data) != {"events"}
        or not isinstance(data["events"], list)
    ):
        raise ApiError(422, "invalid_body", 'the body is {"events": [ ... ]}')
    items: list[Any] = data["events"]
    if not 1 <= len(items) <= settings.max_batch_events:
        raise ApiError(
            422,
            "invalid_batch_size",
            f"a batch holds 1 to {settings.max_batch_events} events, not {len(items)}",
        )
    limit = asyncio.Semaphore(settings.batch_concurrency)
    shape = _limits(settings)

    async def one(index: int, item: Any) -> BatchItemResult:
        try:
            event = validate_event(item, shape, extra_fields=frozenset({"idempotency_key"}))
            key = check_idempotency_key(item.get("idempotency_key"))
            size = len(json.dumps(item, separators=(",", ":")).encode())
            if size > settings.max_body_bytes:
                raise ApiError(
                    413, "payload_too_large", f"the event is over {settings.max_body_bytes} bytes"
                )
            async with limit:
                accepted = await ingest.submit(
                    client, settings, pipelines, event.type, event.payload, idempotency_key=key
                )
        except ApiError as exc:
            return BatchItemResult(
                index=index, error=ErrorDetail(code=exc.code, message=exc.message)
            )
        except ingest.IdempotencyConflict as exc:
            return BatchItemResult(index=index, error=ErrorDetail(code=exc.code, message=str(exc)))
        except (ingest.TemporalUnavailable, RPCError):
            error = ErrorDetail(
                code="temporal_unavailable", message="not accepted; retry this event"
            )
            return BatchItemResult(index=index, error=error)
        return BatchItemResult(
            index=index,
            id=accepted.id,
            status_url=_status_url(settings, accepted.id),
            duplicate=accepted.duplicate,
        )

    results = await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))
    rejected = sum(1 for r in results if r.error is not None)
    if rejected:
        response.status_code = 207
    return BatchAccepted(accepted=len(results) - rejected, rejected=rejected, results=list(results))


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


def _redeliver_body(data: Any, settings: Settings) -> RedeliverIn:
    if data is None:
        return RedeliverIn()
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_body", "the body is a JSON object (or empty)")
    check_shape(data, settings.max_payload_depth, settings.max_payload_keys, "the body")
    try:
        corrections = RedeliverIn.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ApiError(422, "invalid_body", f"{where}: {first['msg']}") from None
    if corrections.options and (
        literal := secrets.literal_secrets(corrections.options, "options.")
    ):
        raise ApiError(422, "literal_secret", secrets.literal_secret_message(literal))
    return corrections


@router.post(
    "/{event_id}/redeliver",
    status_code=202,
    response_model=RedeliverAccepted,
    summary="Retry an event's dead-lettered deliveries (all, or one pipeline's or destination's)",
    responses={
        **_errors,
        404: {"model": ErrorBody, "description": "no such event"},
        409: {"model": ErrorBody, "description": "no dead-lettered delivery matches"},
        413: {"model": ErrorBody, "description": "body over the size limit"},
    },
    openapi_extra=json_body(RedeliverIn, required=False),
)
async def redeliver_event(
    event_id: str,
    request: Request,
    _auth: ApiKeyDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> RedeliverAccepted:
    body = await read_body(request, settings.max_body_bytes)
    corrections = _redeliver_body(load_json(body) if body.strip() else None, settings)
    redeliver = RedeliverRequest(**corrections.model_dump())
    try:
        matched = await tracking.redeliver(client, event_id, redeliver)
    except tracking.EventNotFound:
        raise ApiError(404, "event_not_found", f"no event with id {event_id}") from None
    except tracking.NothingToRedeliver:
        raise ApiError(
            409, "nothing_to_redeliver", "no dead-lettered delivery of this event matches"
        ) from None
    except RPCError:
        raise _unavailable() from None
    return RedeliverAccepted(id=event_id, redelivering=matched)
