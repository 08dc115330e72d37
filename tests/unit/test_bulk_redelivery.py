"""The bulk redelivery's filter and the visibility query it becomes, without servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from ingestlayer.bulk_redelivery import BulkRedeliveryRequest, rfc3339, visibility_query


def test_destination_alone_lists_running_dead_letters_of_that_destination() -> None:
    query = visibility_query(BulkRedeliveryRequest(destination="support/on-call"))
    assert query == (
        "WorkflowType = 'EventPipeline' AND ExecutionStatus = 'Running' AND "
        "IngestlayerDeadLetter = true AND IngestlayerDeadLetterDestinations = 'support/on-call'"
    )


def test_type_time_cursor_and_exclusions_narrow_the_query() -> None:
    request = BulkRedeliveryRequest(
        destination="support/on-call",
        event_type="support.ticket.created",
        since=datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
        until=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
    )
    first = visibility_query(request)
    assert "IngestlayerEventType = 'support.ticket.created'" in first
    assert "StartTime >= '2026-12-01T10:00:00.000000Z'" in first
    assert "StartTime <= '2026-12-01T12:00:00.000000Z'" in first
    later = visibility_query(request, "2026-12-01T11:00:00.5Z", ["evt_a", "evt_b"])
    assert "StartTime <= '2026-12-01T11:00:00.5Z'" in later
    assert "StartTime <= '2026-12-01T12:00:00" not in later
    assert later.endswith("WorkflowId NOT IN ('evt_a', 'evt_b')")


def test_times_are_normalised_to_utc_and_naive_times_read_as_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    request = BulkRedeliveryRequest(
        destination="a/b",
        since=datetime(2026, 1, 1, 12, 0, tzinfo=plus_two),
        until=datetime(2026, 1, 1, 12, 0),
    )
    assert request.since == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert request.until == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert rfc3339(request.since) == "2026-01-01T10:00:00.000000Z"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"event_type": "a.b"}', "destination"),
        ('{"destination": "no-slash"}', "destination"),
        ('{"destination": "a\'/b"}', "destination"),
        ('{"destination": "a/b", "event_type": "x\' OR \'1\'=\'1"}', "event_type"),
        ('{"destination": "a/b", "rate_per_second": 0}', "rate_per_second"),
        ('{"destination": "a/b", "rate_per_second": 101}', "rate_per_second"),
        ('{"destination": "a/b", "rate_per_second": true}', "rate_per_second"),
        ('{"destination": "a/b", "since": 1700000000}', "since"),
        ('{"destination": "a/b", "since": "0001-01-01T00:00:00+01:00"}', "since"),
        ('{"destination": "a/b", "until": "1969-12-31T23:59:59Z"}', "until"),
        ('{"destination": "a/b", "extra": 1}', "extra"),
        (
            '{"destination": "a/b", "since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}',
            "",
        ),
    ],
)
def test_bad_filters_are_rejected_with_the_field_named(body: str, where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        BulkRedeliveryRequest.model_validate_json(body, strict=True)
    locs = [".".join(str(p) for p in e["loc"]) for e in caught.value.errors()]
    assert where in locs


def test_the_default_pace_is_five_a_second() -> None:
    assert BulkRedeliveryRequest(destination="a/b").rate_per_second == 5.0
