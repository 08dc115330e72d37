"""A fake LLM server: OpenAI `POST /v1/chat/completions` and Anthropic `POST /v1/messages`.

It answers in each API's documented shapes (a chat completion whose message content is the JSON
answer; a message whose content holds one `tool_use` block) and errors in each API's error body
(`{"error": {"message", "type", "param", "code"}}` and `{"type": "error", "error": {"type",
"message"}}`). Tests script it: `reply(...)` queues structured answers (valid or not),
`reply_raw(...)` a text that is not the requested JSON, `fail(...)` an HTTP error (429 with
Retry-After, 500, 401, ...). With the queue empty it answers with the first label the request's
schema allows. Every request is recorded, before any `delay`, so `calls` counts calls in flight.

Also here: two "local models" for the `python` provider, one sync and one async.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

OPENAI_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}
ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class LLMRequest:
    api: str
    path: str
    headers: dict[str, str]
    json: dict[str, Any]

    @property
    def model(self) -> str:
        return str(self.json.get("model"))

    @property
    def user_message(self) -> str:
        user = [m for m in self.json.get("messages", []) if m.get("role") == "user"]
        content = user[-1]["content"] if user else ""
        if isinstance(content, list):
            return "".join(block.get("text", "") for block in content)
        return str(content)

    @property
    def schema(self) -> dict[str, Any]:
        if self.api == "openai":
            return dict(self.json["response_format"]["json_schema"]["schema"])
        return dict(self.json["tools"][0]["input_schema"])


@dataclass
class Reply:
    answer: Any


@dataclass
class RawReply:
    text: str


@dataclass
class ErrorReply:
    status: int
    message: str | None = None
    retry_after: str | None = None
    code: str | None = None


Scripted = Reply | RawReply | ErrorReply


@dataclass
class FakeLLM:
    script: deque[Scripted] = field(default_factory=deque)
    requests: list[LLMRequest] = field(default_factory=list)
    delay: float = 0.0
    api_key: str | None = None
    responder: Callable[[LLMRequest], Any] | None = None

    def reset(self) -> None:
        self.script.clear()
        self.requests.clear()
        self.delay = 0.0
        self.api_key = None
        self.responder = None

    @property
    def calls(self) -> int:
        return len(self.requests)

    def reply(self, *answers: Any) -> None:
        """Queue structured answers, e.g. `{"urgency": "high"}` (valid or not)."""
        self.script.extend(Reply(answer) for answer in answers)

    def reply_raw(self, text: str) -> None:
        """Queue an answer that is not the requested JSON (OpenAI content / Anthropic text)."""
        self.script.append(RawReply(text))

    def fail(
        self,
        status: int,
        *,
        retry_after: str | None = None,
        message: str | None = None,
        code: str | None = None,
    ) -> None:
        self.script.append(ErrorReply(status, message, retry_after, code))

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._openai, methods=["POST"]),
                Route("/v1/messages", self._anthropic, methods=["POST"]),
            ]
        )

    async def _record(self, api: str, request: Request) -> LLMRequest | JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        recorded = LLMRequest(
            api,
            request.url.path,
            {k.lower(): v for k, v in request.headers.items()},
            body if isinstance(body, dict) else {},
        )
        self.requests.append(recorded)
        if self.delay:
            await asyncio.sleep(self.delay)
        if not isinstance(body, dict):
            return self._error(api, ErrorReply(400, "the body is not a JSON object"))
        return recorded

    def _next(self, request: LLMRequest) -> Scripted:
        if self.script:
            return self.script.popleft()
        if self.responder is not None:
            return Reply(self.responder(request))
        return Reply(_first_allowed(request.schema))

    async def _openai(self, http: Request) -> JSONResponse:
        request = await self._record("openai", http)
        if isinstance(request, JSONResponse):
            return request
        auth = request.headers.get("authorization", "")
        if self.api_key is not None and auth != f"Bearer {self.api_key}":
            message = (
                "You didn't provide an API key."
                if not auth
                else f"Incorrect API key provided: {auth.removeprefix('Bearer ')[:6]}***."
            )
            return self._error("openai", ErrorReply(401, message))
        for name in ("model", "messages"):
            if name not in request.json:
                return self._error(
                    "openai", ErrorReply(400, f"Missing required parameter: '{name}'.")
                )
        scripted = self._next(request)
        if isinstance(scripted, ErrorReply):
            return self._error("openai", scripted)
        content = scripted.text if isinstance(scripted, RawReply) else json.dumps(scripted.answer)
        return JSONResponse(
            {
                "id": f"chatcmpl-{secrets.token_hex(12)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": request.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": _usage(request, content, "prompt_tokens", "completion_tokens"),
            },
            headers={"x-request-id": f"req_{secrets.token_hex(8)}"},
        )

    async def _anthropic(self, http: Request) -> JSONResponse:
        request = await self._record("anthropic", http)
        if isinstance(request, JSONResponse):
            return request
        key = request.headers.get("x-api-key")
        if self.api_key is not None and key != self.api_key:
            return self._error("anthropic", ErrorReply(401, "invalid x-api-key"))
        if "anthropic-version" not in request.headers:
            return self._error(
                "anthropic", ErrorReply(400, "anthropic-version: header is required")
            )
        for name in ("model", "max_tokens", "messages"):
            if name not in request.json:
                return self._error("anthropic", ErrorReply(400, f"{name}: Field required"))
        scripted = self._next(request)
        if isinstance(scripted, ErrorReply):
            return self._error("anthropic", scripted)
        if isinstance(scripted, RawReply):
            content: list[dict[str, Any]] = [{"type": "text", "text": scripted.text}]
            stop_reason, text = "end_turn", scripted.text
        else:
            tool = (request.json.get("tool_choice") or {}).get("name") or request.json["tools"][0][
                "name"
            ]
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_{secrets.token_hex(12)}",
                    "name": tool,
                    "input": scripted.answer,
                }
            ]
            stop_reason, text = "tool_use", json.dumps(scripted.answer)
        return JSONResponse(
            {
                "id": f"msg_{secrets.token_hex(12)}",
                "type": "message",
                "role": "assistant",
                "model": request.model,
                "content": content,
                "stop_reason": stop_reason,
                "stop_sequence": None,
                "usage": _usage(request, text, "input_tokens", "output_tokens"),
            },
            headers={"request-id": f"req_{secrets.token_hex(8)}"},
        )

    def _error(self, api: str, error: ErrorReply) -> JSONResponse:
        headers = {"retry-after": error.retry_after} if error.retry_after is not None else {}
        if api == "openai":
            kind, code = OPENAI_ERROR_TYPES.get(error.status, ("server_error", None))
            body: dict[str, Any] = {
                "error": {
                    "message": error.message or f"fake error {error.status}",
                    "type": kind,
                    "param": None,
                    "code": error.code or code,
                }
            }
            headers["x-request-id"] = f"req_{secrets.token_hex(8)}"
        else:
            body = {
                "type": "error",
                "error": {
                    "type": error.code or ANTHROPIC_ERROR_TYPES.get(error.status, "api_error"),
                    "message": error.message or f"fake error {error.status}",
                },
            }
            headers["request-id"] = f"req_{secrets.token_hex(8)}"
        return JSONResponse(body, status_code=error.status, headers=headers)


def _first_allowed(schema: dict[str, Any]) -> Any:
    """What a well-behaved model answers when a test does not care: the first allowed value."""
    properties = schema.get("properties") or {}
    answer: dict[str, Any] = {}
    for name, prop in properties.items():
        if "enum" in prop:
            answer[name] = prop["enum"][0]
        elif prop.get("type") == "number":
            answer[name] = 0
        else:
            answer[name] = ""
    return answer


def _usage(request: LLMRequest, answer: str, prompt_key: str, answer_key: str) -> dict[str, int]:
    prompt = len(json.dumps(request.json.get("messages", []))) // 4
    completion = max(1, len(answer) // 4)
    usage = {prompt_key: prompt, answer_key: completion}
    if prompt_key == "prompt_tokens":
        usage["total_tokens"] = prompt + completion
    return usage


# --- local models for the `python` provider -------------------------------------------------

LOCAL_MODEL_CALLS: list[tuple[str, int]] = []
"""(which model, thread id) per call, so tests can see where a callable ran."""


def _urgency(fields: dict[str, Any]) -> str | None:
    text = json.dumps(fields).lower()
    if "outage" in text or "down" in text:
        return "critical"
    if "refund" in text:
        return "high"
    if "abstain" in text:
        return None
    return "low"


def keyword_model(fields: dict[str, Any]) -> str | None:
    """A sync classifier; the step runs it in a thread."""
    LOCAL_MODEL_CALLS.append(("sync", threading.get_ident()))
    return _urgency(fields)


async def async_keyword_model(fields: dict[str, Any]) -> str | None:
    """An async classifier; the step awaits it on the worker's loop."""
    LOCAL_MODEL_CALLS.append(("async", threading.get_ident()))
    await asyncio.sleep(0)
    return _urgency(fields)


def broken_model(fields: dict[str, Any]) -> str:
    raise RuntimeError("the local model is not loaded")
