"""The configured limits, each with a clear error and a stable code: template output size,
classify prompt size, destinations and steps per pipeline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from activities.deliver import run_delivery
from ingestlayer.classify import DEFAULT_MAX_PROMPT_CHARS, ClassifyStep, build_request
from ingestlayer.config import MAX_DESTINATIONS, MAX_STEPS, ConfigError, StepSpec, parse_text
from ingestlayer.destinations import PermanentError
from ingestlayer.events import Event
from ingestlayer.status import DeliveryInput
from ingestlayer.templates import (
    MAX_RENDERED_BYTES,
    TemplateTooLarge,
    render,
    render_value,
)
from workflows.steps import apply_pure_step

HALF = "x" * (MAX_RENDERED_BYTES // 2 + 1)


def _event(**payload: Any) -> Event:
    return Event(
        id="evt_limits",
        type="support.ticket",
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        payload=payload,
    )


def _pipeline(steps: list[Any] | None = None, destinations: int = 0) -> str:
    entry: dict[str, Any] = {"name": "big", "on": "support.*"}
    if steps is not None:
        entry["steps"] = steps
    if destinations:
        entry["destinations"] = [
            {"name": f"hook-{i}", "webhook": {"url": f"https://example.com/{i}"}}
            for i in range(destinations)
        ]
    return yaml.safe_dump({"pipelines": [entry]}, sort_keys=False)


def _config_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_text(text, "pipelines/big.yml")
    return info.value


# --- template output size -------------------------------------------------------------


def test_the_template_limit_is_64_kib() -> None:
    assert MAX_RENDERED_BYTES == 64 * 1024


def test_rendered_text_over_the_limit_names_the_field_and_has_the_code() -> None:
    with pytest.raises(TemplateTooLarge) as info:
        render("$event.a/$event.a", {"a": HALF}, field="columns.note")
    assert info.value.code == "template_too_large"
    assert info.value.field == "columns.note"
    assert str(info.value).startswith("`columns.note`: rendered text is larger than 65536 bytes")


def test_text_at_the_limit_renders_whole() -> None:
    rendered = render("$event.a$event.a", {"a": "y" * (MAX_RENDERED_BYTES // 2)})
    assert rendered == "y" * MAX_RENDERED_BYTES


def test_a_lone_reference_passes_the_value_through_whatever_its_size() -> None:
    big = "z" * (MAX_RENDERED_BYTES * 2)
    assert render("$event.a", {"a": big}) == big


def test_nested_values_name_the_path_to_the_template() -> None:
    with pytest.raises(TemplateTooLarge) as info:
        render_value({"blocks": [{"text": "$event.a $event.a"}]}, {"a": HALF}, "set.x")
    assert info.value.field == "set.x.blocks[0].text"


async def test_a_slack_template_over_the_limit_is_a_permanent_delivery_error() -> None:
    args = DeliveryInput(
        pipeline="p",
        destination="chat",
        kind="slack",
        options={
            "channel": "#alerts",
            "token": "xoxb-not-used",
            "base_url": "http://127.0.0.1:9/api/",
            "template": "$event.a and $event.a",
        },
        event=_event(a=HALF),
    )
    with pytest.raises(PermanentError) as info:
        await run_delivery(args, attempt=1)
    assert info.value.code == "template_too_large"
    assert "`template`" in info.value.message


def test_a_set_step_over_the_limit_fails_instead_of_truncating() -> None:
    step = StepSpec(kind="set", args={"summary": "$event.a $event.a"})
    event, outcome = apply_pure_step(step, _event(a=HALF))
    assert event is None
    assert outcome.outcome == "failed"
    assert outcome.detail["error"]["code"] == "template_too_large"
    assert "set.summary" in outcome.detail["error"]["message"]


# --- classify prompt size -------------------------------------------------------------


def _classify(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "output": "urgency",
        "labels": ["low", "high"],
        "model": {"provider": "openai", "model": "gpt-4o-mini", "api_key": "${OPENAI_API_KEY}"},
    }
    config.update(overrides)
    return config


def test_the_default_prompt_cap_is_32000_characters() -> None:
    assert DEFAULT_MAX_PROMPT_CHARS == 32_000
    assert ClassifyStep.model_validate(_classify()).max_prompt_chars == 32_000


def test_a_prompt_template_over_the_cap_fails_at_config_load() -> None:
    error = _config_error(
        _pipeline([{"classify": _classify(prompt="p" * 300, max_prompt_chars=256)}])
    )
    assert error.path == "pipelines/big.yml"
    assert error.line == 6
    assert "prompt is 300 characters, more than max_prompt_chars (256)" in error.reason


def test_a_rendered_prompt_over_the_cap_is_a_prompt_too_large_error() -> None:
    step = ClassifyStep.model_validate(_classify(prompt="Ticket: $event.body"))
    with pytest.raises(PermanentError) as info:
        build_request(step, _event(body="é" * 32_000))
    assert info.value.code == "prompt_too_large"
    assert "max_prompt_chars (32000)" in info.value.message
    assert info.value.hint is not None and "max_prompt_chars" in info.value.hint


def test_raising_max_prompt_chars_lets_a_longer_prompt_through() -> None:
    step = ClassifyStep.model_validate(
        _classify(prompt="Ticket: $event.body", max_prompt_chars=100_000)
    )
    request = build_request(step, _event(body="é" * 32_000))
    assert "é" * 32_000 in request.prompt


# --- destinations and steps per pipeline ----------------------------------------------


def test_the_pipeline_caps_are_20_destinations_and_50_steps() -> None:
    assert (MAX_DESTINATIONS, MAX_STEPS) == (20, 50)


def test_twenty_destinations_load() -> None:
    [spec] = parse_text(_pipeline(destinations=MAX_DESTINATIONS))
    assert len(spec.destinations) == MAX_DESTINATIONS


def test_more_destinations_than_the_cap_is_a_config_error_with_file_and_line() -> None:
    error = _config_error(_pipeline(destinations=MAX_DESTINATIONS + 1))
    assert error.path == "pipelines/big.yml"
    assert error.line == 5
    assert "at most 20 destinations, this one has 21" in error.reason
    assert str(error).startswith("pipelines/big.yml:5: pipelines[0].destinations: ")


def test_fifty_steps_load_and_fifty_one_do_not() -> None:
    steps = [{"filter.match": "true"}] * MAX_STEPS
    [spec] = parse_text(_pipeline(steps))
    assert len(spec.steps) == MAX_STEPS
    error = _config_error(_pipeline([*steps, {"filter.match": "true"}]))
    assert error.line == 5
    assert "at most 50 steps, this one has 51" in error.reason
