"""Request and response bodies: the OpenAPI page is generated from these."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ingestlayer.events import EVENT_TYPE_MAX_LENGTH, EVENT_TYPE_PATTERN
from ingestlayer.status import EventStatus


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(
        min_length=1,
        max_length=EVENT_TYPE_MAX_LENGTH,
        pattern=EVENT_TYPE_PATTERN,
        examples=["support.ticket.created"],
    )
    payload: dict[str, Any] = Field(
        examples=[{"ticket_id": "T-1042", "subject": "Checkout is down", "customer_tier": "pro"}]
    )


class BatchEventIn(EventIn):
    idempotency_key: str | None = Field(default=None, max_length=255)


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[BatchEventIn] = Field(min_length=1, max_length=500)


class EventAccepted(BaseModel):
    id: str
    status_url: str
    duplicate: bool


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class BatchItemResult(BaseModel):
    index: int
    id: str | None = None
    status_url: str | None = None
    duplicate: bool | None = None
    error: ErrorDetail | None = None


class BatchAccepted(BaseModel):
    accepted: int
    rejected: int
    results: list[BatchItemResult]


class WorkflowRef(BaseModel):
    id: str
    run_id: str | None
    status: str
    ui_url: str


class EventStatusOut(EventStatus):
    workflow: WorkflowRef


class RedeliverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pipeline: str | None = None
    destination: str | None = None
    options: dict[str, Any] | None = Field(
        default=None, description="corrected destination settings, merged over the configured ones"
    )


class RedeliverAccepted(BaseModel):
    id: str
    redelivering: list[str]


class ErrorBody(BaseModel):
    error: ErrorDetail
