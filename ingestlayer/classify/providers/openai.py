"""OpenAI chat completions with Structured Outputs; any OpenAI-compatible server via `base_url`.

The answer is constrained by `response_format: {"type": "json_schema", ...}` with `strict: true`
(vLLM, Ollama and llama.cpp accept the same field and use it for guided decoding) and comes
back as a JSON string in `choices[0].message.content`.
"""

from __future__ import annotations

import json
from typing import Any

from ingestlayer import secrets
from ingestlayer.classify.config import OpenAIModel
from ingestlayer.classify.labels import InvalidAnswer, unwrap
from ingestlayer.classify.providers.transport import Endpoint, post_json
from ingestlayer.classify.request import ClassifyRequest
from ingestlayer.destinations.errors import RetryableError

__all__ = ["OpenAIProvider", "parse_json_text"]


class OpenAIProvider:
    kind = "openai"

    def __init__(self, config: OpenAIModel) -> None:
        self.config = config

    def body(self, request: ClassifyRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": request.system},
                {"role": "user", "content": request.message},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": request.schema_name,
                    "strict": True,
                    "schema": request.schema,
                },
            },
        }
        if self.config.temperature is not None:
            body["temperature"] = self.config.temperature
        return body

    async def complete(self, request: ClassifyRequest) -> Any:
        base_url = secrets.resolve(self.config.base_url)
        headers = {"Content-Type": "application/json"}
        key = secrets.resolve(self.config.api_key) if self.config.api_key else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        endpoint = Endpoint(
            "openai", self.config.model, base_url, self.config.api_key, hidden=(key,) if key else ()
        )
        data = await post_json(
            endpoint,
            f"{base_url}/chat/completions",
            self.body(request),
            headers,
            self.config.timeout,
        )
        return unwrap(request.output, request.labels, _content(data, endpoint))


def _content(data: dict[str, Any], endpoint: Endpoint) -> Any:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise RetryableError(
            f"{endpoint.who}: the response has no choices", code="unexpected_response"
        )
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        message = {}
    if message.get("refusal"):
        raise InvalidAnswer(f"the model refused: {message['refusal']}")
    content = message.get("content")
    if choice.get("finish_reason") == "length":
        raise InvalidAnswer("the answer was cut off at the token limit", content)
    if not isinstance(content, str) or not content.strip():
        raise InvalidAnswer("the answer is empty", content)
    return parse_json_text(content)


def parse_json_text(text: str) -> Any:
    """JSON from a model's text; tolerates a ```json fence, which unconstrained models add."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`").strip()
        if stripped.lower().startswith("json"):
            stripped = stripped[4:]
    try:
        return json.loads(stripped)
    except ValueError:
        raise InvalidAnswer("the answer is not valid JSON", text) from None
