"""Property tests for `$event` templates: any payload and any text render or fail with the typed
error, a reference renders the value at its path, and `$$` is the only escape."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from ingestlayer.templates import TemplateError, references, render, render_value

SEGMENT = re.compile(r"[A-Za-z0-9_]")

odd_keys = st.one_of(
    st.from_regex(r"[A-Za-z0-9_]{1,6}", fullmatch=True),
    st.text(max_size=6),
    st.sampled_from(["", " ", ".", "$event", "${X}", "$$", "a.b", "é", "0"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
    st.sampled_from(["$event.a", "$$", "${SECRET}", "\u0000", "\ud7ff\ue000", "😀"]),
)
payloads = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(odd_keys, inner, max_size=4)
    ),
    max_leaves=20,
)
field_maps = st.dictionaries(odd_keys, payloads, max_size=6)
template_noise = st.lists(
    st.one_of(
        st.text(max_size=5),
        st.sampled_from(["$", "$$", "$event", "$event.", ".", "${", "}", "a", "0", "_", "é"]),
    ),
    max_size=16,
).map("".join)
templates_text = st.one_of(st.text(), template_noise)


def walk(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every (path, value) a template can name: segments of letters, digits and `_`."""
    found = [(prefix, value)] if prefix else []
    if isinstance(value, dict):
        items: list[tuple[str, Any]] = list(value.items())
    elif isinstance(value, list):
        items = [(str(i), item) for i, item in enumerate(value)]
    else:
        items = []
    for key, item in items:
        if key and all(SEGMENT.fullmatch(c) for c in key):
            found += walk(item, (*prefix, key))
    return found


def as_interpolated(value: Any) -> str:
    """The documented rule: strings as they are, null as nothing, anything else as JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def interpolation_agrees(rendered: str, value: Any) -> bool:
    if value is None or isinstance(value, str):
        return rendered == as_interpolated(value)
    return bool(json.loads(rendered) == value) and "\n" not in rendered


def escape(text: str) -> str:
    return text.replace("$", "$$")


@given(templates_text, field_maps)
@example("$event.", {})
@example("$event.a.", {"a": {"": 1}})
@example("$$event.a", {"a": 1})
@example("$event.a$", {"a": "$"})
def test_any_template_and_payload_render_or_raise_the_typed_error(
    template: str, fields: dict[str, Any]
) -> None:
    try:
        rendered = render(template, fields)
    except TemplateError as exc:
        assert 0 <= exc.position <= len(template)
        return
    if "$event." not in template:
        assert isinstance(rendered, str)
    for path in references(template):
        assert template.find("$event." + path) >= 0


@given(st.text().filter(lambda t: "$" not in t), field_maps)
@example("${SECRET} and {x}", {"SECRET": "no"})
def test_text_without_a_dollar_renders_unchanged(text: str, fields: dict[str, Any]) -> None:
    assert render(text, fields) == text
    assert references(text) == []


@given(templates_text, field_maps)
@example("$event.a", {"a": 1})
@example("$$$event.a", {"a": 1})
@example("${TOKEN}", {})
def test_doubling_every_dollar_renders_the_text_back(text: str, fields: dict[str, Any]) -> None:
    assert render(escape(text), fields) == text
    assert references(escape(text)) == []


@given(field_maps.filter(walk), st.data())
def test_a_lone_reference_is_the_value_at_its_path(
    fields: dict[str, Any], data: st.DataObject
) -> None:
    path, value = data.draw(st.sampled_from(walk(fields)))
    rendered = render("$event." + ".".join(path), fields)
    assert rendered == value
    if isinstance(value, dict | list) and value:
        assert rendered is not value


stops = st.text(max_size=4).filter(lambda t: not t or not SEGMENT.match(t[0]))
suffixes = st.one_of(
    stops.filter(lambda t: not t.startswith(".")),
    stops.map(lambda t: "." + t).filter(lambda t: len(t) == 1 or not SEGMENT.match(t[1])),
)


@given(field_maps.filter(walk), st.text().filter(lambda t: "$" not in t), suffixes, st.data())
def test_an_embedded_reference_interpolates_the_value_at_its_path(
    fields: dict[str, Any], prefix: str, suffix: str, data: st.DataObject
) -> None:
    path, value = data.draw(st.sampled_from(walk(fields)))
    prefix = prefix or "x"
    dotted = ".".join(path)
    rendered = render(f"{prefix}$event.{dotted}{suffix}", fields)
    assert isinstance(rendered, str)
    assert rendered.startswith(prefix) and rendered.endswith(suffix)
    middle = rendered[len(prefix) : len(rendered) - len(suffix)]
    assert interpolation_agrees(middle, value), (middle, value)
    assert references(f"{prefix}$event.{dotted}{suffix}") == [dotted]


@given(st.lists(st.from_regex(r"[A-Za-z0-9_]{1,6}", fullmatch=True), min_size=1, max_size=3))
def test_a_missing_path_renders_as_nothing(path: list[str]) -> None:
    dotted = ".".join(path)
    assert render(f"$event.{dotted}", {}) is None
    assert render(f"<$event.{dotted}>", {}) == "<>"


@given(payloads, field_maps)
def test_render_value_keeps_the_shape_and_never_renders_keys(
    config: Any, fields: dict[str, Any]
) -> None:
    rendered = render_value(config, fields)

    def same_shape(before: Any, after: Any) -> None:
        if isinstance(before, dict):
            assert isinstance(after, dict) and list(after) == list(before)
            for key in before:
                same_shape(before[key], after[key])
        elif isinstance(before, list):
            assert isinstance(after, list) and len(after) == len(before)
            for old, new in zip(before, after, strict=True):
                same_shape(old, new)
        elif not isinstance(before, str):
            assert after == before

    same_shape(config, rendered)
