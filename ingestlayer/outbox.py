"""What flows through an outbox: one queue per rate-limited target (a Slack channel, a Notion
integration), sent one at a time in arrival order and paced, with replies to the event workflows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ingestlayer.config import RetrySpec
from ingestlayer.status import DeliveryInput, ErrorInfo

DISCONNECTED_HOLD_SECONDS = 60.0
RECENT_REPLIES = 500


class OutboxItem(BaseModel):
    """One delivery waiting for its turn; `round` counts redeliveries, so a redelivery is a new
    item while a repeated enqueue of the same round is recognised and ignored."""

    reply_to: str
    pipeline: str
    destination: str
    round: int = 0
    arrived_at: datetime
    delivery: DeliveryInput
    retry: RetrySpec = Field(default_factory=RetrySpec)

    @property
    def key(self) -> str:
        return f"{self.reply_to}/{self.pipeline}/{self.destination}/{self.round}"


class OutboxReply(BaseModel):
    """What the outbox signals back to the event workflow once an item is sent or given up."""

    key: str
    reply_to: str
    ok: bool
    attempts: int
    result: dict[str, Any] | None = None
    error: ErrorInfo | None = None


class OutboxState(BaseModel):
    """The outbox workflow's input, carried whole across continue-as-new."""

    kind: str
    label: str
    interval: float
    delivery_queue: str
    disconnect_codes: list[str] = Field(default_factory=list)
    sends_per_run: int = 500
    queue: list[OutboxItem] = Field(default_factory=list)
    next_slot: float | None = None
    sent: int = 0
    runs: int = 1
    enqueue_lag: float = 0.0
    disconnected: ErrorInfo | None = None
    disconnected_at: datetime | None = None
    recent: dict[str, OutboxReply] = Field(default_factory=dict)


class OutboxView(BaseModel):
    """The `state` query: what is waiting and whether the target is held as disconnected."""

    label: str
    runs: int
    queued: list[str]
    sending: str | None
    sent: int
    disconnected: ErrorInfo | None


class EnqueueRequest(BaseModel):
    item: OutboxItem
    delivery_queue_prefix: str
    sends_per_run: int = 500


def outbox_id(label: str, key: str) -> str:
    return f"outbox/{label}/{key}"
