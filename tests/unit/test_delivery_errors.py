"""Typed adapter errors and how the activity maps them onto Temporal's retry semantics."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from activities.deliver import run_delivery
from activities.errors import to_application_error
from ingestlayer import secrets
from ingestlayer.destinations.errors import PermanentError, RateLimitedError, RetryableError
from ingestlayer.destinations.http import parse_retry_after
from ingestlayer.events import Event
from ingestlayer.status import DeliveryInput


def test_permanent_error_is_non_retryable_and_keeps_its_hint() -> None:
    err = to_application_error(PermanentError("gone", code="undefined_table", hint="create it"), 1)
    assert err.non_retryable
    assert err.type == "PermanentError"
    assert err.details[0] == {"code": "undefined_table", "attempt": 1, "hint": "create it"}


def test_rate_limit_passes_retry_after_as_the_next_delay() -> None:
    err = to_application_error(RateLimitedError("slow down", retry_after=7), 2)
    assert not err.non_retryable
    assert err.next_retry_delay is not None and err.next_retry_delay.total_seconds() == 7
    assert err.details[0]["code"] == "rate_limited"


def test_retryable_error_without_retry_after_leaves_backoff_to_temporal() -> None:
    err = to_application_error(RetryableError("503", code="http_503"), 3)
    assert err.next_retry_delay is None
    assert err.details[0]["attempt"] == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5.0), ("0", 0.0), (" 2.5 ", 2.5), (None, None), ("", None), ("soon", None)],
)
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_retry_after_http_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412500.0) == 10.0


def test_missing_secret_is_permanent_and_names_the_variable() -> None:
    with pytest.raises(PermanentError) as info:
        secrets.resolve("Bearer ${NOT_SET_ANYWHERE}", environ={})
    assert "NOT_SET_ANYWHERE" in str(info.value)
    assert info.value.code == "missing_secret"
    assert secrets.resolve("${A}-${B}", environ={"A": "x", "B": "y"}) == "x-y"


async def test_invalid_settings_are_a_permanent_error() -> None:
    args = DeliveryInput(
        event=Event(id="evt_1", type="t", timestamp=datetime.now(UTC), payload={}),
        pipeline="p",
        destination="d",
        kind="webhook",
        options={"url": "not a url"},
    )
    with pytest.raises(PermanentError) as info:
        await run_delivery(args, 1)
    assert info.value.code == "invalid_settings"


async def test_unknown_kind_is_a_permanent_error() -> None:
    args = DeliveryInput(
        event=Event(id="evt_1", type="t", timestamp=datetime.now(UTC), payload={}),
        pipeline="p",
        destination="d",
        kind="pigeon",
        options={},
    )
    with pytest.raises(PermanentError):
        await run_delivery(args, 1)
