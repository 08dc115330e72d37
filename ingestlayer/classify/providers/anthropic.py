"""Anthropic's Messages API; structured answers through one forced tool call.

The label schema is the tool's `input_schema` and `tool_choice: {"type": "tool"}` makes the
model call it, so the answer is the `input` object of the `tool_use` content block.
"""

from __future__ import annotations

from typing import Any

from ingestlayer import secrets
from ingestlayer.classify.config import AnthropicModel
from ingestlayer.classify.labels import InvalidAnswer, unwrap
from ingestlayer.classify.providers.transport import Endpoint, post_json
from ingestlayer.classify.request import ClassifyRequest
from ingestlayer.destinations.errors import RetryableError

__all__ = ["ANTHROPIC_VERSION", "AnthropicProvider"]

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider:
    kind = "anthropic"

    def __init__(self, config: AnthropicModel) -> None:
        self.config = config

    def body(self, request: ClassifyRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "max_tokens": self.config.max_tokens,
            "system": request.system,
            "messages": [{"role": "user", "content": request.message}],
            "tools": [
                {
                    "name": request.schema_name,
                    "description": "Record the label for the event.",
                    "input_schema": request.schema,
                }
            ],
            "tool_choice": {"type": "tool", "name": request.schema_name},
        }
        if self.config.temperature is not None:
            body["temperature"] = self.config.temperature
        return body

    async def complete(self, request: ClassifyRequest) -> Any:
        base_url = secrets.resolve(self.config.base_url)
        key = secrets.resolve(self.config.api_key)
        headers = {
            "x-api-key": key,
            "anthropic-version": ANTHROPIC_VERSION,
            "content-type": "application/json",
        }
        endpoint = Endpoint(
            "anthropic", self.config.model, base_url, self.config.api_key, hidden=(key,)
        )
        data = await post_json(
            endpoint, f"{base_url}/v1/messages", self.body(request), headers, self.config.timeout
        )
        return unwrap(request.output, request.labels, _tool_input(data, request, endpoint))


def _tool_input(data: dict[str, Any], request: ClassifyRequest, endpoint: Endpoint) -> Any:
    content = data.get("content")
    if not isinstance(content, list):
        raise RetryableError(
            f"{endpoint.who}: the response has no content", code="unexpected_response"
        )
    for block in content:
        if (
            isinstance(block, dict)
            and block.get("type") == "tool_use"
            and block.get("name") == request.schema_name
        ):
            return block.get("input")
    text = " ".join(
        str(block.get("text", "")) for block in content if isinstance(block, dict)
    ).strip()
    if data.get("stop_reason") == "max_tokens":
        raise InvalidAnswer("the answer was cut off at max_tokens", text or None)
    raise InvalidAnswer("the answer has no tool call with the label", text or None)
