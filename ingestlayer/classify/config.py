"""The `classify` step as users write it in pipeline YAML, validated at load.

Everything that can be checked without the worker's environment is checked here (labels and
default, regexes, the prompt's `$event` references, the callable's shape), so a typo fails the
file at start instead of dead-lettering events later. Secrets stay `${ENV}` references.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from ingestlayer.classify.labels import InvalidAnswer, Labels, check_label, check_schema
from ingestlayer.durations import Seconds
from ingestlayer.events import RESERVED_FIELDS
from ingestlayer.secrets import ENV_REF

__all__ = [
    "AnthropicModel",
    "CacheConfig",
    "ClassifyStep",
    "ModelConfig",
    "OpenAIModel",
    "PythonModel",
    "Rule",
    "RulesModel",
]

MAX_LABELS = 200
DEFAULT_MAX_PROMPT_CHARS = 32_000
DEFAULT_CACHE_TTL = 86400.0

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_PATH = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")
_CALLABLE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_PROMPT_TOKEN = re.compile(r"\$\$|\$event(\.[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)?")


def _secret_reference(value: str) -> str:
    if not ENV_REF.fullmatch(value):
        raise ValueError(
            "api_key must be a ${ENV_NAME} reference: secrets are never written in the "
            "pipeline file"
        )
    return value


def _http_url(value: str) -> str:
    value = value.rstrip("/")
    if "${" in value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("base_url must be an absolute http(s) URL")
    return value


SecretRef = Annotated[str, AfterValidator(_secret_reference)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]


def _field_path(value: str) -> str:
    path = value.strip()
    if path.startswith("$event."):
        path = path[len("$event.") :]
    if not _PATH.fullmatch(path):
        raise ValueError(f"{value!r} is not a field path like `subject` or `customer.tier`")
    return path


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpenAIModel(_Strict):
    """OpenAI, or any server speaking its chat completions API (vLLM, Ollama, llama.cpp)."""

    provider: Literal["openai"]
    model: str = Field(min_length=1)
    api_key: SecretRef | None = None
    base_url: HttpUrl = "https://api.openai.com/v1"
    timeout: Seconds = Field(default=30.0, gt=0, le=300)
    # null leaves it out, for models that only accept their default (OpenAI's reasoning models)
    temperature: float | None = Field(default=0.0, ge=0, le=2)

    @property
    def name(self) -> str | None:
        return self.model


class AnthropicModel(_Strict):
    """Anthropic's Messages API; the answer comes back as a forced tool call."""

    provider: Literal["anthropic"]
    model: str = Field(min_length=1)
    api_key: SecretRef
    base_url: HttpUrl = "https://api.anthropic.com"
    max_tokens: int = Field(default=1024, ge=1, le=64000)
    timeout: Seconds = Field(default=30.0, gt=0, le=300)
    temperature: float | None = Field(default=0.0, ge=0, le=1)

    @property
    def name(self) -> str | None:
        return self.model


class PythonModel(_Strict):
    """The user's own function, `package.module:function`, imported in the worker.

    It is called with one argument, the model's input as a dict (the event's payload, or only
    the fields named in the step's `input`, keyed by path), exactly what an LLM would see and
    what the cache key covers. It returns a label, or None to fall back to `default`. A plain
    function runs in a thread so it cannot stall the worker; an `async def` runs on the loop.
    """

    provider: Literal["python"]
    callable: str

    @field_validator("callable")
    @classmethod
    def _callable_shape(cls, value: str) -> str:
        if not _CALLABLE.fullmatch(value):
            raise ValueError("callable must look like `package.module:function`")
        return value

    @property
    def name(self) -> str | None:
        return self.callable


class Rule(_Strict):
    """Matches when any keyword (case-insensitive, whole word) or the regex is found."""

    label: str
    keywords: list[str] | None = Field(default=None, min_length=1)
    pattern: str | None = None
    field: str | None = None

    @field_validator("keywords")
    @classmethod
    def _non_empty_keywords(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not keyword.strip() for keyword in value):
            raise ValueError("keywords cannot be empty strings")
        return value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern {value!r} is not a valid regex: {exc}") from None
        return value

    @field_validator("field")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else _field_path(value)

    @model_validator(mode="after")
    def _matches_something(self) -> Rule:
        if not self.keywords and self.pattern is None:
            raise ValueError(f"the rule for {self.label!r} needs `keywords` or `pattern`")
        return self


class RulesModel(_Strict):
    """Keyword and regex rules, no model at all; the first matching rule wins."""

    provider: Literal["rules"]
    rules: list[Rule] = Field(min_length=1)

    @property
    def name(self) -> str | None:
        return None


ModelConfig = Annotated[
    OpenAIModel | AnthropicModel | PythonModel | RulesModel, Field(discriminator="provider")
]


class CacheConfig(_Strict):
    enabled: bool = True
    ttl: Seconds = Field(default=DEFAULT_CACHE_TTL, gt=0)
    backend: Literal["memory", "postgres"] = "memory"


class ClassifyStep(_Strict):
    """`- classify: {output: urgency, labels: [low, high], model: {...}}`."""

    output: str
    labels: Labels
    prompt: str | None = None
    input: list[str] | None = Field(default=None, min_length=1)
    model: ModelConfig
    default: Any = None
    max_invalid_retries: int = Field(default=2, ge=0, le=5)
    max_prompt_chars: int = Field(default=DEFAULT_MAX_PROMPT_CHARS, ge=256, le=1_000_000)
    cache: CacheConfig = CacheConfig()

    @field_validator("output")
    @classmethod
    def _output_name(cls, value: str) -> str:
        if not _IDENTIFIER.fullmatch(value):
            raise ValueError("output must be an identifier (letters, digits, _), like `urgency`")
        if value in RESERVED_FIELDS:
            raise ValueError(f"output cannot be {value!r}: that name always means the envelope")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: Labels) -> Labels:
        if isinstance(value, dict):
            check_schema(value)
            return value
        if not value:
            raise ValueError("labels needs at least one value")
        if len(value) > MAX_LABELS:
            raise ValueError(f"labels can have at most {MAX_LABELS} values")
        seen: set[str] = set()
        for label in value:
            if not label.strip():
                raise ValueError("labels cannot be empty strings")
            if label.casefold() in seen:
                raise ValueError(f"label {label!r} is listed twice (labels ignore case)")
            seen.add(label.casefold())
        return value

    @field_validator("prompt")
    @classmethod
    def _prompt_references(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError("prompt cannot be empty; leave it out for the default prompt")
        for match in _PROMPT_TOKEN.finditer(value):
            if match.group(0) != "$$" and not match.group(1):
                raise ValueError(
                    f"`$event` at position {match.start()} needs a field, like $event.subject "
                    "(write $$ for a literal $)"
                )
        return value

    @field_validator("input")
    @classmethod
    def _input_paths(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        paths = [_field_path(item) for item in value]
        if len(set(paths)) != len(paths):
            raise ValueError("input lists a field twice")
        return paths

    @field_validator("cache", mode="before")
    @classmethod
    def _cache_shorthand(cls, value: Any) -> Any:
        return {"enabled": value} if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _prompt_fits(self) -> ClassifyStep:
        """A template already over the cap could never render under it; say so at load."""
        if self.prompt is not None and len(self.prompt) > self.max_prompt_chars:
            raise ValueError(
                f"prompt is {len(self.prompt)} characters, more than max_prompt_chars "
                f"({self.max_prompt_chars}); shorten it or raise max_prompt_chars"
            )
        return self

    @model_validator(mode="after")
    def _labels_are_allowed(self) -> ClassifyStep:
        if self.default is not None:
            self._check_allowed(self.default, "default")
        if isinstance(self.model, RulesModel):
            for rule in self.model.rules:
                self._check_allowed(rule.label, "rule label")
            if self.default is None:
                raise ValueError("rules need a `default` label for events no rule matches")
        return self

    def _check_allowed(self, value: Any, what: str) -> None:
        try:
            check_label(self.labels, value)
        except InvalidAnswer as exc:
            raise ValueError(f"{what} {exc.reason}") from None
        if isinstance(self.labels, list) and value not in self.labels:
            raise ValueError(f"{what} {value!r} must be spelled as in labels")
