"""A fake Slack Web API on 127.0.0.1, from Slack's documented behaviour.

`POST /api/chat.postMessage` and `POST /api/auth.test`. The token is read from
`Authorization: Bearer` only (a token in the body is ignored, one in the query string refused).
Channels are found by name or id and the answer's `channel` is always the id. A public channel
the bot is not in answers `not_in_channel`; a private one it was not invited to is invisible to
it (`channel_not_found`, like an unknown one); an archived one answers `is_archived`. Blocks are
checked against Block Kit's caps (`invalid_blocks`).
Each channel has a token bucket (default one message per second, no burst): over it, HTTP 429,
`{"ok": false, "error": "ratelimited"}` and an integer `Retry-After`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.ratelimit import TokenBucket

BOT_USER = "U0BOT00001"
TEAM = "T0TEAM0001"


@dataclass
class Channel:
    id: str
    name: str
    private: bool = False
    member: bool = True
    archived: bool = False


@dataclass
class Posted:
    channel: str
    text: str | None
    blocks: list[dict[str, Any]]
    at: float
    ts: str


@dataclass
class FakeSlack:
    rate: float = 1.0
    burst: float = 1.0
    tokens: dict[str, str] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    messages: list[Posted] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    rate_limited: Counter[str] = field(default_factory=Counter)
    failures: dict[str, list[int]] = field(default_factory=dict)
    latency: float = 0.0
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add_token(self, token: str, state: str = "ok") -> str:
        """`state`: ok, revoked (token_revoked) or inactive (account_inactive)."""
        self.tokens[token] = state
        return token

    def add_channel(
        self, name: str, *, private: bool = False, member: bool = True, archived: bool = False
    ) -> Channel:
        channel = Channel(
            id=f"C{next(self._ids):09d}",
            name=name.lstrip("#"),
            private=private,
            member=member,
            archived=archived,
        )
        self.channels[channel.id] = channel
        return channel

    def fail_next(self, channel: str, *statuses: int) -> None:
        """The next requests to `channel` (name or id) answer these HTTP statuses in turn."""
        found = self._find(channel)
        assert found is not None, channel
        self.failures.setdefault(found.id, []).extend(statuses)

    def posted_to(self, channel: str) -> list[Posted]:
        found = self._find(channel)
        return [m for m in self.messages if found is not None and m.channel == found.id]

    def _find(self, ref: str) -> Channel | None:
        ref = ref.strip()
        if ref in self.channels:
            return self.channels[ref]
        name = ref.lstrip("#")
        return next((c for c in self.channels.values() if c.name == name), None)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/chat.postMessage", self._post_message, methods=["POST"]),
                Route("/api/auth.test", self._auth_test, methods=["POST", "GET"]),
            ]
        )

    def _auth_error(self, request: Request) -> str | None:
        if "token" in request.query_params:
            return "invalid_arguments"
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return "not_authed"
        state = self.tokens.get(header.removeprefix("Bearer ").strip())
        if state is None:
            return "invalid_auth"
        return {"ok": None, "revoked": "token_revoked", "inactive": "account_inactive"}[state]

    async def _auth_test(self, request: Request) -> JSONResponse:
        error = self._auth_error(request)
        if error:
            return _fail(error)
        return JSONResponse({"ok": True, "team_id": TEAM, "user_id": BOT_USER, "bot_id": "B01"})

    async def _body(self, request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            data = await request.json()
            return data if isinstance(data, dict) else {}
        form = await request.form()
        body: dict[str, Any] = {key: value for key, value in form.items()}
        if isinstance(body.get("blocks"), str):
            try:
                body["blocks"] = json.loads(body["blocks"])
            except ValueError:
                body["blocks"] = "invalid"
        return body

    async def _post_message(self, request: Request) -> JSONResponse:
        if self.latency:
            await asyncio.sleep(self.latency)
        error = self._auth_error(request)
        if error:
            return _fail(error)
        body = await self._body(request)
        ref = str(body.get("channel") or "")
        channel = self._find(ref) if ref else None
        if channel is None or (channel.private and not channel.member):
            return _fail("channel_not_found")
        if not channel.member:
            return _fail("not_in_channel")
        if channel.archived:
            return _fail("is_archived")
        self.calls[channel.id] += 1
        scripted = self.failures.get(channel.id)
        if scripted:
            status = scripted.pop(0)
            if status == 429:
                self.rate_limited[channel.id] += 1
                return _fail("ratelimited", status=429, headers={"Retry-After": "1"})
            return _fail("internal_error", status=status)
        now = time.time()
        bucket = self._buckets.setdefault(channel.id, TokenBucket.full(self.rate, self.burst, now))
        wait = bucket.take(now)
        if wait > 0:
            self.rate_limited[channel.id] += 1
            retry = str(max(1, math.ceil(wait)))
            return _fail("ratelimited", status=429, headers={"Retry-After": retry})
        blocks = body.get("blocks") or []
        text = body.get("text")
        if not isinstance(blocks, list):
            return _fail("invalid_blocks_format")
        problems = block_problems(blocks)
        if problems:
            return JSONResponse({"ok": False, "error": "invalid_blocks", "errors": problems})
        if not text and not blocks:
            return _fail("no_text")
        ts = f"{now:.6f}"
        self.messages.append(Posted(channel.id, text, blocks, now, ts))
        return JSONResponse(
            {
                "ok": True,
                "channel": channel.id,
                "ts": ts,
                "message": {"type": "message", "bot_id": "B01", "text": text, "ts": ts},
            }
        )


def _fail(error: str, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"ok": False, "error": error}, status_code=status, headers=headers)


def _text_len(obj: Any) -> int:
    return len(obj.get("text", "")) if isinstance(obj, dict) else 0


def block_problems(blocks: list[Any]) -> list[str]:
    """Block Kit caps, as Slack reports them in `errors` with `invalid_blocks`."""
    problems: list[str] = []
    if len(blocks) > 50:
        problems.append(f"no more than 50 items allowed [json-pointer:/blocks] ({len(blocks)})")
    for i, block in enumerate(blocks):
        where = f"[json-pointer:/blocks/{i}]"
        if not isinstance(block, dict) or "type" not in block:
            problems.append(f"invalid block {where}")
            continue
        if len(str(block.get("block_id", ""))) > 255:
            problems.append(f"block_id must be less than 256 characters {where}")
        kind = block["type"]
        if kind == "header":
            n = _text_len(block.get("text"))
            if not 1 <= n <= 150:
                problems.append(f"header text must be 1-150 characters {where}")
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"section needs text or fields {where}")
            if "text" in block and not 1 <= _text_len(block["text"]) <= 3000:
                problems.append(f"must be between 1 and 3000 characters {where}/text")
            fields = block.get("fields", [])
            if len(fields) > 10:
                problems.append(f"no more than 10 items allowed {where}/fields")
            for j, item in enumerate(fields):
                if not 1 <= _text_len(item) <= 2000:
                    problems.append(f"must be between 1 and 2000 characters {where}/fields/{j}")
        elif kind == "context":
            elements = block.get("elements", [])
            if not 1 <= len(elements) <= 10:
                problems.append(f"context needs 1-10 elements {where}/elements")
        elif kind == "image":
            if len(str(block.get("alt_text", ""))) > 2000:
                problems.append(f"alt_text must be at most 2000 characters {where}")
        elif kind not in ("divider", "actions", "rich_text", "input", "file", "video"):
            problems.append(f"unknown block type {kind!r} {where}")
    return problems
