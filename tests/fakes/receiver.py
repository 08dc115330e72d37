"""A webhook receiver on 127.0.0.1 whose behaviour the path selects; it records every request.

/ok/<name>               200
/flaky/<n>/<name>        500 for the first n requests of each event id, then 200
/status/<code>/<name>    always <code>
/switch/<name>           503 while `down` holds <name>, else 200
/slow/<seconds>/<name>   sleeps, then 200
/echo/<codes>/<name>     answers the comma-separated codes in turn for each event id (the last
                         repeats) and, like a debugging endpoint, quotes the credentials it got
                         (Authorization and custom headers) in the body
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

NOT_CREDENTIALS = frozenset(
    {
        "host",
        "accept",
        "accept-encoding",
        "connection",
        "user-agent",
        "content-length",
        "content-type",
        "idempotency-key",
    }
)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float = field(default_factory=time.time)

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    requests: list[Received] = field(default_factory=list)
    down: set[str] = field(default_factory=set)
    _seen: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def for_name(self, name: str) -> list[Received]:
        return [r for r in self.requests if r.path.rstrip("/").endswith("/" + name)]

    def accepted(self, name: str) -> list[Received]:
        return [r for r in self.for_name(name) if 200 <= r.status < 300]

    async def wait_for(self, name: str, count: int = 1, within: float = 20.0) -> list[Received]:
        deadline = asyncio.get_running_loop().time() + within
        while len(self.accepted(name)) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"receiver got {len(self.accepted(name))} of {count} for {name}"
                )
            await asyncio.sleep(0.05)
        return self.accepted(name)

    def _status_for(self, parts: list[str], event_id: str) -> tuple[int, float]:
        kind = parts[0] if parts else "ok"
        if kind == "flaky":
            key = (parts[-1], event_id)
            self._seen[key] += 1
            return (500 if self._seen[key] <= int(parts[1]) else 200), 0.0
        if kind == "status":
            return int(parts[1]), 0.0
        if kind == "switch":
            return (503 if parts[-1] in self.down else 200), 0.0
        if kind == "slow":
            return 200, float(parts[1])
        if kind == "echo":
            codes = [int(code) for code in parts[1].split(",")]
            key = (parts[-1], event_id)
            self._seen[key] += 1
            return codes[min(self._seen[key], len(codes)) - 1], 0.0
        return 200, 0.0

    def app(self) -> Starlette:
        async def handle(request: Request) -> JSONResponse:
            body = await request.body()
            parts = [p for p in request.url.path.split("/") if p]
            event_id = request.headers.get("x-ingestlayer-event-id", "")
            status, delay = self._status_for(parts, event_id)
            if delay:
                await asyncio.sleep(delay)
            self.requests.append(
                Received(
                    request.url.path,
                    {k.lower(): v for k, v in request.headers.items()},
                    body,
                    status,
                )
            )
            if parts and parts[0] == "echo" and status >= 300:
                quoted = {
                    k.lower(): v
                    for k, v in request.headers.items()
                    if k.lower() not in NOT_CREDENTIALS
                    and not k.lower().startswith(("x-ingestlayer-", "webhook-"))
                }
                return JSONResponse(
                    {"error": "these credentials were rejected", "credentials": quoted},
                    status_code=status,
                )
            return JSONResponse({"ok": status < 300}, status_code=status)

        return Starlette(routes=[Route("/{path:path}", handle, methods=["POST"])])
