"""Bulk redelivery: every dead-lettered delivery of one destination (optionally of one event type
and a start-time range) is signalled to redeliver, paced, by one workflow (`redeliver/<id>`).

The workflow walks the dead letters newest first with a cursor on the workflow start time (the
order visibility lists running workflows in), never a page token: a redelivered event that
dead-letters again keeps its start time, so it is behind the cursor and one run never picks it
twice. Everything here is plain async code over a Temporal client; `activities/bulk_redeliver.py`
only wraps it. The workflow's input, ids and results hold names, ids and times, never payloads.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from ingestlayer import tracking
from ingestlayer.events import EVENT_TYPE_MAX_LENGTH, EVENT_TYPE_PATTERN
from ingestlayer.settings import Settings
from ingestlayer.status import RedeliverRequest
from workflows.event_pipeline import STEPS_KEY
from workflows.event_pipeline import WORKFLOW_NAME as EVENT_WORKFLOW

WORKFLOW_NAME = "BulkRedeliver"
PROGRESS_QUERY = "progress"
WORKFLOW_ID_PREFIX = "redeliver/"
DESTINATION_PATTERN = r"^[A-Za-z0-9_\-*]+/[A-Za-z0-9_\-*]+$"
DEFAULT_RATE = 5.0
MIN_RATE = 0.1
MAX_RATE = 100.0
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_ID_RE = re.compile(r"^[0-9a-f]{32}$")

SignalOutcome = Literal["signalled", "skipped", "missing"]


class NoMatchingDeadLetters(Exception):
    code = "nothing_to_redeliver"


class RedeliveryNotFound(Exception):
    code = "redelivery_not_found"


class BulkRedeliveryRequest(BaseModel):
    """Which dead letters to redeliver, and how fast. `since`/`until` bound the event workflow's
    start time (when the API accepted the event), both inclusive; a time without an offset is
    UTC."""

    model_config = ConfigDict(extra="forbid")

    destination: str = Field(
        pattern=DESTINATION_PATTERN,
        max_length=130,
        description="`pipeline/destination`, as `GET /v1/dead-letters` lists them",
        examples=["support-escalations/on-call"],
    )
    event_type: str | None = Field(
        default=None, pattern=EVENT_TYPE_PATTERN, max_length=EVENT_TYPE_MAX_LENGTH
    )
    since: datetime | None = None
    until: datetime | None = None
    rate_per_second: float = Field(
        default=DEFAULT_RATE,
        ge=MIN_RATE,
        le=MAX_RATE,
        description="events signalled per second, so a recovered receiver is not flooded",
    )

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValueError("the time is out of range") from None
        if utc < _EARLIEST:
            raise ValueError("the time is before 1970")
        return utc

    @model_validator(mode="after")
    def _ordered(self) -> BulkRedeliveryRequest:
        if self.since and self.until and self.since > self.until:
            raise ValueError("`since` is after `until`")
        return self

    def target(self) -> tuple[str, str]:
        pipeline, _, destination = self.destination.partition("/")
        return pipeline, destination


class BulkRedeliveryProgress(BaseModel):
    """`matched` counts dead letters listed so far; each is then `signalled`, `skipped` (no
    longer dead-lettered there when its turn came), `missing` (its workflow had ended) or
    `failed` (Temporal kept refusing the signal)."""

    id: str
    state: Literal["running", "completed", "failed"] = "running"
    request: BulkRedeliveryRequest
    matched: int = 0
    signalled: int = 0
    skipped: int = 0
    missing: int = 0
    failed: int = 0
    runs: int = 1
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None


class BulkRedeliveryState(BaseModel):
    """The workflow's input, carried whole across continue-as-new. `cursor` is the exact start
    time (RFC 3339) of the oldest dead letter listed so far, `exclude` the ids listed at exactly
    that time, `pending` those listed but not yet signalled (at most a page), `not_before` when
    the next signal may go (epoch seconds)."""

    progress: BulkRedeliveryProgress
    page_size: int = 100
    signals_per_run: int = 500
    cursor: str | None = None
    exclude: list[str] = Field(default_factory=list)
    pending: list[str] = Field(default_factory=list)
    not_before: float | None = None


class PageRequest(BaseModel):
    request: BulkRedeliveryRequest
    cursor: str | None
    exclude: list[str]
    page_size: int


class Listed(BaseModel):
    id: str
    started: str


class Page(BaseModel):
    items: list[Listed]


class SignalInput(BaseModel):
    event_id: str
    destination: str


class SignalBatch(BaseModel):
    """About a second's worth of events. `not_before` (epoch seconds) is when the first signal
    may go; the next ones follow `interval` apart."""

    event_ids: list[str]
    destination: str
    interval: float
    not_before: float | None = None


class BatchResult(BaseModel):
    outcomes: list[SignalOutcome]
    not_before: float | None


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _quoted(value: str) -> str:
    """Values reaching a query are validated names or our own ids; quoting is belt and braces."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def visibility_query(
    request: BulkRedeliveryRequest, cursor: str | None = None, exclude: list[str] | None = None
) -> str:
    clauses = [
        f"WorkflowType = '{EVENT_WORKFLOW}'",
        "ExecutionStatus = 'Running'",
        "IngestlayerDeadLetter = true",
        f"IngestlayerDeadLetterDestinations = {_quoted(request.destination)}",
    ]
    if request.event_type:
        clauses.append(f"IngestlayerEventType = {_quoted(request.event_type)}")
    if request.since:
        clauses.append(f"StartTime >= '{rfc3339(request.since)}'")
    upper = cursor or (rfc3339(request.until) if request.until else None)
    if upper:
        clauses.append(f"StartTime <= {_quoted(upper)}")
    if exclude:
        clauses.append(f"WorkflowId NOT IN ({', '.join(_quoted(i) for i in exclude)})")
    return " AND ".join(clauses)


async def list_page(client: Client, page: PageRequest) -> Page:
    """The next `page_size` dead letters, newest first, at or before the cursor."""
    query = visibility_query(page.request, page.cursor, page.exclude)
    items: list[Listed] = []
    async for wf in client.list_workflows(query, limit=page.page_size, page_size=page.page_size):
        items.append(Listed(id=wf.id, started=wf.raw_info.start_time.ToJsonString()))
    return Page(items=items)


async def signal_one(client: Client, signal: SignalInput) -> SignalOutcome:
    """Signal one event to redeliver one destination, only if it is dead-lettered there now. The
    signal names the delivery's redelivery count, so if this call is retried after the signal
    went through, the repeat finds the count moved on and does nothing."""
    pipeline, _, destination = signal.destination.partition("/")
    try:
        tracked = await tracking.get_status(client, signal.event_id)
    except tracking.EventNotFound:
        return "missing"
    if tracked.workflow_status != "running":
        return "missing"
    if destination == STEPS_KEY:
        if not any(p.name == pipeline for p in tracked.status.failed_pipelines()):
            return "skipped"
        request = RedeliverRequest(pipeline=pipeline)
    else:
        found = [
            d
            for p, d in tracked.status.dead_letters()
            if p == pipeline and d.destination == destination
        ]
        if not found:
            return "skipped"
        request = RedeliverRequest(
            pipeline=pipeline, destination=destination, if_redeliveries=found[0].redeliveries
        )
    handle = client.get_workflow_handle(signal.event_id, run_id=tracked.run_id)
    try:
        await handle.signal("redeliver", request)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return "missing"
        raise
    return "signalled"


async def signal_batch(client: Client, batch: SignalBatch) -> BatchResult:
    """The pace is kept here, in the activity: a workflow timer fires on a whole second at best
    (measured on the dev server), too coarse for 10 events a second. Only a signal sent uses a
    slot; an event skipped or missing lets the next one go at once."""
    not_before = batch.not_before
    outcomes: list[SignalOutcome] = []
    for event_id in batch.event_ids:
        if not_before is not None and (wait := not_before - time.time()) > 0:
            await asyncio.sleep(wait)
        started = time.time()
        outcome = await signal_one(
            client, SignalInput(event_id=event_id, destination=batch.destination)
        )
        outcomes.append(outcome)
        if outcome == "signalled":
            not_before = started + batch.interval
    return BatchResult(outcomes=outcomes, not_before=not_before)


@dataclass(frozen=True)
class Started:
    id: str
    workflow_id: str
    matching: int


def workflow_id(redelivery_id: str) -> str:
    return WORKFLOW_ID_PREFIX + redelivery_id


async def start(client: Client, settings: Settings, request: BulkRedeliveryRequest) -> Started:
    """Count first, so a filter that matches nothing is an answer rather than an empty run."""
    counted = await client.count_workflows(visibility_query(request))
    if counted.count == 0:
        raise NoMatchingDeadLetters(request.destination)
    rid = uuid.uuid4().hex
    state = BulkRedeliveryState(
        progress=BulkRedeliveryProgress(id=rid, request=request),
        page_size=settings.redeliver_page_size,
        signals_per_run=settings.redeliver_signals_per_run,
        cursor=rfc3339(request.until) if request.until else None,
    )
    await client.start_workflow(
        WORKFLOW_NAME,
        state,
        id=workflow_id(rid),
        task_queue=settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    return Started(id=rid, workflow_id=workflow_id(rid), matching=counted.count)


async def progress(client: Client, redelivery_id: str) -> tuple[BulkRedeliveryProgress, str]:
    """The run's progress and its workflow's status (its latest run, after continue-as-new)."""
    if not _ID_RE.match(redelivery_id):
        raise RedeliveryNotFound(redelivery_id)
    handle = client.get_workflow_handle(
        workflow_id(redelivery_id), result_type=BulkRedeliveryProgress
    )
    try:
        desc = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise RedeliveryNotFound(redelivery_id) from None
        raise
    if desc.status == WorkflowExecutionStatus.COMPLETED:
        found = await handle.result()
    else:
        found = await handle.query(PROGRESS_QUERY, result_type=BulkRedeliveryProgress)
    name = desc.status.name.lower() if desc.status else "unknown"
    return found, name
