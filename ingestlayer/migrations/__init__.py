"""The service's own database schema: numbered `.sql` files, each applied once, in order.

`migrate(dsn)` is safe to run from every worker at start: a Postgres advisory lock serializes
runners, the `ingestlayer_migrations` table records what was applied, and each file runs in one
transaction with its record, so a failed file leaves nothing half applied. Tables are created in
the first schema of the connection's search_path (`?search_path=...` in the DSN picks another).
"""

from __future__ import annotations

import re
from importlib import resources

import asyncpg

__all__ = ["MIGRATIONS_TABLE", "available", "migrate"]

MIGRATIONS_TABLE = "ingestlayer_migrations"
LOCK_NAME = "ingestlayer_migrations"
_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def available() -> list[tuple[str, str]]:
    """(name, sql) of every migration shipped with the package, in order."""
    found = [
        (entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8"))
        for entry in resources.files(__name__).iterdir()
        if _FILE.match(entry.name)
    ]
    return sorted(found)


async def migrate(dsn: str) -> list[str]:
    """Apply the migrations this database has not seen; returns the names applied now."""
    conn = await asyncpg.connect(dsn, server_settings={"application_name": "ingestlayer-migrate"})
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", LOCK_NAME)
        try:
            return await _apply(conn)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", LOCK_NAME)
    finally:
        await conn.close()


async def _apply(conn: asyncpg.Connection) -> list[str]:
    await conn.execute(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
        " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    done = {row["name"] for row in await conn.fetch(f"SELECT name FROM {MIGRATIONS_TABLE}")}
    applied: list[str] = []
    for name, sql in available():
        if name in done:
            continue
        async with conn.transaction():
            await conn.execute(sql)
            await conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} (name) VALUES ($1)", name)
        applied.append(name)
    return applied
