"""Postgres destination: one INSERT per event into a table the user already has.

ingestlayer never runs DDL on the user's database. It reads the table's columns from the
catalogue (cached briefly per process), maps same-named event fields to them, puts the whole
event into a json(b) column, renders the `columns` overrides, coerces every value to its
column's type, and inserts with bind parameters. When a primary key or unique index is fully
covered by the inserted columns, `ON CONFLICT DO NOTHING` makes a retried delivery a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import asyncpg
from pydantic import ConfigDict, Field, field_validator

from ingestlayer import secrets
from ingestlayer.destinations.base import DeliveryContext, Destination
from ingestlayer.destinations.errors import DeliveryError, PermanentError, RetryableError
from ingestlayer.destinations.pg_types import CoercionError, Column, coerce
from ingestlayer.events import Event
from ingestlayer.templates import TemplateError, render

__all__ = ["PostgresDestination", "close_pools"]

METADATA_TTL = 60.0
POOL_MAX_SIZE = 10
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_$]{0,62}"
_TABLE_RE = re.compile(rf"{_IDENTIFIER}(\.{_IDENTIFIER})?")

_RELATION_SQL = """
SELECT c.oid, c.relkind::text AS relkind FROM pg_class c WHERE c.oid = to_regclass($1)
"""
_COLUMNS_SQL = """
SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type,
       b.typname::text AS base, b.typcategory::text AS category, e.typname::text AS element,
       (a.attgenerated <> '' OR a.attidentity <> ''
        OR coalesce(pg_get_expr(d.adbin, d.adrelid), '') LIKE 'nextval(%') AS db_owned
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_type e ON e.oid = b.typelem AND b.typcategory = 'A'
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
# Usable conflict targets: immediate, non-partial unique indexes on plain columns, PK first.
_KEYS_SQL = """
SELECT ARRAY(SELECT a.attname::text
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE k.n <= i.indnkeyatts ORDER BY k.n) AS columns
FROM pg_index i
WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid AND i.indimmediate
  AND i.indpred IS NULL AND i.indexprs IS NULL
ORDER BY i.indisprimary DESC, i.indexrelid
"""
_INSERTABLE_KINDS = ("r", "p", "v", "f")

# SQLSTATE class → code. Permanent: retrying the same insert cannot succeed.
_PERMANENT_CLASSES = {
    "0A": "unsupported",
    "22": "invalid_data",
    "23": "constraint_violation",
    "3D": "undefined_database",
    "3F": "undefined_schema",
    "42": "rejected_by_database",
    "44": "constraint_violation",
}


@dataclass(frozen=True)
class TableInfo:
    columns: dict[str, Column]
    keys: tuple[tuple[str, ...], ...]


_pools: dict[tuple[str, int], tuple[asyncio.AbstractEventLoop, asyncpg.Pool]] = {}
_locks: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = {}
_tables: dict[tuple[str, str], tuple[float, TableInfo]] = {}


class PostgresDestination(Destination):
    # a literal dsn may hold a password: keep config inputs out of validation errors and repr
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    kind: ClassVar[str] = "postgres"

    dsn: str = Field(repr=False)
    table: str
    payload_column: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=10.0, gt=0, le=300)

    @field_validator("dsn")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if "${" not in value and not _is_postgres_url(value):
            raise ValueError("dsn must be a postgresql:// URL or a ${ENV} reference to one")
        return value

    @field_validator("table")
    @classmethod
    def _table_name(cls, value: str) -> str:
        if not _TABLE_RE.fullmatch(value):
            raise ValueError(
                "table must be `name` or `schema.name`: letters, digits, _ and $, "
                "starting with a letter or _, at most 63 characters each"
            )
        return value

    @field_validator("payload_column")
    @classmethod
    def _payload_column_name(cls, value: str | None) -> str | None:
        if value is not None:
            _check_column_name(value)
        return value

    @field_validator("columns")
    @classmethod
    def _column_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            _check_column_name(name)
        return value

    async def deliver(self, event: Event, ctx: DeliveryContext) -> dict[str, Any]:
        dsn = secrets.resolve(self.dsn)
        if not _is_postgres_url(dsn):
            raise PermanentError(
                "the Postgres dsn is not a postgresql:// URL",
                code="invalid_dsn",
                hint=self._dsn_hint(),
            )
        where = _where(dsn)
        try:
            async with asyncio.timeout(self.timeout):
                return await self._deliver(dsn, event)
        except DeliveryError:
            raise
        except TimeoutError:
            raise RetryableError(
                f"no answer from Postgres at {where} within {self.timeout:g} s", code="timeout"
            ) from None
        except asyncpg.PostgresError as exc:
            raise self._error_for(exc, dsn) from None
        except (OSError, asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError) as exc:
            detail = _scrub(str(exc), dsn)[:200]
            raise RetryableError(
                f"could not reach Postgres at {where}: {type(exc).__name__}: {detail}",
                code="connection_error",
            ) from None

    async def _deliver(self, dsn: str, event: Event) -> dict[str, Any]:
        pool = await _pool(dsn)
        try:
            conn = await pool.acquire()
        except ValueError:  # asyncpg parses the DSN on first connect; its text may quote it
            raise PermanentError(
                "the Postgres dsn could not be parsed", code="invalid_dsn", hint=self._dsn_hint()
            ) from None
        try:
            cache_key = (_dsn_key(dsn), self.table)
            for refresh in (False, True):
                info, cached = await _table_info(conn, cache_key, self.table, refresh=refresh)
                names, values, casts = self._row(event, info)
                key = next((k for k in info.keys if set(k) <= set(names)), None)
                sql = _insert_sql(self.table, names, casts, key)
                try:
                    status = await conn.execute(sql, *values)
                except asyncpg.PostgresError as exc:
                    _tables.pop(cache_key, None)
                    # a cached description may be stale (column dropped, type or key changed)
                    if cached and (exc.sqlstate or "")[:2] in ("22", "42", "0A"):
                        continue
                    raise
                inserted = status.split()[-1] != "0"
                return {"table": self.table, "inserted": inserted, "columns": names}
            raise AssertionError("unreachable")
        finally:
            await pool.release(conn)

    def _row(self, event: Event, info: TableInfo) -> tuple[list[str], list[Any], list[str | None]]:
        """Column names (table order), coerced values and text casts for types coerced as text."""
        columns = info.columns
        missing = [n for n in [self.payload_column, *self.columns] if n and n not in columns]
        if missing:
            raise PermanentError(
                f"table {self.table} has no column {', '.join(missing)}",
                code="undefined_column",
                hint=f"columns of {self.table}: {', '.join(list(columns)[:30])}",
            )
        fields = event.fields()
        target = self.payload_column
        if target is None and "payload" in columns and columns["payload"].is_json:
            target = "payload"
        chosen: dict[str, tuple[Any, str]] = {
            name: (value, f"event field {name}")
            for name, value in fields.items()
            if name in columns and not columns[name].db_owned and name != target
        }
        if target is not None:
            chosen[target] = (event.body(), "the whole event")
        for name, template in self.columns.items():
            try:
                chosen[name] = (render(template, fields), f"columns.{name}")
            except TemplateError as exc:
                raise PermanentError(f"columns.{name}: {exc}", code=exc.code) from None
        names: list[str] = []
        values: list[Any] = []
        casts: list[str | None] = []
        for name, column in columns.items():
            if name not in chosen or chosen[name][0] is None:
                continue  # no value: leave the column out so its default applies
            value, source = chosen[name]
            try:
                values.append(coerce(value, column))
            except CoercionError as exc:
                raise PermanentError(
                    f"column {name} ({column.type}) cannot take the value from {source}: {exc}",
                    code="invalid_value",
                    hint=f"fix the value at its source, map {name} to another field in "
                    "`columns`, or change the column's type",
                ) from None
            names.append(name)
            casts.append(None if column.native else column.type)
        if not names:
            raise PermanentError(
                f"no event field matches a column of {self.table}",
                code="no_columns",
                hint="name columns after top-level event fields, or map them in `columns`",
            )
        return names, values, casts

    def _error_for(self, exc: asyncpg.PostgresError, dsn: str) -> DeliveryError:
        state = exc.sqlstate or ""
        message = _scrub(str(exc), dsn)
        if isinstance(exc, asyncpg.InvalidCachedStatementError):
            return RetryableError(f"Postgres: {message}", code="database_unavailable")
        if state == "42P01":
            return PermanentError(
                f"table {self.table} does not exist: {message}",
                code="undefined_table",
                hint="create the table first; ingestlayer never runs DDL on your database",
            )
        if state == "42703":
            return PermanentError(f"Postgres: {message}", code="undefined_column")
        if state == "42501":
            return PermanentError(
                f"Postgres: {message}",
                code="permission_denied",
                hint=f"grant INSERT on {self.table} (and USAGE on its schema) to the DSN's user",
            )
        if state.startswith("28"):
            return PermanentError(
                f"Postgres refused the login: {message}",
                code="authentication_failed",
                hint=self._dsn_hint(),
            )
        code = _PERMANENT_CLASSES.get(state[:2])
        if code is not None:
            return PermanentError(
                f"Postgres rejected the insert into {self.table}: {message}", code=code
            )
        kind = "connection_error" if state.startswith("08") else "database_unavailable"
        return RetryableError(f"Postgres at {_where(dsn)}: {message}", code=kind)

    def _dsn_hint(self) -> str:
        names = secrets.references(self.dsn)
        place = " and ".join(names) if names else "the dsn setting"
        return f"check the user, password, host and database in {place}"


def _check_column_name(name: str) -> None:
    if not name or len(name.encode()) > 63 or "\x00" in name:
        raise ValueError(f"{name!r} is not a column name (1-63 bytes)")


def _is_postgres_url(value: str) -> bool:
    return value.startswith(("postgresql://", "postgres://"))


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _qualified(table: str) -> str:
    return ".".join(_quote(part) for part in table.split("."))


def _insert_sql(
    table: str, names: list[str], casts: list[str | None], key: tuple[str, ...] | None
) -> str:
    params = ", ".join(
        f"${i}" if cast is None else f"${i}::text::{cast}"  # cast: format_type() output
        for i, cast in enumerate(casts, start=1)
    )
    sql = f"INSERT INTO {_qualified(table)} ({', '.join(map(_quote, names))}) VALUES ({params})"
    if key:
        sql += f" ON CONFLICT ({', '.join(map(_quote, key))}) DO NOTHING"
    return sql


async def _table_info(
    conn: asyncpg.Connection, cache_key: tuple[str, str], table: str, *, refresh: bool
) -> tuple[TableInfo, bool]:
    """The table's description and whether it came from the cache."""
    hit = _tables.get(cache_key)
    if hit is not None and not refresh and hit[0] > time.monotonic():
        return hit[1], True
    relation = await conn.fetchrow(_RELATION_SQL, _qualified(table))
    if relation is None or relation["relkind"] not in _INSERTABLE_KINDS:
        raise PermanentError(
            f"table {table} does not exist or is not visible to the DSN's user",
            code="undefined_table",
            hint="create the table first (ingestlayer never runs DDL on your database); "
            "names are case-sensitive and a name without a schema follows the search_path",
        )
    rows = await conn.fetch(_COLUMNS_SQL, relation["oid"])
    keys = await conn.fetch(_KEYS_SQL, relation["oid"])
    info = TableInfo(
        columns={row["name"]: Column(**dict(row)) for row in rows},
        keys=tuple(tuple(row["columns"]) for row in keys),
    )
    _tables[cache_key] = (time.monotonic() + METADATA_TTL, info)
    return info, False


def _dsn_key(dsn: str) -> str:
    return hashlib.sha256(dsn.encode()).hexdigest()[:24]


async def _pool(dsn: str) -> asyncpg.Pool:
    """One pool per DSN and event loop; a pool cannot be used from another loop."""
    loop = asyncio.get_running_loop()
    key = (_dsn_key(dsn), id(loop))
    entry = _pools.get(key)
    if entry is not None and entry[0] is loop and not entry[1].is_closing():
        return entry[1]
    lock_entry = _locks.get(id(loop))
    if lock_entry is None or lock_entry[0] is not loop:
        lock_entry = _locks[id(loop)] = (loop, asyncio.Lock())
    async with lock_entry[1]:
        entry = _pools.get(key)
        if entry is None or entry[0] is not loop or entry[1].is_closing():
            pool = await asyncpg.create_pool(
                dsn,
                min_size=0,
                max_size=POOL_MAX_SIZE,
                max_inactive_connection_lifetime=300,
                server_settings={"application_name": "ingestlayer"},
            )
            entry = _pools[key] = (loop, pool)
        return entry[1]


async def close_pools() -> None:
    """Close this loop's pools (worker shutdown); drop those of loops already closed."""
    loop = asyncio.get_running_loop()
    for key, (owner, pool) in list(_pools.items()):
        if owner is loop:
            del _pools[key]
            try:
                await asyncio.wait_for(pool.close(), 5)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pool.terminate()
        elif owner.is_closed():
            del _pools[key]
            with contextlib.suppress(Exception):
                pool.terminate()
    _locks.pop(id(loop), None)
    _tables.clear()


def _where(dsn: str) -> str:
    """host:port/database for messages; never the user or password."""
    try:
        parts = urlsplit(dsn)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "the configured host"
    database = parts.path.lstrip("/")
    return f"{host}:{port}/{database}" if database else f"{host}:{port}"


def _scrub(text: str, dsn: str) -> str:
    """Remove the DSN and its password from a message that may have quoted them."""
    hidden = {dsn}
    hidden.update(p for pw in secrets.dsn_passwords(dsn) for p in (pw, unquote(pw)))
    return secrets.scrub(text, hidden)
