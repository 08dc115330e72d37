"""The Postgres adapter against the real database: rows as the user reads them back, errors as
the user sees them in the delivery status."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from ipaddress import IPv4Address
from typing import Any

import asyncpg
import pytest

from ingestlayer.destinations.base import DeliveryContext
from ingestlayer.destinations.errors import DeliveryError, PermanentError, RetryableError
from ingestlayer.destinations.postgres import PostgresDestination, close_pools
from ingestlayer.events import Event

pytestmark = pytest.mark.asyncio(loop_scope="session")

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
CTX = DeliveryContext(pipeline="p", destination="d")
WHEN = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="session")
async def schema() -> AsyncIterator[str]:
    name = f"ilt_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(ADMIN_DSN)
    await conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        await close_pools()
        await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
        await conn.close()


@pytest.fixture
async def db() -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def new_table(schema: str, db: asyncpg.Connection) -> Callable[..., Awaitable[str]]:
    """Create `schema.<name>` with the given column list; returns the name as config spells it."""

    async def create(columns: str, name: str | None = None) -> str:
        name = name or f"t_{secrets.token_hex(4)}"
        await db.execute(f'CREATE TABLE "{schema}"."{name}" ({columns})')
        return f"{schema}.{name}"

    return create


NewTable = Callable[..., Awaitable[str]]


def make_event(payload: dict[str, Any], labels: dict[str, Any] | None = None) -> Event:
    return Event(
        id=f"evt_{uuid.uuid4().hex}",
        type="user.signed_up",
        timestamp=WHEN,
        payload=payload,
        labels=labels or {},
    )


async def rows(db: asyncpg.Connection, table: str) -> list[asyncpg.Record]:
    schema, name = table.split(".")
    return await db.fetch(f'SELECT * FROM "{schema}"."{name}"')


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def fails(dest: PostgresDestination, event: Event) -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        await dest.deliver(event, CTX)
    return info.value


# --- mapping ------------------------------------------------------------------------


async def test_top_level_fields_map_to_same_named_columns(
    db: asyncpg.Connection, new_table: NewTable
) -> None:
    table = await new_table(
        'id text PRIMARY KEY, type text, "timestamp" timestamptz, email text, plan text, seats int'
    )
    event = make_event({"email": "ada@acme.com", "plan": "pro", "seats": "3", "unmapped": 1})
    result = await PostgresDestination(dsn=ADMIN_DSN, table=table).deliver(event, CTX)
    assert result == {
        "table": table,
        "inserted": True,
        "columns": ["id", "type", "timestamp", "email", "plan", "seats"],
    }
    [row] = await rows(db, table)
    assert dict(row) == {
        "id": event.id,
        "type": "user.signed_up",
        "timestamp": WHEN,
        "email": "ada@acme.com",
        "plan": "pro",
        "seats": 3,
    }


async def test_payload_jsonb_column_gets_the_whole_event_and_labels_map_by_name(
    db: asyncpg.Connection, new_table: NewTable
) -> None:
    table = await new_table("id text, urgency text, labels jsonb, payload jsonb")
    event = make_event({"urgency": "low", "body": "help"}, labels={"urgency": "critical"})
    await PostgresDestination(dsn=ADMIN_DSN, table=table).deliver(event, CTX)
    [row] = await rows(db, table)
    assert json.loads(row["payload"]) == event.body()
    assert json.loads(row["payload"])["payload"]["body"] == "help"
    assert row["urgency"] == "critical"  # a step's label wins over the raw payload field
    assert json.loads(row["labels"]) == {"urgency": "critical"}


async def test_explicit_payload_column_gets_the_whole_event(
    db: asyncpg.Connection, new_table: NewTable
) -> None:
    table = await new_table("event_id text, doc jsonb, payload jsonb")
    event = make_event({"email": "ada@acme.com"})
    dest = PostgresDestination(
        dsn=ADMIN_DSN, table=table, payload_column="doc", columns={"event_id": "$event.id"}
    )
    result = await dest.deliver(event, CTX)
    [row] = await rows(db, table)
    assert json.loads(row["doc"]) == event.body()
    # `payload` is now an ordinary column: it receives the event's payload field by name
    assert json.loads(row["payload"]) == {"email": "ada@acme.com"}
    assert row["event_id"] == event.id
    assert result["columns"] == ["event_id", "doc", "payload"]


async def test_column_templates_override_the_automatic_mapping(
    db: asyncpg.Connection, new_table: NewTable
) -> None:
    table = await new_table("id text, email text, domain text, summary text, seats int")
    event = make_event(
        {"email": "raw@x.y", "contact": {"email": "ada@acme.com"}, "plan": "pro", "n": "7"}
    )
    dest = PostgresDestination(
        dsn=ADMIN_DSN,
        table=table,
        columns={
            "email": "$event.contact.email",
            "domain": "acme.com",
            "summary": "[$event.plan] $event.contact.email",
            "seats": "$event.n",
        },
    )
    await dest.deliver(event, CTX)
    [row] = await rows(db, table)
    assert dict(row) == {
        "id": event.id,
        "email": "ada@acme.com",
        "domain": "acme.com",
        "summary": "[pro] ada@acme.com",
        "seats": 7,
    }


async def test_values_land_coerced_to_each_column_type(
    db: asyncpg.Connection, new_table: NewTable
) -> None:
    table = await new_table(
        "id text, small int2, big int8, price numeric(10,2), ratio real, score double precision, "
        "active boolean, seen_at timestamptz, local_at timestamp, day date, ref uuid, "
        "meta json, code char(3), name varchar(20), tags text[], counts int[], ip inet"
    )
    ref = uuid.uuid4()
    event = make_event(
        {
            "small": "12",
            "big": 2**40,
            "price": 19.99,
            "ratio": "0.5",
            "score": 7,
            "active": "yes",
            "seen_at": "2026-03-14T11:30:00+02:00",
            "local_at": 1773480600,
            "day": "2026-03-14T23:00:00Z",
            "ref": str(ref),
            "meta": {"a": [1, None]},
            "code": "EUR",
            "name": 42,
            "tags": ["a", "b"],
            "counts": ["1", 2],
            "ip": "10.0.0.1",
        }
    )
    await PostgresDestination(dsn=ADMIN_DSN, table=table).deliver(event, CTX)
    [row] = await rows(db, table)
    assert dict(row) == {
        "id": event.id,
        "small": 12,
        "big": 2**40,
        "price": Decimal("19.99"),
        "ratio": 0.5,
        "score": 7.0,
        "active": True,
        "seen_at": WHEN,
        "local_at": datetime(2026, 3, 14, 9, 30),
        "day": date(2026, 3, 14),
        "ref": ref,
        "meta": '{"a": [1, null]}',
        "code": "EUR",
        "name": "42",
        "tags": ["a", "b"],
        "counts": [1, 2],
        "ip": IPv4Address("10.0.0.1"),
    }


async def test_missing_values_keep_defaults_and_database_owned_columns_are_not_filled(
    db: asyncpg.Connection, new_table: NewTable
) -> None:
    table = await new_table(
        "n bigserial, id text, source text NOT NULL DEFAULT 'web', note text, "
        "seq int GENERATED ALWAYS AS IDENTITY, twice int GENERATED ALWAYS AS (n * 2) STORED"
    )
    # `n`, `seq` and `twice` are numbered or computed by the database: never filled from the event
    event = make_event({"note": None, "n": "not a number", "seq": "x", "twice": "y"})
    result = await PostgresDestination(dsn=ADMIN_DSN, table=table).deliver(event, CTX)
    assert result["columns"] == ["id"]
    [row] = await rows(db, table)
    assert (row["n"], row["source"], row["note"], row["seq"], row["twice"]) == (
        1,
        "web",
        None,
        1,
        2,
    )


async def test_case_sensitive_and_odd_identifiers_are_quoted(
    db: asyncpg.Connection, new_table: NewTable
) -> None:
    name = f"Signups_{secrets.token_hex(3)}"
    table = await new_table('"userId" text, "Plan" text, "we""ird" text', name=name)
    event = make_event({"userId": "u_1", "Plan": "pro", "plan": "ignored"})
    dest = PostgresDestination(dsn=ADMIN_DSN, table=table, columns={'we"ird': "$event.userId"})
    await dest.deliver(event, CTX)
    [row] = await rows(db, table)
    assert dict(row) == {"userId": "u_1", "Plan": "pro", 'we"ird': "u_1"}
    lowered = PostgresDestination(dsn=ADMIN_DSN, table=table.lower())
    assert (await fails(lowered, event)).code == "undefined_table"


# --- idempotency --------------------------------------------------------------------


async def test_redelivering_the_same_event_inserts_nothing_the_second_time(
    db: asyncpg.Connection, new_table: NewTable
) -> None:
    table = await new_table("id text PRIMARY KEY, email text, payload jsonb")
    dest = PostgresDestination(dsn=ADMIN_DSN, table=table)
    event = make_event({"email": "ada@acme.com"})
    first = await dest.deliver(event, CTX)
    second = await dest.deliver(event, CTX)
    assert first["inserted"] is True
    assert second == {"table": table, "inserted": False, "columns": ["id", "email", "payload"]}
    assert len(await rows(db, table)) == 1


async def test_a_unique_index_on_mapped_columns_also_deduplicates(
    db: asyncpg.Connection, new_table: NewTable
) -> None:
    table = await new_table("n bigserial PRIMARY KEY, event_id text UNIQUE, email text")
    dest = PostgresDestination(dsn=ADMIN_DSN, table=table, columns={"event_id": "$event.id"})
    event = make_event({"email": "ada@acme.com"})
    assert (await dest.deliver(event, CTX))["inserted"] is True
    assert (await dest.deliver(event, CTX))["inserted"] is False
    assert (await dest.deliver(make_event({"email": "bo@acme.com"}), CTX))["inserted"] is True
    assert [r["email"] for r in await rows(db, table)] == ["ada@acme.com", "bo@acme.com"]


async def test_without_a_unique_key_every_delivery_inserts(
    db: asyncpg.Connection, new_table: NewTable
) -> None:
    table = await new_table("email text, plan text")
    dest = PostgresDestination(dsn=ADMIN_DSN, table=table)
    event = make_event({"email": "ada@acme.com"})
    assert (await dest.deliver(event, CTX))["inserted"] is True
    assert (await dest.deliver(event, CTX))["inserted"] is True
    assert len(await rows(db, table)) == 2


async def test_a_column_dropped_after_the_table_was_cached_does_not_break_delivery(
    db: asyncpg.Connection, new_table: NewTable
) -> None:
    table = await new_table("id text PRIMARY KEY, email text, plan text")
    dest = PostgresDestination(dsn=ADMIN_DSN, table=table)
    await dest.deliver(make_event({"email": "a@x.y", "plan": "pro"}), CTX)
    await db.execute(f"ALTER TABLE {table} DROP COLUMN plan")
    result = await dest.deliver(make_event({"email": "b@x.y", "plan": "free"}), CTX)
    assert result["columns"] == ["id", "email"]
    assert len(await rows(db, table)) == 2


# --- permanent failures ---------------------------------------------------------------


async def test_undefined_table_is_permanent(schema: str) -> None:
    dest = PostgresDestination(dsn=ADMIN_DSN, table=f"{schema}.no_such_table")
    err = await fails(dest, make_event({"email": "a@x.y"}))
    assert isinstance(err, PermanentError)
    assert err.code == "undefined_table"
    assert f"{schema}.no_such_table" in err.message
    assert err.hint is not None and "never runs DDL" in err.hint


async def test_mapping_a_column_the_table_does_not_have_is_permanent(
    db: asyncpg.Connection, new_table: NewTable
) -> None:
    table = await new_table("id text, email text")
    dest = PostgresDestination(
        dsn=ADMIN_DSN, table=table, columns={"no_such_column": "$event.email"}
    )
    err = await fails(dest, make_event({"email": "a@x.y"}))
    assert isinstance(err, PermanentError)
    assert err.code == "undefined_column"
    assert "no_such_column" in err.message
    assert err.hint == f"columns of {table}: id, email"
    assert await rows(db, table) == []


async def test_a_value_that_cannot_be_coerced_is_permanent_and_names_column_and_type(
    db: asyncpg.Connection, new_table: NewTable
) -> None:
    table = await new_table("id text, seats int")
    err = await fails(
        PostgresDestination(dsn=ADMIN_DSN, table=table), make_event({"seats": "many"})
    )
    assert isinstance(err, PermanentError)
    assert err.code == "invalid_value"
    assert err.message == (
        "column seats (integer) cannot take the value from event field seats: "
        "'many' is not a number"
    )
    assert await rows(db, table) == []


async def test_database_constraint_and_data_errors_are_permanent(new_table: NewTable) -> None:
    table = await new_table("id text, email text NOT NULL, code varchar(2)")
    dest = PostgresDestination(dsn=ADMIN_DSN, table=table)
    err = await fails(dest, make_event({"code": "xx"}))
    assert isinstance(err, PermanentError)
    assert err.code == "constraint_violation"
    assert 'null value in column "email"' in err.message
    err = await fails(dest, make_event({"email": "a@x.y", "code": "toolong"}))
    assert isinstance(err, PermanentError)
    assert err.code == "invalid_data"
    assert "too long for type character varying(2)" in err.message


@pytest.fixture
async def read_only_role(schema: str, db: asyncpg.Connection) -> AsyncIterator[str]:
    role = f"ilt_ro_{secrets.token_hex(4)}"
    await db.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        yield role
    finally:
        await close_pools()
        await db.execute(f'DROP OWNED BY "{role}"')
        await db.execute(f'DROP ROLE "{role}"')


async def test_a_user_without_insert_privilege_gets_permission_denied(
    schema: str, db: asyncpg.Connection, new_table: NewTable, read_only_role: str
) -> None:
    table = await new_table("id text, email text")
    await db.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{read_only_role}"')
    await db.execute(f'GRANT SELECT ON {table} TO "{read_only_role}"')
    dsn = f"postgresql://{read_only_role}@127.0.0.1:5432/test"
    err = await fails(PostgresDestination(dsn=dsn, table=table), make_event({"email": "a@x.y"}))
    assert isinstance(err, PermanentError)
    assert err.code == "permission_denied"
    assert f"permission denied for table {table.split('.')[1]}" in err.message
    assert err.hint is not None and f"grant INSERT on {table}" in err.hint
    assert await rows(db, table) == []


async def test_a_user_without_schema_usage_gets_permission_denied(
    new_table: NewTable, read_only_role: str
) -> None:
    table = await new_table("id text, email text")
    dsn = f"postgresql://{read_only_role}@127.0.0.1:5432/test"
    err = await fails(PostgresDestination(dsn=dsn, table=table), make_event({"email": "a@x.y"}))
    assert isinstance(err, PermanentError)
    assert err.code == "permission_denied"
    assert "permission denied for schema" in err.message


async def test_an_unknown_login_is_permanent_with_a_hint_and_no_password(schema: str) -> None:
    password = "s3cr3t-Pa55word"
    dsn = f"postgresql://ilt_nobody_{secrets.token_hex(3)}:{password}@127.0.0.1:5432/test"
    err = await fails(PostgresDestination(dsn=dsn, table=f"{schema}.t"), make_event({}))
    assert isinstance(err, PermanentError)
    assert err.code == "authentication_failed"
    assert "does not exist" in err.message
    assert err.hint == "check the user, password, host and database in the dsn setting"
    assert password not in f"{err.message} {err.hint} {err!r}"


# --- retryable failures ---------------------------------------------------------------


async def test_a_refused_connection_is_retryable(schema: str) -> None:
    port = closed_port()
    dest = PostgresDestination(dsn=f"postgresql://postgres@127.0.0.1:{port}/test", table="t")
    err = await fails(dest, make_event({}))
    assert isinstance(err, RetryableError)
    assert err.code == "connection_error"
    assert f"could not reach Postgres at 127.0.0.1:{port}/test" in err.message


async def test_a_server_that_never_answers_times_out_as_retryable() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept, never speak
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        dest = PostgresDestination(
            dsn=f"postgresql://postgres@127.0.0.1:{port}/test", table="t", timeout=0.3
        )
        err = await fails(dest, make_event({}))
    finally:
        server.close()
    assert isinstance(err, RetryableError)
    assert err.code == "timeout"
    assert err.message == f"no answer from Postgres at 127.0.0.1:{port}/test within 0.3 s"


async def test_the_password_never_appears_in_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    password = "hunter2-Sup3rSecret"
    dsn = f"postgresql://warehouse:{password}@127.0.0.1:{closed_port()}/test"
    monkeypatch.setenv("IL_TEST_SECRET_DSN", dsn)
    err = await fails(PostgresDestination(dsn="${IL_TEST_SECRET_DSN}", table="t"), make_event({}))
    assert isinstance(err, RetryableError)
    seen = f"{err.message} {err!r} {err.__cause__!r} {err.__context__!r}"
    assert password not in seen
    assert "warehouse" not in err.message


# --- configuration --------------------------------------------------------------------


async def test_dsn_given_as_env_reference_is_resolved_in_the_worker(
    db: asyncpg.Connection, new_table: NewTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = await new_table("id text, email text")
    dest = PostgresDestination(dsn="${IL_TEST_WAREHOUSE_DSN}", table=table)
    monkeypatch.delenv("IL_TEST_WAREHOUSE_DSN", raising=False)
    err = await fails(dest, make_event({"email": "a@x.y"}))
    assert isinstance(err, PermanentError)
    assert err.code == "missing_secret"
    monkeypatch.setenv("IL_TEST_WAREHOUSE_DSN", ADMIN_DSN)
    assert (await dest.deliver(make_event({"email": "a@x.y"}), CTX))["inserted"] is True
    assert [r["email"] for r in await rows(db, table)] == ["a@x.y"]


async def test_an_env_reference_to_something_else_than_postgres_is_permanent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IL_TEST_BAD_DSN", "mysql://u:topsecret@db/x")
    err = await fails(PostgresDestination(dsn="${IL_TEST_BAD_DSN}", table="t"), make_event({}))
    assert isinstance(err, PermanentError)
    assert err.code == "invalid_dsn"
    assert err.hint == "check the user, password, host and database in IL_TEST_BAD_DSN"
    assert "topsecret" not in err.message


async def test_delivering_from_a_second_event_loop_uses_its_own_pool(
    db: asyncpg.Connection, new_table: NewTable
) -> None:
    table = await new_table("id text, email text")
    dest = PostgresDestination(dsn=ADMIN_DSN, table=table)
    await dest.deliver(make_event({"email": "a@x.y"}), CTX)  # pool bound to the session loop

    async def in_other_loop() -> dict[str, Any]:
        try:
            return await dest.deliver(make_event({"email": "b@x.y"}), CTX)
        finally:
            await close_pools()

    result = await asyncio.to_thread(asyncio.run, in_other_loop())
    assert result["inserted"] is True
    await dest.deliver(make_event({"email": "c@x.y"}), CTX)  # the session loop's pool still works
    assert sorted(r["email"] for r in await rows(db, table)) == ["a@x.y", "b@x.y", "c@x.y"]
