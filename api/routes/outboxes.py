"""`/v1/outboxes`: the queues of rate-limited targets (a Slack channel, a Notion integration):
how much waits, and whether a target is held as disconnected until the user reconnects."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from temporalio.service import RPCError

from api.deps import ApiKeyDep, TemporalClientDep
from api.errors import temporal_unavailable
from api.models import ErrorBody
from ingestlayer import tracking
from ingestlayer.status import ErrorInfo

router = APIRouter(prefix="/v1/outboxes", tags=["outboxes"])


class Outbox(BaseModel):
    id: str
    target: str
    queued: int
    sending: bool
    sent: int
    runs: int
    state: str
    error: ErrorInfo | None


class OutboxList(BaseModel):
    outboxes: list[Outbox]


@router.get(
    "",
    response_model=OutboxList,
    summary="Rate-limited targets with deliveries waiting, and their connection state",
    responses={401: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
async def list_outboxes(
    _auth: ApiKeyDep,
    client: TemporalClientDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> OutboxList:
    try:
        found = await tracking.outboxes(client, limit)
    except RPCError:
        raise temporal_unavailable() from None
    return OutboxList(
        outboxes=[
            Outbox(
                id=workflow_id,
                target=view.label,
                queued=len(view.queued),
                sending=view.sending is not None,
                sent=view.sent,
                runs=view.runs,
                state="disconnected" if view.disconnected else "connected",
                error=view.disconnected,
            )
            for workflow_id, view in found
        ]
    )
