"""Which cache a step uses, and the key identical requests share.

The key is the SHA-256 of the canonical JSON (sorted keys, compact) of everything that decides
the answer: provider, model and endpoint, output name, labels, the rendered prompt and the
model's input. Event ids and timestamps are not in it unless the step sends them to the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ingestlayer.classify.config import AnthropicModel, CacheConfig, ClassifyStep, OpenAIModel
from ingestlayer.classify.memory_cache import MemoryCache
from ingestlayer.classify.postgres_cache import PostgresCache
from ingestlayer.classify.request import ClassifyRequest
from ingestlayer.classify.result import Outcome
from ingestlayer.destinations.errors import PermanentError

__all__ = ["Cache", "cache_for", "cache_key", "close_caches", "memory_cache"]


class Cache(Protocol):
    async def get_or_compute(
        self,
        key: str,
        compute: Callable[[], Awaitable[Outcome]],
        *,
        ttl: float,
        lease: float,
    ) -> tuple[Outcome, bool]: ...


_memory = MemoryCache()
_postgres: dict[tuple[str, int], tuple[asyncio.AbstractEventLoop, PostgresCache]] = {}


def memory_cache() -> MemoryCache:
    """The process-wide in-memory cache (shared by all steps; the key tells them apart)."""
    return _memory


def cache_key(step: ClassifyStep, request: ClassifyRequest) -> str:
    model = step.model
    endpoint = model.base_url if isinstance(model, OpenAIModel | AnthropicModel) else None
    document: dict[str, Any] = {
        "provider": model.provider,
        "model": model.name,
        "endpoint": endpoint,
        "output": step.output,
        "labels": step.labels,
        "prompt": request.prompt,
        "input": request.input,
    }
    canonical = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def cache_for(config: CacheConfig, dsn: str | None) -> Cache:
    if config.backend == "memory":
        return _memory
    if not dsn:
        raise PermanentError(
            "the step asks for the postgres cache but the service has no database",
            code="no_database_url",
            hint="set the service's database_url, or use `cache: {backend: memory}`",
        )
    loop = asyncio.get_running_loop()
    slot = (dsn, id(loop))
    entry = _postgres.get(slot)
    if entry is None or entry[0] is not loop:
        entry = _postgres[slot] = (loop, PostgresCache(dsn))
    return entry[1]


async def close_caches() -> None:
    """Close this loop's Postgres caches (worker shutdown); drop those of closed loops."""
    loop = asyncio.get_running_loop()
    for slot, (owner, cache) in list(_postgres.items()):
        if owner is loop:
            del _postgres[slot]
            await cache.close()
        elif owner.is_closed():
            del _postgres[slot]
            with contextlib.suppress(Exception):
                cache.terminate()
