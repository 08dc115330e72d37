"""The delivery activity: a thin wrapper mapping adapter errors to Temporal's retry semantics."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from temporalio import activity

from activities.errors import to_application_error
from ingestlayer.destinations import REGISTRY, DeliveryContext, DeliveryError, PermanentError
from ingestlayer.destinations.base import Destination, Pacer
from ingestlayer.destinations.errors import RetryableError
from ingestlayer.destinations.ssrf import OutboundPolicy
from ingestlayer.status import DeliveryInput, DeliveryOutput
from ingestlayer.templates import TemplateError


def build_adapter(kind: str, options: dict[str, Any]) -> Destination:
    """The adapter for a delivery's settings; settings that no longer validate (a redelivery's
    corrections, say) are a permanent error naming the field."""
    adapter_cls = REGISTRY.get(kind)
    if adapter_cls is None:
        raise PermanentError(f"unknown destination kind {kind!r}", code="unknown_destination")
    try:
        return adapter_cls.model_validate(options)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PermanentError(
            f"invalid {kind} settings: {where}: {first['msg']}", code="invalid_settings"
        ) from None


async def run_delivery(
    args: DeliveryInput,
    attempt: int,
    public_base_url: str = "http://127.0.0.1:8000",
    outbound: OutboundPolicy | None = None,
) -> DeliveryOutput:
    """Plain async code (testable without Temporal): build the adapter, send, type the failure."""
    adapter = build_adapter(args.kind, args.options)
    pacer = Pacer(adapter.pace_interval(), args.not_before) if adapter.paced else Pacer()
    ctx = DeliveryContext(
        pipeline=args.pipeline,
        destination=args.destination,
        attempt=attempt,
        public_base_url=public_base_url,
        first_try=args.first_try and attempt == 1,
        pace=pacer,
        outbound=outbound or OutboundPolicy(),
    )
    try:
        result = await adapter.deliver(args.event, ctx)
    except TemplateError as exc:
        raise PermanentError(
            str(exc), code=exc.code, hint="shorten the template or reference shorter fields"
        ) from None
    return DeliveryOutput(
        attempt=attempt, result=result, next_slot=pacer.next_slot if adapter.paced else None
    )


class DeliveryActivities:
    """Activities with the worker's settings injected (registered as bound methods)."""

    def __init__(self, public_base_url: str, outbound: OutboundPolicy | None = None) -> None:
        self.public_base_url = public_base_url
        self.outbound = outbound or OutboundPolicy()

    @activity.defn(name="deliver")
    async def deliver(self, args: DeliveryInput) -> DeliveryOutput:
        attempt = activity.info().attempt
        try:
            return await run_delivery(args, attempt, self.public_base_url, self.outbound)
        except DeliveryError as err:
            raise to_application_error(err, attempt) from None
        except Exception as exc:
            activity.logger.exception("unexpected error in %s delivery", args.kind)
            failure = RetryableError(
                f"unexpected {type(exc).__name__} in the {args.kind} adapter", code="internal"
            )
            raise to_application_error(failure, attempt) from None
