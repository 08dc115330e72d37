"""`/v1/dead-letters`: events with a delivery (or a step) waiting for a redeliver."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from temporalio.service import RPCError

from api.deps import ApiKeyDep, SettingsDep, TemporalClientDep
from api.errors import ApiError
from api.models import ErrorBody
from ingestlayer import tracking
from ingestlayer.events import EVENT_TYPE_PATTERN

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
        str | None, Query(pattern=r"^[A-Za-z0-9_\-*]+/[A-Za-z0-9_\-*]+$", max_length=130)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeadLetterList:
    try:
        found = await tracking.dead_letters(client, event_type, destination, limit)
    except RPCError:
        raise ApiError(
            503, "temporal_unavailable", "the workflow service is not reachable; retry shortly"
        ) from None
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
