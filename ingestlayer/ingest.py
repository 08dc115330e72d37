"""Accepting an event: derive its id, start exactly one workflow, detect repeats and conflicts.

Workflow ids, memos and search attributes are stored unencrypted, so they only ever hold hashes
and the event type, never payload data."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from ingestlayer import search_attributes as sa
from ingestlayer.config import PipelineSet
from ingestlayer.events import Event
from ingestlayer.settings import Settings
from ingestlayer.status import EventInput
from workflows.event_pipeline import WORKFLOW_NAME

BODY_HASH_MEMO = "body_sha256"
EVENT_ID_PREFIX = "evt_"


class IngestError(Exception):
    code = "ingest_failed"


class IdempotencyConflict(IngestError):
    code = "idempotency_conflict"


class TemporalUnavailable(IngestError):
    code = "temporal_unavailable"


@dataclass(frozen=True)
class Accepted:
    id: str
    duplicate: bool


def body_hash(event_type: str, payload: dict[str, Any]) -> str:
    canonical = json.dumps(
        {"type": event_type, "payload": payload},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def event_id(event_type: str, idempotency_key: str | None) -> str:
    """Deterministic for a (type, key) pair so a repeat maps onto the same workflow."""
    if idempotency_key is None:
        return EVENT_ID_PREFIX + uuid.uuid4().hex
    digest = hashlib.sha256(f"{event_type}\n{idempotency_key}".encode()).hexdigest()
    return EVENT_ID_PREFIX + digest[:32]


def _unavailable(exc: RPCError) -> bool:
    return exc.status in (
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.CANCELLED,
    )


async def submit(
    client: Client,
    settings: Settings,
    pipelines: PipelineSet,
    event_type: str,
    payload: dict[str, Any],
    idempotency_key: str | None = None,
) -> Accepted:
    """Start the event's workflow; returns only once Temporal has durably accepted it."""
    digest = body_hash(event_type, payload)
    eid = event_id(event_type, idempotency_key)
    subscribed = pipelines.for_type(event_type)
    event = Event(id=eid, type=event_type, timestamp=datetime.now(UTC), payload=payload)
    workflow_input = EventInput(
        event=event,
        pipelines=subscribed,
        delivery_queue_prefix=settings.delivery_queue_prefix,
        dead_letter_retention_seconds=settings.dead_letter_retention_seconds,
        outbox_sends_per_run=settings.outbox_sends_per_run,
    )
    try:
        await client.start_workflow(
            WORKFLOW_NAME,
            workflow_input,
            id=eid,
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            memo={BODY_HASH_MEMO: digest},
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.EVENT_TYPE, event_type),
                    SearchAttributePair(sa.STATUS, "running"),
                    SearchAttributePair(sa.PIPELINES, [p.name for p in subscribed]),
                    SearchAttributePair(sa.DEAD_LETTER, False),
                ]
            ),
            rpc_timeout=timedelta(seconds=settings.start_timeout_seconds),
        )
        return Accepted(id=eid, duplicate=False)
    except WorkflowAlreadyStartedError:
        pass
    except RPCError as exc:
        if _unavailable(exc):
            raise TemporalUnavailable("the workflow service is not reachable") from exc
        raise
    try:
        description = await client.get_workflow_handle(eid).describe()
        memo = await description.memo()
    except RPCError as exc:
        raise TemporalUnavailable("the workflow service is not reachable") from exc
    if memo.get(BODY_HASH_MEMO) != digest:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for an event with a different body"
        )
    return Accepted(id=eid, duplicate=True)
