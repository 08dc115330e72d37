"""Slack: `chat.postMessage` to one channel per destination, as a Block Kit message.

slack-sdk's own retry handlers are off (Temporal owns retries); deliveries to one channel are
paced through its outbox at the channel's rate, in arrival order.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import aiohttp
from pydantic import Field, field_validator
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ingestlayer import secrets, templates
from ingestlayer.destinations import blockkit
from ingestlayer.destinations.base import DeliveryContext, Destination, digest
from ingestlayer.destinations.errors import (
    DeliveryError,
    PermanentError,
    RateLimitedError,
    RetryableError,
)
from ingestlayer.destinations.http import USER_AGENT, parse_retry_after
from ingestlayer.events import Event

SLACK_API = "https://slack.com/api/"
API_URL_ENV = "INGESTLAYER_SLACK_API_URL"
PACE_GUARD_SECONDS = 0.05
RECONNECT = "reconnect the Slack workspace (a valid bot token with chat:write) and redeliver"
PERMANENT_HINTS = {
    "not_in_channel": "invite the bot to {channel} (/invite @your-app) and redeliver",
    "channel_not_found": (
        "check the channel name or id {channel}; for a private channel, invite the bot first"
    ),
    "is_archived": "{channel} is archived: unarchive it or choose another channel",
    "invalid_auth": RECONNECT,
    "not_authed": RECONNECT,
    "token_revoked": RECONNECT,
    "token_expired": RECONNECT,
    "account_inactive": RECONNECT,
    "missing_scope": "add the chat:write scope to the Slack app and reinstall it",
    "restricted_action": "a workspace admin restricts posting in {channel}",
    "invalid_blocks": "the message's blocks are not valid Block Kit: check `blocks`",
    "invalid_blocks_format": "`blocks` must be a list of Block Kit blocks",
    "no_text": "the template renders to nothing: check `template` or `blocks`",
    "msg_too_long": "the message is too long: shorten `template`",
}
RETRYABLE_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)

_sessions: dict[tuple[int, float], aiohttp.ClientSession] = {}


def _session(timeout: float) -> aiohttp.ClientSession:
    """One pooled session per loop (and timeout: a passed session's own timeout is used)."""
    key = (id(asyncio.get_running_loop()), timeout)
    session = _sessions.get(key)
    if session is None or session.closed:
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        _sessions[key] = session
    return session


async def close_sessions() -> None:
    sessions = list(_sessions.values())
    _sessions.clear()
    for session in sessions:
        await session.close()


def _header(headers: Any, name: str) -> str | None:
    if isinstance(headers, Mapping):
        for key, value in headers.items():
            if str(key).lower() == name.lower():
                return str(value)
    return None


class SlackDestination(Destination):
    kind: ClassVar[str] = "slack"
    paced: ClassVar[bool] = True
    disconnect_codes: ClassVar[frozenset[str]] = frozenset(
        {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
    )

    channel: str = Field(min_length=1, max_length=200)
    token: str = Field(min_length=1)
    title: str | None = None
    fields: list[str] | None = None
    template: str | None = None
    blocks: list[dict[str, Any]] | None = None
    base_url: str = Field(default_factory=lambda: os.environ.get(API_URL_ENV, SLACK_API))
    timeout: float = Field(default=10.0, gt=0, le=60)
    rate_per_second: float = Field(default=1.0, gt=0, le=50)

    @field_validator("base_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("template", "title")
    @classmethod
    def _templates_parse(cls, value: str | None) -> str | None:
        return templates.validated(value)

    def pace_interval(self) -> float:
        """1/rate plus a guard for latency jitter (a first request that also opens the
        connection reaches Slack later than the next one), so Slack never sees two sends in
        one slot."""
        return 1.0 / self.rate_per_second + PACE_GUARD_SECONDS

    def pace_key(self) -> str:
        return digest(self.kind, self.token, self.channel, self.base_url)

    def pace_label(self) -> str:
        name = re.sub(r"[^A-Za-z0-9_.-]", "-", self.channel.lstrip("#"))[:60]
        return f"slack:{name}"

    def message(self, event: Event, ctx: DeliveryContext) -> blockkit.Message:
        fields = blockkit.escaped_fields(event)
        title = (
            blockkit.render_text(self.title, event.fields(), "title") if self.title else event.type
        )
        if self.blocks is not None:
            blocks = list(blockkit.render_blocks(self.blocks, fields))
        elif self.template is not None:
            blocks = blockkit.template_blocks(
                blockkit.render_text(self.template, fields, "template")
            )
        else:
            blocks = blockkit.default_blocks(event, title, self.fields)
        return blockkit.fit(blocks, blockkit.fallback_text(event, title), ctx.event_url(event))

    async def deliver(self, event: Event, ctx: DeliveryContext) -> dict[str, Any]:
        token = secrets.resolve(self.token)
        message = self.message(event, ctx)
        client = AsyncWebClient(
            token=token,
            base_url=self.base_url,
            timeout=math.ceil(self.timeout),
            session=_session(self.timeout),
            user_agent_prefix=USER_AGENT,
            retry_handlers=[],
        )
        await ctx.pace()
        try:
            response = await client.chat_postMessage(
                channel=self.channel,
                text=message.text,
                blocks=message.blocks,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            response = exc.response
            raise self._error(response.status_code, response.data, response.headers) from None
        except TimeoutError as exc:
            raise RetryableError(
                f"Slack did not answer within {self.timeout:g} s", code="timeout"
            ) from exc
        except aiohttp.ClientError as exc:
            raise RetryableError(
                f"could not reach Slack: {type(exc).__name__}", code="connection_error"
            ) from exc
        return {
            "channel": response.get("channel"),
            "ts": response.get("ts"),
            "blocks": len(message.blocks),
            "truncated": message.truncated,
        }

    def _error(self, status: int, data: Any, headers: Any) -> DeliveryError:
        error = data.get("error") if isinstance(data, Mapping) else None
        code = str(error) if error else f"http_{status}"
        if status == 429 or code == "ratelimited":
            retry_after = parse_retry_after(_header(headers, "Retry-After"))
            return RateLimitedError(
                f"Slack rate-limited posts to {self.channel}",
                code="ratelimited",
                retry_after=retry_after,
            )
        if status >= 500 or code in RETRYABLE_ERRORS:
            return RetryableError(f"Slack answered {status} {code}", code=code)
        hint = PERMANENT_HINTS.get(code)
        detail = ""
        if code == "invalid_blocks" and isinstance(data, Mapping):
            detail = "; ".join(str(e) for e in data.get("errors", []) or [])[:300]
        message = f"chat.postMessage to {self.channel} failed: {code}"
        if detail:
            message += f" ({detail})"
        return PermanentError(
            message,
            code=code,
            hint=hint.format(channel=self.channel) if hint else "see Slack's error reference",
        )
