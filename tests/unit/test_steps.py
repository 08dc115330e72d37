"""Pure steps as the workflow runs them."""

from __future__ import annotations

from datetime import UTC, datetime

from ingestlayer.config import StepSpec
from ingestlayer.events import Event
from ingestlayer.status import StepOutcome
from workflows.steps import apply_pure_step, when_holds


def run_steps(steps: list[StepSpec], event: Event | None) -> tuple[Event | None, list[StepOutcome]]:
    outcomes = []
    for step in steps:
        assert event is not None
        event, outcome = apply_pure_step(step, event)
        outcomes.append(outcome)
        if event is None:
            break
    return event, outcomes


def _event(**payload: object) -> Event:
    return Event(
        id="evt_1",
        type="support.ticket.created",
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        payload=payload,
    )


def test_set_adds_labels_that_later_steps_and_when_can_use() -> None:
    steps = [
        StepSpec(kind="set", args={"urgency": "$event.priority", "title": "#$event.ticket_id"}),
        StepSpec(kind="filter.match", args="urgency = critical"),
    ]
    event, outcomes = run_steps(steps, _event(priority="critical", ticket_id=7))
    assert event is not None
    assert event.labels == {"urgency": "critical", "title": "#7"}
    assert [o.outcome for o in outcomes] == ["applied", "passed"]
    assert when_holds("urgency = critical and title exists", event)


def test_failed_filter_ends_the_pipeline() -> None:
    event, outcomes = run_steps(
        [StepSpec(kind="filter.match", args="priority = critical")], _event(priority="low")
    )
    assert event is None
    assert outcomes[0].outcome == "filtered"
    assert outcomes[0].detail == {"expression": "priority = critical"}


def test_steps_do_not_mutate_the_input_event() -> None:
    original = _event(priority="high")
    run_steps([StepSpec(kind="set", args={"x": 1})], original)
    assert original.labels == {}


def test_no_condition_always_holds() -> None:
    assert when_holds(None, _event())


def test_io_steps_are_not_pure() -> None:
    import pytest

    with pytest.raises(ValueError):
        apply_pure_step(StepSpec(kind="classify", args={}), _event())
