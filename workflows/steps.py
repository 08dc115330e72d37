"""Pure pipeline steps, evaluated inside workflow code: deterministic and free of round trips."""

from __future__ import annotations

from ingestlayer import expressions, templates
from ingestlayer.config import StepSpec
from ingestlayer.events import Event
from ingestlayer.status import StepOutcome


def when_holds(condition: str | None, event: Event) -> bool:
    if condition is None:
        return True
    return expressions.parse(condition).evaluate(event.fields())


def run_steps(steps: list[StepSpec], event: Event) -> tuple[Event | None, list[StepOutcome]]:
    """Run steps in order; a failed `filter.match` ends the pipeline (returns no event)."""
    outcomes: list[StepOutcome] = []
    current = event
    for step in steps:
        if step.kind == "filter.match":
            passed = when_holds(step.args, current)
            outcomes.append(
                StepOutcome(
                    step=step.kind,
                    outcome="passed" if passed else "filtered",
                    detail={"expression": step.args},
                )
            )
            if not passed:
                return None, outcomes
        elif step.kind == "set":
            fields = current.fields()
            added = {
                name: templates.render_value(value, fields) for name, value in step.args.items()
            }
            current = current.model_copy(update={"labels": {**current.labels, **added}})
            outcomes.append(
                StepOutcome(step=step.kind, outcome="applied", detail={"fields": sorted(added)})
            )
        else:
            raise ValueError(f"unknown step kind {step.kind!r}")
    return current, outcomes
