"""The one interface every provider implements, and what it may raise besides the shared errors."""

from __future__ import annotations

from typing import Any, Protocol

from ingestlayer.classify.request import ClassifyRequest

__all__ = ["Abstain", "Provider"]


class Provider(Protocol):
    """Answers one request with a candidate label.

    `complete` returns the label itself (already taken out of any `{"<output>": ...}` wrapper),
    which the caller then checks against the labels. It raises `InvalidAnswer` for an answer it
    cannot even read (malformed JSON, a refusal: the caller may ask again), `Abstain` when it has
    no label for this event (the caller uses `default`), and the shared `RetryableError`,
    `RateLimitedError` and `PermanentError` for everything that went wrong on the way.
    """

    kind: str

    async def complete(self, request: ClassifyRequest) -> Any: ...


class Abstain(Exception):
    """The provider has no label for this event (no rule matched, the callable returned None)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
