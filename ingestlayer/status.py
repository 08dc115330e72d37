"""What `GET /v1/events/{id}` shows: each step's outcome and each delivery's attempts and result."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ingestlayer.config import PipelineSpec
from ingestlayer.events import Event

EventState = Literal[
    "running", "completed", "filtered", "unrouted", "failed", "dead_lettered", "expired"
]
PipelineState = Literal["running", "completed", "filtered", "failed", "dead_lettered", "expired"]
DeliveryState = Literal[
    "pending",
    "skipped",
    "queued",
    "delivering",
    "retrying",
    "delivered",
    "dead_lettered",
    "expired",
]


class ErrorInfo(BaseModel):
    code: str
    message: str
    retryable: bool
    hint: str | None = None


class StepOutcome(BaseModel):
    step: str
    outcome: Literal["passed", "filtered", "applied", "failed"]
    detail: dict[str, Any] = Field(default_factory=dict)


class DeliveryStatus(BaseModel):
    destination: str
    kind: str
    state: DeliveryState = "pending"
    attempts: int = 0
    last_error: ErrorInfo | None = None
    result: dict[str, Any] | None = None
    delivered_at: datetime | None = None
    dead_lettered_at: datetime | None = None
    redeliveries: int = 0
    outbox: str | None = None
    queue_position: int | None = None


class PipelineStatus(BaseModel):
    name: str
    state: PipelineState = "running"
    steps: list[StepOutcome] = Field(default_factory=list)
    labels: dict[str, Any] = Field(default_factory=dict)
    deliveries: list[DeliveryStatus] = Field(default_factory=list)


class EventStatus(BaseModel):
    id: str
    type: str
    received_at: datetime
    state: EventState = "running"
    pipelines: list[PipelineStatus] = Field(default_factory=list)

    def dead_letters(self) -> list[tuple[str, DeliveryStatus]]:
        return [
            (p.name, d) for p in self.pipelines for d in p.deliveries if d.state == "dead_lettered"
        ]

    def failed_pipelines(self) -> list[PipelineStatus]:
        """Pipelines stopped by a step that failed; a redeliver runs them again from that step."""
        return [p for p in self.pipelines if p.state == "failed"]


class EventInput(BaseModel):
    """A workflow's whole input: the event and the pipelines it runs through, frozen at ingest."""

    event: Event
    pipelines: list[PipelineSpec]
    delivery_queue_prefix: str = "ingestlayer-delivery"
    dead_letter_retention_seconds: float = 14 * 24 * 3600
    outbox_sends_per_run: int = 500


class DeliveryInput(BaseModel):
    """`not_before` (epoch seconds) is when a paced destination's first request may go;
    `first_try` is false on redeliveries (an activity retry is known from its attempt number)."""

    event: Event
    pipeline: str
    destination: str
    kind: str
    options: dict[str, Any]
    not_before: float | None = None
    first_try: bool = True


class StepInput(BaseModel):
    """An I/O step's activity input: the event so far and the step's raw (validated) settings."""

    event: Event
    pipeline: str
    args: dict[str, Any]


class StepOutput(BaseModel):
    event: Event
    detail: dict[str, Any] = Field(default_factory=dict)


class DeliveryOutput(BaseModel):
    attempt: int
    result: dict[str, Any]
    next_slot: float | None = None


class RedeliverRequest(BaseModel):
    """Retry dead-lettered deliveries: all of them, or one pipeline's or destination's, optionally
    with corrected destination settings merged over the configured ones."""

    pipeline: str | None = None
    destination: str | None = None
    options: dict[str, Any] | None = None
    if_redeliveries: int | None = Field(
        default=None,
        description="only a delivery redelivered this many times so far: a repeated signal "
        "(a retried bulk redelivery) is then a no-op instead of a second resend",
    )

    def matches(self, pipeline: str, destination: str) -> bool:
        return (self.pipeline in (None, pipeline)) and (self.destination in (None, destination))

    def applies_to(self, pipeline: str, delivery: DeliveryStatus) -> bool:
        return self.matches(pipeline, delivery.destination) and (
            self.if_redeliveries in (None, delivery.redeliveries)
        )
