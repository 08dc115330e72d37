"""JSON event values coerced to Postgres column types, and the config checks done at load."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from ingestlayer.destinations.pg_types import CoercionError, Column, coerce
from ingestlayer.destinations.postgres import PostgresDestination


def col(
    base: str, type_: str | None = None, category: str = "", element: str | None = None
) -> Column:
    return Column(name="c", type=type_ or base, base=base, category=category, element=element)


TEXT = col("text", category="S")
INT2, INT4, INT8 = col("int2", "smallint"), col("int4", "integer"), col("int8", "bigint")
NUMERIC = col("numeric", "numeric(10,2)")
FLOAT4, FLOAT8 = col("float4", "real"), col("float8", "double precision")
BOOL = col("bool", "boolean")
TSTZ = col("timestamptz", "timestamp with time zone")
TS = col("timestamp", "timestamp without time zone")
DATE = col("date")
UUID = col("uuid")
JSONB, JSON = col("jsonb"), col("json")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ada@acme.com", "ada@acme.com"),
        (3, "3"),
        (2.5, "2.5"),
        (True, "true"),
        ({"a": 1}, '{"a": 1}'),
        (["x", "é"], '["x", "é"]'),
    ],
)
def test_text_columns_take_strings_and_render_other_values_as_text(
    value: Any, expected: str
) -> None:
    assert coerce(value, TEXT) == expected
    assert coerce(value, col("varchar", "character varying(20)", "S")) == expected
    assert coerce(value, col("bpchar", "character(3)", "S")) == expected


def test_enum_columns_take_the_label_as_text() -> None:
    assert coerce("pro", col("plan_tier", "plan_tier", "E")) == "pro"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), ("3", 3), (" -42 ", -42), (3.0, 3), ("1e3", 1000), (Decimal("7"), 7)],
)
def test_integer_columns_take_whole_numbers_and_numeric_strings(value: Any, expected: int) -> None:
    assert coerce(value, INT4) == expected


@pytest.mark.parametrize(
    ("value", "column", "reason"),
    [
        ("abc", INT4, "'abc' is not a number"),
        (3.5, INT4, "3.5 is not a whole number"),
        ("3.5", INT8, "'3.5' is not a whole number"),
        (True, INT4, "True is a boolean, not an integer"),
        (40000, INT2, "40000 is out of range for smallint"),
        (2**31, INT4, "2147483648 is out of range for integer"),
        (2**63, INT8, "out of range for bigint"),
        ("1e999999999", INT8, "out of range for bigint"),
        ({"n": 1}, INT4, "expected a whole number, got an object"),
        ("NaN", INT4, "is not a finite number"),
    ],
)
def test_integer_columns_reject_what_is_not_a_whole_number_in_range(
    value: Any, column: Column, reason: str
) -> None:
    with pytest.raises(CoercionError, match=re.escape(reason)):
        coerce(value, column)


def test_integer_range_edges_are_accepted() -> None:
    assert coerce(-(2**15), INT2) == -32768
    assert coerce(2**15 - 1, INT2) == 32767
    assert coerce(str(2**63 - 1), INT8) == 2**63 - 1


def test_numeric_keeps_decimal_digits_exactly() -> None:
    assert coerce(0.1, NUMERIC) == Decimal("0.1")
    assert coerce("19.99", NUMERIC) == Decimal("19.99")
    assert coerce(42, NUMERIC) == Decimal(42)


@pytest.mark.parametrize(
    ("value", "reason"),
    [("ten", "not a number"), (False, "got a boolean"), ("Infinity", "not a finite number")],
)
def test_numeric_rejects_non_numbers(value: Any, reason: str) -> None:
    with pytest.raises(CoercionError, match=reason):
        coerce(value, NUMERIC)


def test_float_columns_take_numbers_and_numeric_strings() -> None:
    assert coerce(1, FLOAT8) == 1.0
    assert coerce("2.5", FLOAT4) == 2.5
    with pytest.raises(CoercionError, match="'fast' is not a number"):
        coerce("fast", FLOAT8)
    with pytest.raises(CoercionError, match="got a boolean"):
        coerce(True, FLOAT8)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("NO", False),
        ("on", True),
        ("0", False),
        (1, True),
        (0, False),
    ],
)
def test_boolean_columns_take_booleans_and_the_usual_words(value: Any, expected: bool) -> None:
    assert coerce(value, BOOL) is expected


@pytest.mark.parametrize("value", ["maybe", 2, 0.5, None, []])
def test_boolean_columns_reject_anything_else(value: Any) -> None:
    with pytest.raises(CoercionError, match="is not a boolean"):
        coerce(value, BOOL)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-14T09:30:00Z", datetime(2026, 3, 14, 9, 30, tzinfo=UTC)),
        ("2026-03-14T11:30:00+02:00", datetime(2026, 3, 14, 9, 30, tzinfo=UTC)),
        ("2026-03-14 09:30:00.250Z", datetime(2026, 3, 14, 9, 30, 0, 250000, tzinfo=UTC)),
        ("2026-03-14T09:30:00", datetime(2026, 3, 14, 9, 30, tzinfo=UTC)),
        ("2026-03-14", datetime(2026, 3, 14, tzinfo=UTC)),
        (1773480600, datetime(2026, 3, 14, 9, 30, tzinfo=UTC)),
        (1773480600.5, datetime(2026, 3, 14, 9, 30, 0, 500000, tzinfo=UTC)),
    ],
)
def test_timestamptz_takes_iso_8601_or_unix_seconds(value: Any, expected: datetime) -> None:
    result = coerce(value, TSTZ)
    assert result == expected
    assert result.tzinfo is not None  # never left to the database session's time zone


def test_timestamp_without_zone_stores_utc_wall_clock_time() -> None:
    assert coerce("2026-03-14T11:30:00+02:00", TS) == datetime(2026, 3, 14, 9, 30)
    assert coerce("2026-03-14T09:30:00", TS) == datetime(2026, 3, 14, 9, 30)
    assert coerce(1773480600, TS) == datetime(2026, 3, 14, 9, 30)
    assert coerce(1773480600, TS).tzinfo is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("yesterday", "'yesterday' is not an ISO-8601 timestamp"),
        ("2026-13-01T00:00:00Z", "is not an ISO-8601 timestamp"),
        (1773480600000, "milliseconds\\? divide by 1000"),
        (True, "is a boolean, not a timestamp"),
        ({"at": 1}, "expected an ISO-8601 string or unix seconds, got an object"),
    ],
)
def test_timestamps_reject_unparseable_values(value: Any, reason: str) -> None:
    with pytest.raises(CoercionError, match=reason):
        coerce(value, TSTZ)


def test_date_columns_take_dates_timestamps_and_unix_seconds() -> None:
    assert coerce("2026-03-14", DATE) == date(2026, 3, 14)
    assert coerce("2026-03-14T23:30:00-05:00", DATE) == date(2026, 3, 14)
    assert coerce(1773480600, DATE) == date(2026, 3, 14)
    with pytest.raises(CoercionError, match="'14/03/2026' is not an ISO-8601 date"):
        coerce("14/03/2026", DATE)


def test_uuid_columns_take_uuid_strings() -> None:
    value = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
    assert coerce(value, UUID) == uuid.UUID(value)
    with pytest.raises(CoercionError, match="'evt_123' is not a UUID"):
        coerce("evt_123", UUID)
    with pytest.raises(CoercionError, match="expected a UUID string, got a int"):
        coerce(123, UUID)


@pytest.mark.parametrize("value", [{"a": [1, 2], "b": None}, [1, "x"], "plain", 3, True])
def test_json_columns_take_any_json_value_as_its_json_text(value: Any) -> None:
    assert json.loads(coerce(value, JSONB)) == value
    assert json.loads(coerce(value, JSON)) == value


def test_json_columns_reject_values_json_cannot_represent() -> None:
    with pytest.raises(CoercionError, match="not representable as JSON"):
        coerce({"x": float("nan")}, JSONB)


def test_arrays_coerce_each_element_and_keep_nulls() -> None:
    ints = col("_int4", "integer[]", "A", element="int4")
    assert coerce(["1", 2, None], ints) == [1, 2, None]
    with pytest.raises(CoercionError, match="'x' is not a number"):
        coerce([1, "x"], ints)
    with pytest.raises(CoercionError, match="expected a list, got a string"):
        coerce("1,2", ints)


def test_types_without_a_rule_are_sent_as_text_for_the_server_to_parse() -> None:
    inet = col("inet", category="I")
    assert not inet.native
    assert coerce("10.0.0.1", inet) == "10.0.0.1"
    assert coerce({"a": 1}, col("hstore_like", "public.thing")) == '{"a": 1}'
    assert coerce(False, col("interval", category="T")) == "false"


def test_long_values_are_shortened_in_the_reason() -> None:
    with pytest.raises(CoercionError) as info:
        coerce("x" * 500, INT4)
    assert len(str(info.value)) < 80
    assert "…" in str(info.value)


# --- config checked at load ---------------------------------------------------------


@pytest.mark.parametrize("table", ["signups", "events.signups", "_a.b$1", "Events.Signups"])
def test_table_accepts_name_or_schema_dot_name(table: str) -> None:
    dest = PostgresDestination(dsn="${WAREHOUSE_DSN}", table=table)
    assert dest.table == table
    assert dest.kind == "postgres"
    assert dest.payload_column is None
    assert dest.columns == {}
    assert dest.timeout == 10.0


@pytest.mark.parametrize(
    "table", ["", "a.b.c", "events.", "1table", 'x"; DROP TABLE y; --', "a b", "x" * 64]
)
def test_table_with_another_shape_fails_at_load(table: str) -> None:
    with pytest.raises(ValidationError, match=re.escape("table must be `name` or `schema.name`")):
        PostgresDestination(dsn="${WAREHOUSE_DSN}", table=table)


def test_a_literal_dsn_never_appears_in_validation_errors_or_repr() -> None:
    with pytest.raises(ValidationError) as info:
        PostgresDestination(dsn="mysql://bob:hunter2@db/x", table="t")
    assert "dsn must be a postgresql:// URL" in str(info.value)
    assert "hunter2" not in str(info.value)
    dest = PostgresDestination(dsn="postgresql://bob:hunter2@db/x", table="t")
    assert "hunter2" not in repr(dest)


def test_column_names_in_config_must_be_real_identifiers() -> None:
    with pytest.raises(ValidationError, match="is not a column name"):
        PostgresDestination(dsn="${D}", table="t", columns={"": "$event.id"})
    with pytest.raises(ValidationError, match="is not a column name"):
        PostgresDestination(dsn="${D}", table="t", payload_column="x" * 64)
    with pytest.raises(ValidationError):
        PostgresDestination(dsn="${D}", table="t", timeout=0)


def test_columns_from_catalogue_know_whether_they_are_json() -> None:
    assert JSONB.is_json and JSON.is_json
    assert not TEXT.is_json
