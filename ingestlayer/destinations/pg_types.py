"""Turning JSON event values into what a Postgres column of a given type accepts.

Events arrive as JSON, so a value is a str, number, bool, None, dict or list; the column's
type comes from the catalogue. Coercion happens here, before the INSERT, so a value that
cannot fit fails with the column, the type and the reason instead of a bare SQLSTATE.
Types without a rule here are sent as text and cast by the server (`$n::text::<type>`),
which runs the type's own input function (inet, interval, time, enums of other schemas…).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ingestlayer.destinations.values import as_bool

__all__ = ["CoercionError", "Column", "coerce", "show", "to_text"]

_INT_RANGES = {
    "int2": ("smallint", 2**15),
    "int4": ("integer", 2**31),
    "int8": ("bigint", 2**63),
}
_NUMERIC_MAX_DIGITS = 131072  # digits before the decimal point numeric can hold
_UNIX_MS_THRESHOLD = 1e11  # unix seconds pass this in the year 5138; milliseconds did in 1973


class CoercionError(ValueError):
    """The reason a value does not fit a column type, phrased for the user."""


@dataclass(frozen=True)
class Column:
    """One column as the catalogue describes it.

    `type` is `format_type()` (what the user wrote, also valid SQL for a cast); `base` is the
    base type's `typname` (through one domain level); `category` is `typcategory`; `element`
    is the element's `typname` for arrays. `db_owned` marks identity, serial and generated
    columns, which the automatic mapping never fills.
    """

    name: str
    type: str
    base: str
    category: str = ""
    element: str | None = None
    db_owned: bool = False

    @property
    def is_json(self) -> bool:
        return self.base in ("json", "jsonb")

    @property
    def native(self) -> bool:
        """True when `coerce` produces a value asyncpg encodes itself (no text cast needed)."""
        if self.category == "A":
            return self.element is not None and _native_base(self.element, "")
        return _native_base(self.base, self.category)


def coerce(value: Any, column: Column) -> Any:
    """A Python value asyncpg can bind for `column`, or CoercionError saying why not."""
    if column.category == "A" and column.element is not None and _native_base(column.element, ""):
        if not isinstance(value, list):
            raise CoercionError(f"expected a list, got {_kind(value)}")
        return [None if item is None else _coerce_base(item, column.element, "") for item in value]
    if column.native:
        return _coerce_base(value, column.base, column.category)
    return to_text(value)


def to_text(value: Any) -> str:
    """The text form sent for types the server parses itself; JSON for objects and lists."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        if isinstance(value, float) and not math.isfinite(value):
            raise CoercionError(f"{show(value)} is not a finite number")
        return str(value)
    return _json(value)


def _native_base(base: str, category: str) -> bool:
    return base in _COERCERS or category in ("S", "E")


def _coerce_base(value: Any, base: str, category: str) -> Any:
    coercer = _COERCERS.get(base)
    if coercer is not None:
        return coercer(value, base)
    # string types (text, varchar, char, citext…) and enums: the server checks length and labels
    return _to_str(value)


def _to_str(value: Any, _base: str = "") -> str:
    if isinstance(value, dict | list):
        return _json(value)
    return to_text(value)


def _to_int(value: Any, base: str) -> int:
    label, limit = _INT_RANGES[base]
    if isinstance(value, bool):
        raise CoercionError(f"{show(value)} is a boolean, not an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float | str | Decimal):
        exact = _decimal(value, label)
        if exact.adjusted() >= 19:  # checked before int() so "1e999999999" cannot eat memory
            raise CoercionError(f"{show(value)} is out of range for {label}")
        if exact != exact.to_integral_value():
            raise CoercionError(f"{show(value)} is not a whole number")
        number = int(exact)
    else:
        raise CoercionError(f"expected a whole number, got {_kind(value)}")
    if not -limit <= number < limit:
        raise CoercionError(f"{number} is out of range for {label}")
    return number


def _to_numeric(value: Any, _base: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise CoercionError(f"expected a number, got {_kind(value)}")
    return _decimal(value)


def _decimal(value: int | float | str | Decimal, label: str = "numeric") -> Decimal:
    try:
        # str() of a float is its shortest round-trip form, so 0.1 stays 0.1, not 0.1000000000000000055…
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise CoercionError(f"{show(value)} is not a number") from None
    if not number.is_finite():
        raise CoercionError(f"{show(value)} is not a finite number")
    if number.adjusted() > _NUMERIC_MAX_DIGITS:
        raise CoercionError(f"{show(value)} is out of range for {label}")
    return number


def _to_float(value: Any, _base: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise CoercionError(f"expected a number, got {_kind(value)}")
    try:
        return float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise CoercionError(f"{show(value)} is not a number") from None


def _to_bool(value: Any, _base: str) -> bool:
    flag = as_bool(value)
    if flag is not None:
        return flag
    raise CoercionError(f"{show(value)} is not a boolean (true/false, yes/no, on/off, 1/0)")


def _to_datetime(value: Any) -> datetime:
    """ISO-8601 (a trailing Z included) or unix seconds; naive results are left naive."""
    if isinstance(value, bool):
        raise CoercionError(f"{show(value)} is a boolean, not a timestamp")
    if isinstance(value, int | float):
        if abs(value) > _UNIX_MS_THRESHOLD:
            raise CoercionError(
                f"{show(value)} is out of range for unix seconds (milliseconds? divide by 1000)"
            )
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise CoercionError(f"{show(value)} is out of range for unix seconds") from None
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}.*", text):
            text = text.replace(" ", "T", 1)
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise CoercionError(f"{show(value)} is not an ISO-8601 timestamp") from None
    raise CoercionError(f"expected an ISO-8601 string or unix seconds, got {_kind(value)}")


def _to_timestamptz(value: Any, _base: str) -> datetime:
    moment = _to_datetime(value)
    # a timestamp without an offset is taken as UTC, never as the database session's zone
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _to_timestamp(value: Any, _base: str) -> datetime:
    moment = _to_datetime(value)
    # `timestamp without time zone` stores wall-clock time; offsets are normalised to UTC
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def _to_date(value: Any, _base: str) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    try:
        moment = _to_datetime(value)
    except CoercionError:
        raise CoercionError(f"{show(value)} is not an ISO-8601 date") from None
    return moment.date()


def _to_uuid(value: Any, _base: str) -> uuid.UUID:
    if not isinstance(value, str):
        raise CoercionError(f"expected a UUID string, got {_kind(value)}")
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise CoercionError(f"{show(value)} is not a UUID") from None


def _to_json(value: Any, _base: str) -> str:
    return _json(value)


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CoercionError(f"not representable as JSON: {exc}") from None


def show(value: Any, limit: int = 40) -> str:
    """A value as it appears in an error: short, since event data can be personal."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), f"a {type(value).__name__}")


_COERCERS = {
    "int2": _to_int,
    "int4": _to_int,
    "int8": _to_int,
    "numeric": _to_numeric,
    "float4": _to_float,
    "float8": _to_float,
    "bool": _to_bool,
    "timestamptz": _to_timestamptz,
    "timestamp": _to_timestamp,
    "date": _to_date,
    "uuid": _to_uuid,
    "json": _to_json,
    "jsonb": _to_json,
    "text": _to_str,
    "varchar": _to_str,
    "bpchar": _to_str,
    "name": _to_str,
}
