"""One JSON POST to a model API, with the provider's answers mapped to the shared error types.

429 is rate limited (with the server's Retry-After), 408/409/5xx/529, timeouts and refused
connections are retryable; 401/403/404 and other 4xx are the user's to fix and say how.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from ingestlayer import secrets
from ingestlayer.destinations.errors import (
    DeliveryError,
    PermanentError,
    RateLimitedError,
    RetryableError,
)
from ingestlayer.destinations.http import parse_retry_after, shared_client

__all__ = ["Endpoint", "error_for_response", "post_json"]


@dataclass(frozen=True)
class Endpoint:
    """Who we are talking to, for messages and hints (never the key itself). `hidden` holds the
    resolved key, taken out of the provider's answers before they are quoted (a proxy may echo
    the key it rejects)."""

    provider: str
    model: str
    base_url: str
    api_key_ref: str | None = None
    hidden: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def who(self) -> str:
        return f"{self.provider} model {self.model}"


async def post_json(
    endpoint: Endpoint,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    seconds: float,
) -> dict[str, Any]:
    try:
        response = await shared_client().post(url, json=body, headers=headers, timeout=seconds)
    except httpx.TimeoutException as exc:
        raise RetryableError(
            f"{endpoint.who}: no response within {seconds:g} s", code="timeout"
        ) from exc
    except httpx.TransportError as exc:
        raise RetryableError(
            f"{endpoint.who}: could not reach {endpoint.base_url}: {type(exc).__name__}",
            code="connection_error",
        ) from exc
    if not 200 <= response.status_code < 300:
        raise error_for_response(response, endpoint)
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise RetryableError(
            f"{endpoint.who}: the response is not a JSON object", code="unexpected_response"
        )
    return data


def error_for_response(response: httpx.Response, endpoint: Endpoint) -> DeliveryError:
    status = response.status_code
    message, error_code = _error_details(response)
    message = secrets.scrub(message, endpoint.hidden)
    said = f": {message}" if message else ""
    who = endpoint.who
    if status == 429:
        if error_code == "insufficient_quota":
            return PermanentError(
                f"{who} refused the request: the account is out of quota{said}",
                code="insufficient_quota",
                hint="add credits or raise the quota of the account behind the API key",
            )
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is None:
            retry_after = _retry_after_ms(response.headers.get("retry-after-ms"))
        return RateLimitedError(f"{who} rate-limited the request{said}", retry_after=retry_after)
    if status in (401, 403):
        key = f" in {endpoint.api_key_ref}" if endpoint.api_key_ref else ""
        return PermanentError(
            f"{who} answered {status}{said}",
            code="unauthorized" if status == 401 else "forbidden",
            hint=f"check the API key{key} is valid and allowed to use model {endpoint.model!r}",
        )
    if status == 404:
        return PermanentError(
            f"{who} answered 404{said}",
            code="model_not_found",
            hint=f"check the model name {endpoint.model!r} and base_url {endpoint.base_url}",
        )
    if status in (408, 409) or status >= 500:
        return RetryableError(f"{who} answered {status}{said}", code=f"http_{status}")
    if status == 413:
        return PermanentError(
            f"{who} answered 413: the request is too large{said}",
            code="prompt_too_large",
            hint="send the model fewer fields with `input`, or a shorter `prompt`",
        )
    return PermanentError(
        f"{who} rejected the request ({status}){said}",
        code="bad_request",
        hint="the provider's message above says what to change in the step's model or labels",
    )


def _error_details(response: httpx.Response) -> tuple[str, str | None]:
    """(message, code) from `{"error": {"message", "code"|"type"}}`, the shape both APIs use."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:300].strip(), None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or "")[:500]
        code = error.get("code") or error.get("type")
        return message, str(code) if code else None
    if isinstance(error, str):
        return error[:500], None
    return response.text[:300].strip(), None


def _retry_after_ms(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value) / 1000)
    except ValueError:
        return None
