"""The shared cache: one Postgres table in the service's own database, used by every worker.

Single-flight across processes uses a pending row rather than an advisory lock held for the
length of the model call: a lock would pin one pooled connection per distinct request in
flight, so the pool size would cap how many model calls a worker can make at once. Instead:

1. Read the row. A live value is a hit. A live pending row (value NULL) means another worker
   is asking the model: poll (50 ms, doubling to 500 ms) until the value appears.
2. Otherwise claim the key: `INSERT ... ON CONFLICT DO UPDATE ... WHERE expires_at <= now()`
   writes a pending row whose `expires_at` is a lease. Postgres lets exactly one of several
   concurrent claimers insert or take over an expired row; the others get no row back and go
   to step 1. The claim's `created_at` is its token.
3. The owner calls the model, then stores the value (`expires_at` = now + ttl) only while its
   claim still stands. If the call fails, or only produced the default, the owner deletes its
   pending row and the waiters claim the key themselves; a crashed owner's lease just expires.

Within one process, identical requests first go through `SingleFlight`, so a process makes one
claim per key, and its waiters share the owner's result or failure.

The table comes from the service's migrations (`ingestlayer.migrations.migrate`); each cache
also runs them once before its first query, so a worker never finds the table missing. A
database that cannot be reached is a `RetryableError` (`cache_unavailable`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime

import asyncpg

from ingestlayer.classify.result import Outcome
from ingestlayer.classify.singleflight import SingleFlight
from ingestlayer.destinations.errors import RetryableError
from ingestlayer.migrations import migrate

__all__ = ["TABLE", "PostgresCache"]

TABLE = "ingestlayer_classify_cache"
POOL_MAX_SIZE = 5
POLL_FIRST = 0.05
POLL_MAX = 0.5
PURGE_EVERY = 600.0

log = logging.getLogger(__name__)
_DATABASE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

_READ_SQL = f"""
SELECT value::text AS value, expires_at > clock_timestamp() AS live FROM {TABLE} WHERE key = $1
"""
_CLAIM_SQL = f"""
INSERT INTO {TABLE} AS c (key, value, created_at, expires_at)
VALUES ($1, NULL, clock_timestamp(), clock_timestamp() + make_interval(secs => $2))
ON CONFLICT (key) DO UPDATE
   SET value = NULL, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
 WHERE c.expires_at <= clock_timestamp()
RETURNING created_at
"""
_STORE_SQL = f"""
UPDATE {TABLE}
   SET value = $3::jsonb, expires_at = clock_timestamp() + make_interval(secs => $4)
 WHERE key = $1 AND created_at = $2 AND value IS NULL
"""
_RELEASE_SQL = f"DELETE FROM {TABLE} WHERE key = $1 AND created_at = $2 AND value IS NULL"
_PURGE_SQL = f"""
DELETE FROM {TABLE} WHERE key IN (
    SELECT key FROM {TABLE} WHERE expires_at < clock_timestamp() - interval '1 minute' LIMIT 1000
)
"""


class PostgresCache:
    """One per DSN and event loop (a pool is bound to its loop); see `cache.cache_for`."""

    def __init__(self, dsn: str, *, pool_max_size: int = POOL_MAX_SIZE) -> None:
        self.dsn = dsn
        self.pool_max_size = pool_max_size
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._flight: SingleFlight[tuple[Outcome, bool]] = SingleFlight()
        self._last_purge = time.monotonic()

    async def get_or_compute(
        self,
        key: str,
        compute: Callable[[], Awaitable[Outcome]],
        *,
        ttl: float,
        lease: float,
    ) -> tuple[Outcome, bool]:
        """(outcome, shared): shared is True when this caller made no model call itself."""

        async def run() -> tuple[Outcome, bool]:
            return await self._claim_or_wait(key, compute, ttl=ttl, lease=lease)

        (outcome, from_cache), joined = await self._flight.do(key, run)
        return outcome, from_cache or joined

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 5)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pool.terminate()

    def terminate(self) -> None:
        """For a pool whose event loop is gone: drop its connections without awaiting."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()

    async def _claim_or_wait(
        self,
        key: str,
        compute: Callable[[], Awaitable[Outcome]],
        *,
        ttl: float,
        lease: float,
    ) -> tuple[Outcome, bool]:
        pool = await self._get_pool()
        delay = POLL_FIRST
        while True:
            with _database_errors():
                row = await pool.fetchrow(_READ_SQL, key)
                if row is not None and row["live"]:
                    if row["value"] is not None:
                        return Outcome.from_json(json.loads(row["value"])), True
                    await asyncio.sleep(delay)  # another worker is asking the model
                    delay = min(delay * 2, POLL_MAX)
                    continue
                token: datetime | None = await pool.fetchval(_CLAIM_SQL, key, lease)
            if token is not None:
                break
        try:
            outcome = await compute()
        except BaseException:
            with contextlib.suppress(Exception):
                await pool.execute(_RELEASE_SQL, key, token)
            raise
        # the answer is paid for: a failed write costs a later cache hit, not this event
        try:
            if outcome.cacheable:
                await pool.execute(_STORE_SQL, key, token, json.dumps(outcome.to_json()), ttl)
                await self._maybe_purge(pool)
            else:
                await pool.execute(_RELEASE_SQL, key, token)
        except _DATABASE_ERRORS as exc:
            log.warning(
                "classify cache: could not store an answer: %s: %s", type(exc).__name__, exc
            )
        return outcome, False

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._pool_lock:
            if self._pool is None:
                with _database_errors():
                    await migrate(self.dsn)
                    self._pool = await asyncpg.create_pool(
                        self.dsn,
                        min_size=0,
                        max_size=self.pool_max_size,
                        max_inactive_connection_lifetime=300,
                        server_settings={"application_name": "ingestlayer-classify-cache"},
                    )
            return self._pool

    async def _maybe_purge(self, pool: asyncpg.Pool) -> None:
        """Expired rows are overwritten on reuse; this keeps keys never seen again from piling up."""
        now = time.monotonic()
        if now - self._last_purge < PURGE_EVERY:
            return
        self._last_purge = now
        await pool.execute(_PURGE_SQL)


@contextlib.contextmanager
def _database_errors() -> Iterator[None]:
    try:
        yield
    except _DATABASE_ERRORS as exc:
        raise RetryableError(
            f"the classify cache database failed: {type(exc).__name__}: {exc}",
            code="cache_unavailable",
        ) from exc
