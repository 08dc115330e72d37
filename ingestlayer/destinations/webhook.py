"""Outbound webhook: POST the processed event as JSON, signed if asked to."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ingestlayer import secrets, signing
from ingestlayer.destinations.base import DeliveryContext, Destination
from ingestlayer.destinations.errors import PermanentError, RetryableError
from ingestlayer.destinations.http import error_for_status, shared_client
from ingestlayer.events import Event
from ingestlayer.signing import SIGNATURE_HEADER, signature_header

EVENT_ID_HEADER = "X-Ingestlayer-Event-Id"
EVENT_TYPE_HEADER = "X-Ingestlayer-Event-Type"


class NoAuth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["none"] = "none"


class BearerAuth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["bearer"]
    token: str


class HmacAuth(BaseModel):
    """`secret`, or `secrets` while rotating: the header then carries one v1= per secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["hmac"]
    secret: str | None = None
    secrets: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_secret_at_least(self) -> HmacAuth:
        if not self.secret and not self.secrets:
            raise ValueError("hmac auth needs `secret` (or `secrets` while rotating)")
        return self

    def all_secrets(self) -> list[str]:
        return ([self.secret] if self.secret else []) + list(self.secrets)


class StandardAuth(HmacAuth):
    """Standard Webhooks (standardwebhooks.com): `whsec_` secrets, `webhook-*` headers."""

    type: Literal["standard"]  # type: ignore[assignment]

    @field_validator("secret", "secrets")
    @classmethod
    def _whsec(cls, value: str | list[str] | None) -> str | list[str] | None:
        for item in [value] if isinstance(value, str) else value or []:
            if "${" not in item:
                signing.standard_key(item)
        return value


Auth = Annotated[NoAuth | BearerAuth | HmacAuth | StandardAuth, Field(discriminator="type")]


def canonical_body(event: Event) -> bytes:
    return json.dumps(event.body(), separators=(",", ":"), ensure_ascii=False).encode()


class WebhookDestination(Destination):
    kind: ClassVar[str] = "webhook"

    url: str
    auth: Auth = NoAuth()
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=10.0, gt=0, le=60)

    @field_validator("auth", mode="before")
    @classmethod
    def _auth_shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if "${" in value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be an absolute http(s) URL")
        return value

    def _secret_values(self) -> list[str]:
        """Every credential this delivery sends, resolved (and what the URL's references stand
        for), so no error message quotes one back."""
        credentials = list(self.headers.values())
        if isinstance(self.auth, BearerAuth):
            credentials.append(self.auth.token)
        elif isinstance(self.auth, HmacAuth):
            credentials.extend(self.auth.all_secrets())
        hidden = [secrets.resolve(value) for value in credentials]
        hidden += [v for value in [self.url, *credentials] for v in secrets.values(value)]
        return hidden

    def _headers(self, event: Event, body: bytes) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": event.id,
            EVENT_ID_HEADER: event.id,
            EVENT_TYPE_HEADER: event.type,
        }
        headers.update({name: secrets.resolve(value) for name, value in self.headers.items()})
        if isinstance(self.auth, BearerAuth):
            headers["Authorization"] = f"Bearer {secrets.resolve(self.auth.token)}"
        elif isinstance(self.auth, StandardAuth):
            keys = [secrets.resolve(s) for s in self.auth.all_secrets()]
            try:
                headers.update(signing.standard_headers(keys, event.id, body))
            except ValueError as exc:
                raise PermanentError(str(exc), code="invalid_secret") from None
        elif isinstance(self.auth, HmacAuth):
            keys = [secrets.resolve(s) for s in self.auth.all_secrets()]
            headers[SIGNATURE_HEADER] = signature_header(keys, body)
        return headers

    async def _post(
        self,
        targets: list[tuple[httpx.URL, dict[str, str], dict[str, Any]]],
        body: bytes,
        headers: dict[str, str],
    ) -> httpx.Response:
        """To the checked addresses in turn, moving on only when one refuses the connection."""
        for index, (target, host_header, extensions) in enumerate(targets):
            try:
                return await shared_client().post(
                    target,
                    content=body,
                    headers={**headers, **host_header},
                    timeout=self.timeout,
                    extensions=extensions,
                )
            except httpx.ConnectError:
                if index == len(targets) - 1:
                    raise
        raise AssertionError("no targets")

    async def deliver(self, event: Event, ctx: DeliveryContext) -> dict[str, Any]:
        url = secrets.resolve(self.url)
        if urlsplit(url).scheme not in ("http", "https"):
            raise PermanentError("webhook url must be http(s)", code="invalid_url")
        targets = await ctx.outbound.targets(url)
        body = canonical_body(event)
        headers = self._headers(event, body)
        started = time.perf_counter()
        try:
            response = await self._post(targets, body, headers)
        except httpx.TimeoutException as exc:
            raise RetryableError(f"no response within {self.timeout:g} s", code="timeout") from exc
        except httpx.TransportError as exc:
            raise RetryableError(
                f"could not connect to the receiver: {type(exc).__name__}",
                code="connection_error",
            ) from exc
        if 300 <= response.status_code < 400:
            raise PermanentError(
                f"the receiver answered {response.status_code}; redirects are not followed",
                code="redirect_not_followed",
                hint="point the webhook at the final URL",
            )
        if not 200 <= response.status_code < 300:
            raise error_for_status(response, "receiver", self._secret_values())
        return {
            "status_code": response.status_code,
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
        }
