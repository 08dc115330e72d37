"""Reading an event's state back out of Temporal, and asking it to redeliver."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from ingestlayer import search_attributes as sa
from ingestlayer.ingest import EVENT_ID_PREFIX
from ingestlayer.outbox import OutboxView
from ingestlayer.status import ErrorInfo, EventStatus, RedeliverRequest
from workflows.event_pipeline import EventPipelineWorkflow
from workflows.outbox import WORKFLOW_NAME as OUTBOX_WORKFLOW
from workflows.outbox import OutboxWorkflow


class EventNotFound(Exception):
    code = "event_not_found"


class NothingToRedeliver(Exception):
    code = "nothing_to_redeliver"


@dataclass(frozen=True)
class Tracked:
    status: EventStatus
    workflow_status: str
    run_id: str | None


def _valid_id(event_id: str) -> bool:
    suffix = event_id.removeprefix(EVENT_ID_PREFIX)
    return (
        event_id.startswith(EVENT_ID_PREFIX)
        and len(suffix) == 32
        and all(c in "0123456789abcdef" for c in suffix)
    )


async def _describe(client: Client, event_id: str) -> WorkflowExecutionDescription:
    if not _valid_id(event_id):
        raise EventNotFound(event_id)
    try:
        return await client.get_workflow_handle(event_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise EventNotFound(event_id) from None
        raise


async def _merge_pending(
    client: Client, status: EventStatus, desc: WorkflowExecutionDescription
) -> None:
    """Attempts made by a regular activity are invisible to the workflow until it finishes;
    the server's pending-activity record shows them live. Only a delivery still retrying in the
    activity's round takes them: the description is read before the query, so by the query the
    workflow may already have counted a finished activity that the description still lists."""
    for pending in desc.raw_description.pending_activities:
        parts = pending.activity_id.split("/")
        if len(parts) != 4 or parts[0] != "deliver":
            continue
        _, pipeline, destination, round_ = parts
        for p in status.pipelines:
            if p.name != pipeline:
                continue
            for d in p.deliveries:
                if (
                    d.destination != destination
                    or d.state != "retrying"
                    or str(d.redeliveries) != round_
                ):
                    continue
                started = pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                d.attempts += pending.attempt - (0 if started else 1)
                if pending.HasField("last_failure"):
                    error = await client.data_converter.decode_failure(pending.last_failure)
                    if isinstance(error, ApplicationError):
                        details = error.details[0] if error.details else {}
                        code = (
                            details.get("code", error.type or "error")
                            if isinstance(details, dict)
                            else "error"
                        )
                        hint = details.get("hint") if isinstance(details, dict) else None
                        d.last_error = ErrorInfo(
                            code=code,
                            message=error.message,
                            retryable=not error.non_retryable,
                            hint=hint,
                        )


async def _merge_queue_positions(client: Client, status: EventStatus, event_id: str) -> None:
    """A queued delivery's place in its outbox (1 = being sent now)."""
    for p in status.pipelines:
        for d in p.deliveries:
            if d.state != "queued" or d.outbox is None:
                continue
            key = f"{event_id}/{p.name}/{d.destination}/{d.redeliveries}"
            try:
                view = await client.get_workflow_handle(d.outbox).query(OutboxWorkflow.state)
            except RPCError:
                continue
            if view.sending == key:
                d.queue_position = 1
            elif key in view.queued:
                d.queue_position = view.queued.index(key) + 1 + (view.sending is not None)


async def get_status(client: Client, event_id: str) -> Tracked:
    desc = await _describe(client, event_id)
    handle = client.get_workflow_handle(event_id, run_id=desc.run_id, result_type=EventStatus)
    if desc.status == WorkflowExecutionStatus.COMPLETED:
        status = await handle.result()
    else:
        status = await handle.query(EventPipelineWorkflow.status)
        if desc.status == WorkflowExecutionStatus.RUNNING:
            await _merge_pending(client, status, desc)
            await _merge_queue_positions(client, status, event_id)
    name = desc.status.name.lower() if desc.status else "unknown"
    return Tracked(status=status, workflow_status=name, run_id=desc.run_id)


async def redeliver(client: Client, event_id: str, request: RedeliverRequest) -> list[str]:
    """Signal the workflow for the dead-lettered deliveries the request matches; returns them."""
    tracked = await get_status(client, event_id)
    matched = [
        f"{pipeline}/{delivery.destination}"
        for pipeline, delivery in tracked.status.dead_letters()
        if request.applies_to(pipeline, delivery)
    ]
    if request.destination is None:
        matched += [
            f"{p.name} (steps)"
            for p in tracked.status.failed_pipelines()
            if request.pipeline in (None, p.name)
        ]
    if not matched or tracked.workflow_status != "running":
        raise NothingToRedeliver(event_id)
    await client.get_workflow_handle(event_id).signal(EventPipelineWorkflow.redeliver, request)
    return matched


@dataclass(frozen=True)
class DeadLetterEntry:
    id: str
    event_type: str | None
    destinations: list[str]
    started_at: str | None


async def dead_letters(
    client: Client, event_type: str | None, destination: str | None, limit: int
) -> list[DeadLetterEntry]:
    """Filtered through visibility; the filter values are validated names, quoted for the query."""
    clauses = ["IngestlayerDeadLetter = true"]
    if event_type:
        clauses.append(f"IngestlayerEventType = '{event_type}'")
    if destination:
        clauses.append(f"IngestlayerDeadLetterDestinations = '{destination}'")
    found: list[DeadLetterEntry] = []
    async for wf in client.list_workflows(" AND ".join(clauses), limit=limit):
        attrs = wf.typed_search_attributes
        found.append(
            DeadLetterEntry(
                id=wf.id,
                event_type=attrs.get(sa.EVENT_TYPE),
                destinations=list(attrs.get(sa.DEAD_LETTER_DESTINATIONS) or []),
                started_at=wf.start_time.isoformat() if wf.start_time else None,
            )
        )
    return found


async def outboxes(client: Client, limit: int) -> list[tuple[str, OutboxView]]:
    """Running outboxes and their state; one that finishes between the listing and the query
    is left out."""
    found: list[tuple[str, OutboxView]] = []
    query = f"WorkflowType = '{OUTBOX_WORKFLOW}' AND ExecutionStatus = 'Running'"
    async for wf in client.list_workflows(query, limit=limit):
        try:
            view = await client.get_workflow_handle(wf.id).query(OutboxWorkflow.state)
        except (RPCError, WorkflowQueryFailedError):
            continue
        found.append((wf.id, view))
    return found
