from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ingestlayer.events import Event
from ingestlayer.templates import (
    MAX_RENDERED_BYTES,
    TemplateError,
    references,
    render,
    render_value,
)


@pytest.fixture
def fields() -> dict[str, Any]:
    event = Event(
        id="evt_1",
        type="user.signed_up",
        timestamp=datetime(2026, 3, 14, 9, 30, tzinfo=UTC),
        payload={
            "name": "Ada",
            "email": "ada@example.com",
            "total": 3.5,
            "seats": 12,
            "active": True,
            "deleted": False,
            "nickname": None,
            "tags": ["beta", "vip"],
            "customer": {"tier": "pro", "city": "Zürich"},
            "items": [{"sku": "A-1"}, {"sku": "B-2"}],
        },
        labels={"urgency": "critical"},
    )
    return event.fields()


# Raw value passthrough


def test_single_reference_returns_raw_string(fields: dict[str, Any]) -> None:
    assert render("$event.name", fields) == "Ada"


def test_single_reference_keeps_number(fields: dict[str, Any]) -> None:
    assert render("$event.total", fields) == 3.5
    assert render("$event.seats", fields) == 12


def test_single_reference_keeps_bool(fields: dict[str, Any]) -> None:
    assert render("$event.active", fields) is True


def test_single_reference_keeps_mapping(fields: dict[str, Any]) -> None:
    assert render("$event.customer", fields) == {"tier": "pro", "city": "Zürich"}


def test_single_reference_keeps_list(fields: dict[str, Any]) -> None:
    assert render("$event.tags", fields) == ["beta", "vip"]


def test_single_reference_to_null_is_none(fields: dict[str, Any]) -> None:
    assert render("$event.nickname", fields) is None


def test_single_reference_to_missing_field_is_none(fields: dict[str, Any]) -> None:
    assert render("$event.nothing", fields) is None
    assert render("$event.customer.nothing.deeper", fields) is None


def test_single_reference_result_does_not_alias_the_event(fields: dict[str, Any]) -> None:
    rendered = render("$event.customer", fields)
    rendered["tier"] = "free"
    assert fields["customer"]["tier"] == "pro"


def test_whole_payload_reference_is_the_payload_mapping(fields: dict[str, Any]) -> None:
    assert render("$event.payload", fields)["email"] == "ada@example.com"


def test_reference_with_surrounding_space_is_interpolated(fields: dict[str, Any]) -> None:
    assert render(" $event.seats", fields) == " 12"
    assert render("$event.seats\n", fields) == "12\n"


def test_single_reference_with_trailing_dot_is_interpolated(fields: dict[str, Any]) -> None:
    assert render("$event.seats.", fields) == "12."


# Interpolation


def test_interpolates_string_fields(fields: dict[str, Any]) -> None:
    assert render("Hi $event.name <$event.email>", fields) == "Hi Ada <ada@example.com>"


def test_interpolates_numbers_as_json(fields: dict[str, Any]) -> None:
    assert render("total=$event.total seats=$event.seats", fields) == "total=3.5 seats=12"


def test_interpolates_bools_as_json(fields: dict[str, Any]) -> None:
    assert render("active=$event.active deleted=$event.deleted", fields) == (
        "active=true deleted=false"
    )


def test_interpolates_containers_as_compact_json(fields: dict[str, Any]) -> None:
    assert render("tags: $event.tags", fields) == 'tags: ["beta","vip"]'
    assert render("c: $event.customer", fields) == 'c: {"tier":"pro","city":"Zürich"}'


def test_interpolates_null_as_empty(fields: dict[str, Any]) -> None:
    assert render("[$event.nickname]", fields) == "[]"


def test_interpolates_missing_as_empty(fields: dict[str, Any]) -> None:
    assert render("[$event.nothing]", fields) == "[]"


def test_interpolates_nested_paths_and_list_indices(fields: dict[str, Any]) -> None:
    assert render("$event.customer.tier/$event.items.1.sku", fields) == "pro/B-2"


def test_interpolates_labels_and_envelope(fields: dict[str, Any]) -> None:
    rendered = render("[$event.urgency] $event.type $event.id at $event.timestamp", fields)
    assert rendered == "[critical] user.signed_up evt_1 at 2026-03-14T09:30:00Z"


def test_adjacent_references(fields: dict[str, Any]) -> None:
    assert render("$event.name$event.seats", fields) == "Ada12"


def test_same_reference_twice(fields: dict[str, Any]) -> None:
    assert render("$event.name & $event.name", fields) == "Ada & Ada"


def test_template_without_references_is_unchanged(fields: dict[str, Any]) -> None:
    assert render("plain text, 100% literal", fields) == "plain text, 100% literal"


def test_empty_template_is_empty_string(fields: dict[str, Any]) -> None:
    assert render("", fields) == ""


def test_interpolated_value_is_not_rendered_again() -> None:
    assert render("x $event.a", {"a": "$event.b", "b": "no"}) == "x $event.b"


def test_other_types_interpolate_with_str() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    assert render("at $event.when", {"when": when}) == f"at {when}"


# Path boundaries


def test_trailing_dot_is_not_part_of_path(fields: dict[str, Any]) -> None:
    assert render("Hi $event.name.", fields) == "Hi Ada."


def test_dot_before_non_segment_character_ends_path(fields: dict[str, Any]) -> None:
    assert render("$event.name.-x and $event.name. next", fields) == "Ada.-x and Ada. next"


def test_path_stops_at_punctuation(fields: dict[str, Any]) -> None:
    assert render("$event.name, $event.name! ($event.name)", fields) == "Ada, Ada! (Ada)"


def test_path_stops_at_dash(fields: dict[str, Any]) -> None:
    assert render("$event.name-suffix", fields) == "Ada-suffix"


def test_dot_segment_after_string_resolves_missing(fields: dict[str, Any]) -> None:
    assert render("[$event.name.first]", fields) == "[]"


def test_event_without_path_is_literal(fields: dict[str, Any]) -> None:
    assert render("$event", fields) == "$event"
    assert render("$event.", fields) == "$event."
    assert render("cost $event. total", fields) == "cost $event. total"


def test_other_dollar_words_are_literal(fields: dict[str, Any]) -> None:
    assert render("$5 and $events.name and $name", fields) == "$5 and $events.name and $name"


def test_lone_dollar_is_literal(fields: dict[str, Any]) -> None:
    assert render("$", fields) == "$"
    assert render("price: 5$", fields) == "price: 5$"


# Escapes and secrets


def test_double_dollar_renders_one_dollar(fields: dict[str, Any]) -> None:
    assert render("costs $$5", fields) == "costs $5"


def test_double_dollar_escapes_a_reference(fields: dict[str, Any]) -> None:
    assert render("$$event.name is $event.name", fields) == "$event.name is Ada"


def test_double_dollar_alone_is_a_dollar_string(fields: dict[str, Any]) -> None:
    assert render("$$", fields) == "$"


def test_four_dollars_render_two(fields: dict[str, Any]) -> None:
    assert render("$$$$", fields) == "$$"


def test_triple_dollar_then_reference(fields: dict[str, Any]) -> None:
    assert render("$$$event.name", fields) == "$Ada"


def test_env_reference_is_left_untouched(fields: dict[str, Any]) -> None:
    assert render("${SLACK_BOT_TOKEN}", fields) == "${SLACK_BOT_TOKEN}"


def test_env_reference_next_to_event_reference(fields: dict[str, Any]) -> None:
    assert render("Bearer ${TOKEN} for $event.name", fields) == "Bearer ${TOKEN} for Ada"


def test_env_reference_named_like_event_is_untouched(fields: dict[str, Any]) -> None:
    assert render("${event.name}", fields) == "${event.name}"


# render_value


def test_render_value_renders_nested_strings(fields: dict[str, Any]) -> None:
    config = {
        "channel": "#alerts",
        "text": "New signup: $event.name",
        "blocks": [{"value": "$event.seats"}, "$event.customer.tier"],
        "meta": {"tags": "$event.tags"},
    }
    assert render_value(config, fields) == {
        "channel": "#alerts",
        "text": "New signup: Ada",
        "blocks": [{"value": 12}, "pro"],
        "meta": {"tags": ["beta", "vip"]},
    }


def test_render_value_leaves_keys_untouched(fields: dict[str, Any]) -> None:
    assert render_value({"$event.name": "$event.name"}, fields) == {"$event.name": "Ada"}


def test_render_value_returns_other_types_as_is(fields: dict[str, Any]) -> None:
    assert render_value(5, fields) == 5
    assert render_value(None, fields) is None
    assert render_value(True, fields) is True
    assert render_value([1.5, None], fields) == [1.5, None]


def test_render_value_keeps_env_references(fields: dict[str, Any]) -> None:
    config = {"token": "${SLACK_BOT_TOKEN}", "to": "$event.email"}
    assert render_value(config, fields) == {"token": "${SLACK_BOT_TOKEN}", "to": "ada@example.com"}


def test_render_value_does_not_mutate_its_input(fields: dict[str, Any]) -> None:
    config = {"text": ["$event.name"]}
    render_value(config, fields)
    assert config == {"text": ["$event.name"]}


def test_render_value_of_a_string_is_render(fields: dict[str, Any]) -> None:
    assert render_value("$event.seats", fields) == 12


# references


def test_references_lists_paths_in_order() -> None:
    template = "$event.name <$event.email> $event.customer.tier $event.items.0.sku"
    assert references(template) == ["name", "email", "customer.tier", "items.0.sku"]


def test_references_excludes_escapes_and_env_refs() -> None:
    assert references("$$event.name ${TOKEN} $$ $event. $event.x.") == ["x"]


def test_references_of_plain_text_is_empty() -> None:
    assert references("plain") == []


# Limits and errors


def test_output_at_size_limit_renders() -> None:
    rendered = render("$event.a$event.a", {"a": "x" * (MAX_RENDERED_BYTES // 2)})
    assert len(rendered) == MAX_RENDERED_BYTES


def test_output_over_size_limit_raises() -> None:
    with pytest.raises(TemplateError) as caught:
        render("ab $event.a", {"a": "x" * MAX_RENDERED_BYTES})
    assert "larger than" in caught.value.message
    assert caught.value.position == 3


def test_size_limit_counts_utf8_bytes() -> None:
    with pytest.raises(TemplateError):
        render("-$event.a", {"a": "é" * (MAX_RENDERED_BYTES // 2)})


def test_literal_text_over_size_limit_raises() -> None:
    with pytest.raises(TemplateError):
        render("x" * (MAX_RENDERED_BYTES + 1), {})


def test_template_error_is_a_value_error_with_position() -> None:
    error = TemplateError("rendered text is too large", 7)
    assert isinstance(error, ValueError)
    assert str(error) == "rendered text is too large at position 7"


def test_single_reference_to_large_value_is_not_limited() -> None:
    big = "x" * (MAX_RENDERED_BYTES + 1)
    assert render("$event.a", {"a": big}) == big
