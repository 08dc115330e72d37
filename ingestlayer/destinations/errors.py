"""What can go wrong in a delivery, typed by what should happen next."""

from __future__ import annotations


class DeliveryError(Exception):
    """Base for every failure a destination adapter raises."""

    retryable: bool = True
    code: str = "delivery_failed"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class RetryableError(DeliveryError):
    """Transient: timeouts, 5xx, refused connections. Try again with backoff."""

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class RateLimitedError(RetryableError):
    """The provider asked us to slow down; `retry_after` is its own number when it gave one."""

    code = "rate_limited"


class PermanentError(DeliveryError):
    """Retrying cannot help; the user has to change something (`hint` says what)."""

    retryable = False
    code = "permanent_failure"

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, code=code)
        self.hint = hint
