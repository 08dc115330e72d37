"""The default cache: an in-process LRU with a TTL per entry, plus single-flight.

One per worker process, shared by every classify step (the key covers the step's provider,
model, labels and prompt). Bounded by entry count; the least recently used entry goes first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from ingestlayer.classify.result import Outcome
from ingestlayer.classify.singleflight import SingleFlight

__all__ = ["DEFAULT_MAX_ENTRIES", "MemoryCache"]

DEFAULT_MAX_ENTRIES = 10_000


class MemoryCache:
    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Outcome]] = OrderedDict()
        self._lock = threading.Lock()  # workers may run loops in several threads
        self._flight: SingleFlight[tuple[Outcome, bool]] = SingleFlight()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Outcome | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, outcome = entry
            if expires <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return outcome

    def put(self, key: str, outcome: Outcome, ttl: float) -> None:
        with self._lock:
            self._entries[key] = (self._clock() + ttl, outcome)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    async def get_or_compute(
        self,
        key: str,
        compute: Callable[[], Awaitable[Outcome]],
        *,
        ttl: float,
        lease: float,
    ) -> tuple[Outcome, bool]:
        """(outcome, shared): shared is True when this caller made no model call itself."""
        hit = self.get(key)
        if hit is not None:
            return hit, True

        async def run() -> tuple[Outcome, bool]:
            hit = self.get(key)  # a flight for this key may have finished just now
            if hit is not None:
                return hit, True
            outcome = await compute()
            if outcome.cacheable:
                self.put(key, outcome, ttl)
            return outcome, False

        (outcome, from_cache), joined = await self._flight.do(key, run)
        return outcome, from_cache or joined
