"""Steps with I/O or heavy CPU, run as local activities on the pipeline worker."""

from __future__ import annotations

from collections.abc import Awaitable

from pydantic import ValidationError
from temporalio import activity

from activities.errors import to_application_error
from ingestlayer.classify import ClassifyStep, classify_event
from ingestlayer.destinations.errors import DeliveryError, PermanentError, RetryableError
from ingestlayer.redaction import RedactStep, redact_payload_async
from ingestlayer.status import StepInput, StepOutput


def _settings_error(kind: str, exc: ValidationError) -> PermanentError:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    return PermanentError(
        f"invalid {kind} settings: {where}: {first['msg']}", code="invalid_settings"
    )


async def run_classify(args: StepInput, cache_dsn: str | None = None) -> StepOutput:
    try:
        step = ClassifyStep.model_validate(args.args)
    except ValidationError as exc:
        raise _settings_error("classify", exc) from None
    result = await classify_event(step, args.event, cache_dsn=cache_dsn)
    event = args.event.model_copy(
        update={"labels": {**args.event.labels, step.output: result.label}}
    )
    return StepOutput(event=event, detail=result.model_dump(mode="json"))


async def run_redact(args: StepInput) -> StepOutput:
    try:
        step = RedactStep.model_validate(args.args)
    except ValidationError as exc:
        raise _settings_error("redact.pii", exc) from None
    payload, report = await redact_payload_async(args.event.payload, step)
    event = args.event.model_copy(update={"payload": payload})
    return StepOutput(event=event, detail=report.model_dump(mode="json"))


class StepActivities:
    """Registered as bound methods so the worker's settings reach the steps."""

    def __init__(self, cache_dsn: str | None = None) -> None:
        self.cache_dsn = cache_dsn

    @activity.defn(name="classify")
    async def classify(self, args: StepInput) -> StepOutput:
        return await _typed(run_classify(args, self.cache_dsn), "classify")

    @activity.defn(name="redact.pii")
    async def redact(self, args: StepInput) -> StepOutput:
        return await _typed(run_redact(args), "redact.pii")


async def _typed(work: Awaitable[StepOutput], kind: str) -> StepOutput:
    attempt = activity.info().attempt
    try:
        return await work
    except DeliveryError as err:
        raise to_application_error(err, attempt) from None
    except Exception as exc:
        activity.logger.exception("unexpected error in the %s step", kind)
        failure = RetryableError(
            f"unexpected {type(exc).__name__} in the {kind} step", code="internal"
        )
        raise to_application_error(failure, attempt) from None
