"""The contract every destination adapter implements."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from ingestlayer.destinations.ssrf import OutboundPolicy
from ingestlayer.events import Event


class Pacer:
    """Spaces an adapter's requests to one rate-limited target by `interval` seconds of wall time.

    Sends that share a pace key go through one outbox workflow, one at a time and in order; it
    hands each delivery the earliest time its first request may go (`not_before`) and carries
    `next_slot` to the next one, so the spacing holds across attempts, worker processes and
    machines (their clocks agreeing to a few milliseconds).
    """

    def __init__(self, interval: float = 0.0, not_before: float | None = None) -> None:
        self.interval = interval
        self.next_slot = not_before or 0.0
        self.requests = 0

    async def __call__(self) -> None:
        now = time.time()
        if self.next_slot > now:
            await asyncio.sleep(self.next_slot - now)
            now = time.time()
        self.next_slot = max(now, self.next_slot) + self.interval
        self.requests += 1


@dataclass(frozen=True)
class DeliveryContext:
    """What an adapter knows about this delivery besides the event itself.

    `first_try` is false on any retry or redelivery: an adapter whose sends are not idempotent
    (a Notion page append in several requests) checks what an earlier try already did.
    `pace` is awaited before every request that counts against the provider's rate limit.
    `outbound` checks a user-supplied URL before anything connects to it.
    """

    pipeline: str
    destination: str
    attempt: int = 1
    public_base_url: str = "http://127.0.0.1:8000"
    first_try: bool = True
    pace: Pacer = field(default_factory=Pacer)
    outbound: OutboundPolicy = field(default_factory=OutboundPolicy)
    extra: dict[str, Any] = field(default_factory=dict)

    def event_url(self, event: Event) -> str:
        return f"{self.public_base_url.rstrip('/')}/v1/events/{event.id}"


def digest(*parts: str) -> str:
    """A short stable digest for keys built from settings that may hold secrets."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


class Destination(BaseModel):
    """A destination's settings, validated at load; `deliver` sends one event.

    Subclasses set `kind` (the YAML key) and raise the errors of `destinations.errors`.
    Secret fields hold `${ENV}` references and are resolved inside `deliver`.

    A rate-limited destination sets `paced` and implements `pace_interval` (seconds between
    requests to one target) and `pace_key` (which sends share that limit, e.g. one Slack
    channel): its deliveries then queue in arrival order in one outbox per key instead of racing
    each other into 429s.
    `disconnect_codes` are error codes meaning the connection itself is broken (a revoked
    token): the outbox then holds that target in an error state and dead-letters what is queued
    behind it without calling the provider, until a redelivery shows the user reconnected.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ClassVar[str]
    paced: ClassVar[bool] = False
    disconnect_codes: ClassVar[frozenset[str]] = frozenset()

    def pace_interval(self) -> float:
        return 0.0

    def pace_key(self) -> str:
        """Stable and free of secrets (hash any token); sends with the same key share one pace."""
        return self.kind

    def pace_label(self) -> str:
        """A readable, secret-free name for the paced target, shown in workflow ids and status."""
        return self.kind

    async def deliver(self, event: Event, ctx: DeliveryContext) -> dict[str, Any]:
        raise NotImplementedError
