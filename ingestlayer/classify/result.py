"""What a classification produced: the cacheable outcome, and the result the step reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

__all__ = ["ClassifyResult", "Outcome"]


@dataclass(frozen=True)
class Outcome:
    """The label one run of the model produced, as stored in the cache."""

    label: Any
    attempts: int
    defaulted: bool = False
    reason: str | None = None

    @property
    def cacheable(self) -> bool:
        """Only real answers are kept: a default stands in for a failure worth retrying later."""
        return not self.defaulted

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "attempts": self.attempts,
            "defaulted": self.defaulted,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        return cls(
            label=data["label"],
            attempts=int(data.get("attempts", 1)),
            defaulted=bool(data.get("defaulted", False)),
            reason=data.get("reason"),
        )


class ClassifyResult(BaseModel):
    """The step's result, shown in the event's status.

    `cached` is true when this event caused no model call (a cache hit, or it shared the call
    of an identical event in flight at the same moment); `attempts` counts the model calls this
    event made (0 when cached). `defaulted` says the step's `default` was used and `reason` why.
    """

    label: Any
    output: str
    cached: bool
    defaulted: bool
    provider: str
    model: str | None
    attempts: int
    reason: str | None = None
