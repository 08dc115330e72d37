"""The contract every destination adapter implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from ingestlayer.events import Event


@dataclass(frozen=True)
class DeliveryContext:
    """What an adapter knows about this delivery besides the event itself."""

    pipeline: str
    destination: str
    attempt: int = 1
    public_base_url: str = "http://127.0.0.1:8000"
    extra: dict[str, Any] = field(default_factory=dict)


class Destination(BaseModel):
    """A destination's settings, validated at load; `deliver` sends one event.

    Subclasses set `kind` (the YAML key) and raise the errors of `destinations.errors`.
    Secret fields hold `${ENV}` references and are resolved inside `deliver`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ClassVar[str]

    async def deliver(self, event: Event, ctx: DeliveryContext) -> dict[str, Any]:
        raise NotImplementedError
