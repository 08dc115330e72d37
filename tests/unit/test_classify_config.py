"""The classify step's config: what loads, what it defaults to, and the reason a bad one fails."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from ingestlayer.classify import (
    CacheConfig,
    ClassifyStep,
    OpenAIModel,
    build_request,
    cache_key,
    default_prompt,
)
from ingestlayer.events import Event

EXAMPLE = """
output: urgency
labels: [low, high, critical]
prompt: "A $event.customer.tier customer wrote: $event.subject"
input: [subject, body, customer.tier]
model:
  provider: openai
  model: gpt-4o-mini
  api_key: ${OPENAI_API_KEY}
default: low
cache: {ttl: 1d, backend: postgres}
"""


def step(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "output": "urgency",
        "labels": ["low", "high", "critical"],
        "model": {"provider": "openai", "model": "gpt-4o-mini", "api_key": "${OPENAI_API_KEY}"},
    }
    config.update(overrides)
    return config


def rules(**overrides: Any) -> dict[str, Any]:
    model = {"provider": "rules", "rules": [{"label": "critical", "keywords": ["outage"]}]}
    model.update(overrides)
    return model


def error_for(config: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        ClassifyStep.model_validate(config)
    return str(info.value)


def test_documented_example_loads_from_yaml() -> None:
    parsed = ClassifyStep.model_validate(yaml.safe_load(EXAMPLE))
    assert parsed.input == ["subject", "body", "customer.tier"]
    assert parsed.cache == CacheConfig(enabled=True, ttl=86400.0, backend="postgres")
    assert isinstance(parsed.model, OpenAIModel)
    assert parsed.model.api_key == "${OPENAI_API_KEY}"  # resolved only in the worker


def test_defaults() -> None:
    parsed = ClassifyStep.model_validate(step())
    assert parsed.prompt is None and parsed.input is None and parsed.default is None
    assert parsed.max_invalid_retries == 2
    assert parsed.cache == CacheConfig(enabled=True, ttl=86400.0, backend="memory")
    assert isinstance(parsed.model, OpenAIModel)
    assert (parsed.model.base_url, parsed.model.timeout, parsed.model.temperature) == (
        "https://api.openai.com/v1",
        30.0,
        0.0,
    )


def test_config_survives_the_trip_through_workflow_history() -> None:
    parsed = ClassifyStep.model_validate(yaml.safe_load(EXAMPLE))
    assert ClassifyStep.model_validate(parsed.model_dump(mode="json")) == parsed


@pytest.mark.parametrize(
    ("cache", "expected"),
    [
        (True, CacheConfig()),
        (False, CacheConfig(enabled=False)),
        ({"ttl": "5m"}, CacheConfig(ttl=300.0)),
        (
            {"enabled": True, "ttl": 90, "backend": "postgres"},
            CacheConfig(ttl=90.0, backend="postgres"),
        ),
    ],
)
def test_cache_shorthands(cache: Any, expected: CacheConfig) -> None:
    assert ClassifyStep.model_validate(step(cache=cache)).cache == expected


def test_every_provider_loads() -> None:
    anthropic = step(
        model={"provider": "anthropic", "model": "claude-haiku-4-5", "api_key": "${ANTHROPIC_KEY}"}
    )
    python = step(model={"provider": "python", "callable": "acme.models.tickets:classify"})
    rule_based = step(model=rules(), default="low")
    local = step(
        model={"provider": "openai", "model": "llama3", "base_url": "http://ollama:11434/v1/"}
    )
    for config in (anthropic, python, rule_based, local):
        ClassifyStep.model_validate(config)
    assert ClassifyStep.model_validate(local).model.base_url == "http://ollama:11434/v1"  # type: ignore[union-attr]


def test_step_is_frozen() -> None:
    parsed = ClassifyStep.model_validate(step())
    with pytest.raises(ValidationError):
        parsed.output = "other"  # type: ignore[misc]


def test_literal_dollars_in_the_prompt_are_allowed() -> None:
    ClassifyStep.model_validate(step(prompt="Orders over $$100 from $event.customer.name"))


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (step(default="urgent"), 'default "urgent" is not one of: low, high, critical'),
        (step(default="High"), "default 'High' must be spelled as in labels"),
        (
            step(model=rules(rules=[{"label": "x", "pattern": "(unclosed"}]), default="low"),
            "is not a valid regex",
        ),
        (
            step(model=rules(rules=[{"label": "critical"}]), default="low"),
            "needs `keywords` or `pattern`",
        ),
        (
            step(model=rules(rules=[{"label": "panic", "keywords": ["x"]}]), default="low"),
            'rule label "panic" is not one of',
        ),
        (step(model=rules()), "rules need a `default` label"),
        (step(prompt="Classify $event please"), "`$event` at position 9 needs a field"),
        (step(prompt="   "), "prompt cannot be empty"),
        (
            step(model={"provider": "python", "callable": "acme.models.classify"}),
            "callable must look like `package.module:function`",
        ),
        (
            step(model={"provider": "openai", "model": "gpt-4o-mini", "api_key": "sk-live-123"}),
            "api_key must be a ${ENV_NAME} reference",
        ),
        (
            step(model={"provider": "openai", "model": "m", "base_url": "ftp://models.local"}),
            "base_url must be an absolute http(s) URL",
        ),
        (
            step(model={"provider": "anthropic", "model": "claude-haiku-4-5"}),
            "api_key\n  Field required",
        ),
        (
            step(model={"provider": "gemini", "model": "x"}),
            "does not match any of the expected tags",
        ),
        (
            step(model={"provider": "openai", "model": "m", "temprature": 0}),
            "Extra inputs are not permitted",
        ),
        (step(output="urgency level"), "output must be an identifier"),
        (step(output="type"), "output cannot be 'type'"),
        (step(labels=[]), "labels needs at least one value"),
        (step(labels=["low", "Low"]), "label 'Low' is listed twice"),
        (step(labels={"type": "strin"}), "labels is not a valid JSON Schema"),
        (
            step(labels={"type": "integer", "maximum": 5}, default=9),
            "default 9 does not match the label schema",
        ),
        (step(input=["customer..tier"]), "is not a field path"),
        (step(input=["subject", "$event.subject"]), "input lists a field twice"),
        (step(max_invalid_retries=10), "less than or equal to 5"),
        (step(cache={"backend": "redis"}), "'memory' or 'postgres'"),
        (step(cache={"ttl": "soon"}), "a duration is a number of seconds"),
        (step(cache={"ttl": 0}), "greater than 0"),
        (step(surprise=True), "Extra inputs are not permitted"),
    ],
)
def test_bad_config_fails_at_load_with_the_reason(config: dict[str, Any], reason: str) -> None:
    assert reason in error_for(config)


# --- what the step asks (pure, no servers) --------------------------------------------------


def event(payload: dict[str, Any], event_id: str = "evt_1") -> Event:
    when = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
    return Event(id=event_id, type="support.ticket.created", timestamp=when, payload=payload)


def test_default_prompt_lists_the_labels() -> None:
    parsed = ClassifyStep.model_validate(step())
    assert default_prompt(parsed) == (
        "Classify the event below. Set `urgency` to exactly one of these labels: "
        "low, high, critical."
    )


def test_cache_key_ignores_the_envelope_and_follows_the_input() -> None:
    parsed = ClassifyStep.model_validate(step())
    first = build_request(parsed, event({"subject": "down"}, "evt_1"))
    second = build_request(parsed, event({"subject": "down"}, "evt_2"))
    other = build_request(parsed, event({"subject": "slow"}, "evt_3"))
    assert cache_key(parsed, first) == cache_key(parsed, second)
    assert cache_key(parsed, first) != cache_key(parsed, other)
    cheaper = ClassifyStep.model_validate(step(model={**step()["model"], "model": "gpt-4.1-nano"}))
    assert cache_key(cheaper, first) != cache_key(parsed, first)


def test_the_prompt_cap_applies_only_when_a_language_model_reads_it() -> None:
    big = event({"body": "x" * 40_000})
    rule_based = ClassifyStep.model_validate(step(model=rules(), default="low"))
    assert build_request(rule_based, big).input == {"body": "x" * 40_000}
