"""`/v1/dead-letters`: events with a delivery (or a step) waiting for a redeliver, and bulk
redeliveries of them."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import ApiKeyDep, SettingsDep, TemporalClientDep
from api.errors import ApiError, temporal_unavailable
from api.models import ErrorBody, WorkflowRef
from api.parsing import json_body, load_json, read_body
from ingestlayer import bulk_redelivery, tracking
from ingestlayer.bulk_redelivery import BulkRedeliveryProgress, BulkRedeliveryRequest
from ingestlayer.events import EVENT_TYPE_PATTERN
from ingestlayer.settings import Settings

router = APIRouter(prefix="/v1/dead-letters", tags=["dead letters"])


class DeadLetter(BaseModel):
    id: str
    type: str | None
    destinations: list[str]
    started_at: str | None
    status_url: str


class DeadLetterList(BaseModel):
    dead_letters: list[DeadLetter]


@router.get(
    "",
    response_model=DeadLetterList,
    summary="Events waiting for a redeliver, newest first",
    responses={401: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
async def list_dead_letters(
    _auth: ApiKeyDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    event_type: Annotated[str | None, Query(pattern=EVENT_TYPE_PATTERN, max_length=128)] = None,
    destination: Annotated[
        str | None, Query(pattern=bulk_redelivery.DESTINATION_PATTERN, max_length=130)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeadLetterList:
    try:
        found = await tracking.dead_letters(client, event_type, destination, limit)
    except RPCError:
        raise temporal_unavailable() from None
    base = settings.public_base_url.rstrip("/")
    return DeadLetterList(
        dead_letters=[
            DeadLetter(
                id=item.id,
                type=item.event_type,
                destinations=item.destinations,
                started_at=item.started_at,
                status_url=f"{base}/v1/events/{item.id}",
            )
            for item in found
        ]
    )


class BulkRedeliveryAccepted(BaseModel):
    id: str
    workflow_id: str
    status_url: str
    matching: int = Field(description="dead letters matching the filter when the run started")


class BulkRedeliveryOut(BulkRedeliveryProgress):
    done: bool
    workflow: WorkflowRef


_BULK_BODY_LIMIT = 16 * 1024


def _redelivery_url(settings: Settings, redelivery_id: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/v1/dead-letters/redeliveries/{redelivery_id}"


def _bulk_request(body: bytes) -> BulkRedeliveryRequest:
    data = load_json(body)
    if not isinstance(data, dict):
        raise ApiError(
            422, "invalid_filter", 'the body is a JSON object like {"destination": "pipeline/dest"}'
        )
    try:
        return BulkRedeliveryRequest.model_validate_json(body, strict=True)
    except ValidationError as exc:
        details = [
            {"loc": list(e["loc"]), "message": e["msg"]} for e in exc.errors(include_url=False)
        ]
        first = details[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(
            422, "invalid_filter", f"{where}: {first['message']}", details=details
        ) from None


@router.post(
    "/redeliver",
    status_code=202,
    response_model=BulkRedeliveryAccepted,
    summary="Redeliver every dead letter of one destination (optionally of one event type and "
    "time range), paced; one durable run, followed at its status URL",
    responses={
        401: {"model": ErrorBody, "description": "missing or invalid API key"},
        409: {"model": ErrorBody, "description": "no dead letter matches the filter"},
        413: {"model": ErrorBody, "description": "body over 16 KiB"},
        422: {"model": ErrorBody, "description": "malformed JSON or an invalid filter"},
        503: {"model": ErrorBody, "description": "the workflow service is not reachable; retry"},
    },
    openapi_extra=json_body(BulkRedeliveryRequest),
)
async def redeliver_dead_letters(
    request: Request,
    response: Response,
    _auth: ApiKeyDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> BulkRedeliveryAccepted:
    bulk = _bulk_request(await read_body(request, _BULK_BODY_LIMIT))
    try:
        started = await bulk_redelivery.start(client, settings, bulk)
    except bulk_redelivery.NoMatchingDeadLetters:
        raise ApiError(
            409, "nothing_to_redeliver", "no dead-lettered delivery matches the filter"
        ) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            raise ApiError(
                422, "invalid_filter", "the workflow service cannot run this filter"
            ) from None
        raise temporal_unavailable() from None
    status_url = _redelivery_url(settings, started.id)
    response.headers["Location"] = status_url
    return BulkRedeliveryAccepted(
        id=started.id,
        workflow_id=started.workflow_id,
        status_url=status_url,
        matching=started.matching,
    )


@router.get(
    "/redeliveries/{redelivery_id}",
    response_model=BulkRedeliveryOut,
    summary="A bulk redelivery's progress: matched, signalled, skipped, missing, done",
    responses={
        401: {"model": ErrorBody, "description": "missing or invalid API key"},
        404: {"model": ErrorBody, "description": "no such bulk redelivery"},
        503: {"model": ErrorBody, "description": "the workflow service is not reachable; retry"},
    },
)
async def get_redelivery(
    redelivery_id: str, _auth: ApiKeyDep, settings: SettingsDep, client: TemporalClientDep
) -> BulkRedeliveryOut:
    try:
        found, workflow_status = await bulk_redelivery.progress(client, redelivery_id)
    except bulk_redelivery.RedeliveryNotFound:
        raise ApiError(
            404, "redelivery_not_found", f"no bulk redelivery with id {redelivery_id[:64]}"
        ) from None
    except (RPCError, WorkflowQueryFailedError):
        raise temporal_unavailable() from None
    wid = bulk_redelivery.workflow_id(redelivery_id)
    ui = (
        f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}"
        f"/workflows/{quote(wid, safe='')}"
    )
    return BulkRedeliveryOut(
        **found.model_dump(),
        done=found.state != "running",
        workflow=WorkflowRef(id=wid, run_id=None, status=workflow_status, ui_url=ui),
    )
