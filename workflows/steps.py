"""Pure pipeline steps, evaluated inside workflow code: deterministic and free of round trips."""

from __future__ import annotations

from ingestlayer import expressions, templates
from ingestlayer.config import StepSpec
from ingestlayer.events import Event
from ingestlayer.status import ErrorInfo, StepOutcome

PURE_STEPS = frozenset({"filter.match", "set"})


def when_holds(condition: str | None, event: Event) -> bool:
    if condition is None:
        return True
    return expressions.parse(condition).evaluate(event.fields())


def apply_pure_step(step: StepSpec, event: Event) -> tuple[Event | None, StepOutcome]:
    """One pure step; a failed `filter.match` returns no event (the pipeline ends as filtered)."""
    if step.kind == "filter.match":
        passed = when_holds(step.args, event)
        outcome = StepOutcome(
            step=step.kind,
            outcome="passed" if passed else "filtered",
            detail={"expression": step.args},
        )
        return (event if passed else None), outcome
    if step.kind == "set":
        fields = event.fields()
        try:
            added = {
                name: templates.render_value(value, fields, f"set.{name}")
                for name, value in step.args.items()
            }
        except templates.TemplateError as exc:
            error = ErrorInfo(code=exc.code, message=str(exc), retryable=False)
            return None, StepOutcome(
                step=step.kind, outcome="failed", detail={"error": error.model_dump()}
            )
        updated = event.model_copy(update={"labels": {**event.labels, **added}})
        return updated, StepOutcome(
            step=step.kind, outcome="applied", detail={"fields": sorted(added)}
        )
    raise ValueError(f"{step.kind!r} is not a pure step")
