"""Reading an adapter's typed error back out of a Temporal activity failure."""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ActivityError, ApplicationError, FailureError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

from ingestlayer.status import ErrorInfo


def cause_of(err: FailureError) -> BaseException | None:
    """Regular activities fail with ActivityError(cause=...); local ones may raise the cause itself."""
    return err.cause if isinstance(err, ActivityError) else err


def error_info(err: FailureError) -> tuple[ErrorInfo, int | None]:
    """The error's code, message, retryability and hint, and the attempt it failed on."""
    cause = cause_of(err)
    if isinstance(cause, ApplicationError):
        details: dict[str, Any] = cause.details[0] if cause.details else {}
        info = ErrorInfo(
            code=details.get("code", cause.type or "error"),
            message=cause.message,
            retryable=not cause.non_retryable,
            hint=details.get("hint"),
        )
        return info, details.get("attempt")
    if isinstance(cause, TemporalTimeoutError):
        return ErrorInfo(code="timeout", message="the attempt timed out", retryable=True), None
    message = str(cause) if cause else str(err)
    return ErrorInfo(code="error", message=message, retryable=True), None


def retry_after(err: FailureError) -> float | None:
    cause = cause_of(err)
    if isinstance(cause, ApplicationError) and cause.next_retry_delay is not None:
        return cause.next_retry_delay.total_seconds()
    return None
