"""The one place typed errors become Temporal failures: retryable or not, and when to retry."""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from ingestlayer.destinations.errors import DeliveryError


def to_application_error(err: DeliveryError, attempt: int) -> ApplicationError:
    details = {"code": err.code, "attempt": attempt, "hint": getattr(err, "hint", None)}
    retry_after = getattr(err, "retry_after", None)
    return ApplicationError(
        err.message,
        details,
        type=type(err).__name__,
        non_retryable=not err.retryable,
        next_retry_delay=timedelta(seconds=retry_after) if retry_after is not None else None,
    )
