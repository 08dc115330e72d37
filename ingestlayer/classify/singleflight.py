"""Concurrent identical requests in one process share one in-flight call.

The first caller for a key starts the work as its own task; callers arriving while it runs
await the same task. Everyone gets its result, or its exception: a 429 or 5xx would hit the
waiters too, so they fail together and Temporal retries each on its own schedule (with the
provider's Retry-After) instead of stampeding the provider. Callers await the task through
`asyncio.shield`, so one caller being cancelled (an activity timeout) does not cancel the
work the others wait for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        # keyed by loop too: a task belongs to one event loop, and workers may run several
        self._tasks: dict[tuple[int, str], asyncio.Task[T]] = {}

    def in_flight(self) -> int:
        return sum(1 for task in self._tasks.values() if not task.done())

    async def do(self, key: str, work: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """(result, joined): joined is True when another caller's call produced the result."""
        loop = asyncio.get_running_loop()
        slot = (id(loop), key)
        task = self._tasks.get(slot)
        if task is not None and not task.done() and task.get_loop() is loop:
            return await asyncio.shield(task), True

        async def run() -> T:
            return await work()

        task = loop.create_task(run())
        self._tasks[slot] = task

        def finished(done: asyncio.Task[T]) -> None:
            if self._tasks.get(slot) is done:
                del self._tasks[slot]
            if not done.cancelled():
                done.exception()  # retrieved, so a failure nobody awaits is not logged as lost

        task.add_done_callback(finished)
        return await asyncio.shield(task), False
