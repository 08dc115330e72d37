"""A webhook receiver for `ingestlayer dev`: prints what arrives and checks its signature."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ingestlayer.signing import SIGNATURE_HEADER, verify


def create_receiver(secret: str | None, echo: Callable[[str], None] = print) -> Starlette:
    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        header = request.headers.get(SIGNATURE_HEADER)
        if secret and header is not None:
            signature = "valid" if verify(header, body, secret) else "INVALID"
        else:
            signature = "unsigned"
        try:
            event = json.loads(body)
        except ValueError:
            event = {}
        echo(
            f"[receiver] {request.url.path} <- {event.get('type')} {event.get('id')} "
            f"signature={signature} labels={json.dumps(event.get('labels', {}))}"
        )
        if signature == "INVALID":
            return JSONResponse({"ok": False, "error": "bad signature"}, status_code=400)
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])
