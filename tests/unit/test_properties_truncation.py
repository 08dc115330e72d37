"""Property tests for Slack's Block Kit caps and Notion's rich-text limits: whatever the event,
the message or page stays under every cap, and anything cut is marked, never silently lost."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ingestlayer.destinations import blockkit
from ingestlayer.destinations import notion_values as nv
from ingestlayer.destinations.base import DeliveryContext
from ingestlayer.destinations.slack import SlackDestination
from ingestlayer.events import Event
from ingestlayer.templates import TemplateTooLarge
from tests.fakes.slack import block_problems

CTX = DeliveryContext(pipeline="p", destination="d", public_base_url="https://il.example.com/")
ELLIPSIS = "…"

# Slack: the caps as the Block Kit reference states them
SLACK_BLOCKS = 50
SLACK_SECTION_TEXT = 3000
SLACK_FIELDS = 10
SLACK_FIELD_TEXT = 2000
SLACK_HEADER = 150
SLACK_CONTEXT_ELEMENTS = 10
SLACK_ALT_TEXT = 2000

runs = st.tuples(
    st.sampled_from(["a", "&", "<b>", "é", "\n", "😀", "*", "x y", "$", "`"]),
    st.sampled_from([0, 1, 3, 40, 149, 150, 151, 199, 200, 201, 700, 1999, 2000, 2001, 3001]),
).map(lambda pair: pair[0] * pair[1])
texts_ = st.one_of(st.text(max_size=12), runs, st.lists(runs, max_size=3).map("".join))
names = st.one_of(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), texts_.filter(bool))
values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), texts_),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=3)),
    max_leaves=6,
)
payloads = st.dictionaries(names, values, max_size=60)


def make_event(payload: dict[str, Any], labels: dict[str, Any]) -> Event:
    return Event(
        id="evt_" + "b" * 32,
        type="order.created",
        timestamp=datetime(2026, 6, 3, 12, 0, tzinfo=UTC),
        payload=payload,
        labels=labels,
    )


def strings_in(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings_in(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings_in(item)]
    return [value] if isinstance(value, str) else []


def assert_under_slack_caps(blocks: list[dict[str, Any]]) -> None:
    assert block_problems(blocks) == []
    assert len(blocks) <= SLACK_BLOCKS
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            assert 1 <= len(block["text"]["text"]) <= SLACK_HEADER
        if kind == "section":
            if "text" in block:
                assert 1 <= len(block["text"]["text"]) <= SLACK_SECTION_TEXT
            assert len(block.get("fields", [])) <= SLACK_FIELDS
            assert all(1 <= len(f["text"]) <= SLACK_FIELD_TEXT for f in block.get("fields", []))
        if kind == "context":
            assert 1 <= len(block["elements"]) <= SLACK_CONTEXT_ELEMENTS
            assert all(
                1 <= len(e.get("text", " ")) <= SLACK_SECTION_TEXT for e in block["elements"]
            )
        if kind == "image":
            assert len(block.get("alt_text", "")) <= SLACK_ALT_TEXT


def link_block(event: Event) -> dict[str, Any]:
    return blockkit.full_payload_link(CTX.event_url(event))


def assert_marked(message: blockkit.Message, event: Event) -> None:
    """Truncated means the link closes the message; the link appears only then."""
    has_link = bool(message.blocks) and message.blocks[-1] == link_block(event)
    assert has_link is message.truncated
    assert sum(block == link_block(event) for block in message.blocks) == int(message.truncated)


def assert_whole_entities(blocks: list[dict[str, Any]]) -> None:
    """Escaped event text is never cut inside `&amp;`, `&lt;` or `&gt;`."""
    for text in strings_in(blocks):
        for start in (i for i, char in enumerate(text) if char == "&"):
            assert text.startswith(("&amp;", "&lt;", "&gt;"), start), text[start : start + 6]


def shown_text(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(strings_in(blocks))


@settings(max_examples=120)
@given(
    payloads,
    st.dictionaries(names, values, max_size=5),
    st.one_of(st.none(), texts_, st.just("$event.title"), st.just("Order $event.id!")),
    st.one_of(st.none(), st.lists(names, max_size=12)),
)
@example({"a": "x"}, {}, "t" * 151, None)
@example({"title": "&" * 149}, {}, "$event.title", None)
@example({"note": "&" * 3001}, {}, None, None)
@example({"n": "a" + "<" * 700}, {}, None, ["n", "n", "n", "n", "n", "n", "n", "n", "n", "n", "n"])
def test_default_message_stays_under_the_caps_and_never_drops_a_field_unmarked(
    payload: dict[str, Any],
    labels: dict[str, Any],
    title: str | None,
    fields: list[str] | None,
) -> None:
    event = make_event(payload, labels)
    options: dict[str, Any] = {"channel": "#c", "token": "${T}"}
    if title is not None:
        options["title"] = title
    if fields is not None:
        options["fields"] = fields
    message = SlackDestination.model_validate(options).message(event, CTX)
    assert_under_slack_caps(message.blocks)
    assert_marked(message, event)
    assert message.text
    assert_whole_entities(message.blocks[1:-1] if message.truncated else message.blocks[1:])
    if message.truncated:
        assert ELLIPSIS in shown_text(message.blocks[:-1]) or len(message.blocks) == SLACK_BLOCKS
        return
    shown = shown_text(message.blocks)
    expected_title = blockkit.render_text(title, event.fields()) if title else ""
    assert message.blocks[0]["text"]["text"] == (expected_title or event.type)
    for name, value in blockkit.key_fields(event, fields):
        text = blockkit.as_text(value)
        if text:
            assert blockkit.escape(text) in shown
            assert blockkit.escape(name) in shown
    assert event.id in shown


template_parts = st.one_of(
    texts_, st.sampled_from(["$event.a", "$event.b", "\n", "\n\n", "$event.a\n", "$$", "${X}"])
)


@settings(max_examples=120)
@given(
    st.lists(template_parts, max_size=12).map("".join).filter(lambda t: t.strip()),
    st.fixed_dictionaries({"a": texts_, "b": values}),
)
@example("a" * 3000 + "\n" + "b" * 3000, {"a": "", "b": None})
@example("$event.a" * 11, {"a": "&" * 3001, "b": None})
def test_template_message_keeps_every_character_or_marks_the_cut(
    template: str, payload: dict[str, Any]
) -> None:
    event = make_event(payload, {})
    dest = SlackDestination.model_validate({"channel": "#c", "token": "${T}", "template": template})
    try:
        message = dest.message(event, CTX)
    except TemplateTooLarge as exc:
        assert exc.field == "template"
        return
    assert_under_slack_caps(message.blocks)
    assert_marked(message, event)
    rendered = blockkit.render_text(template, blockkit.escaped_fields(event))
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    if message.truncated:
        assert sections[-1].endswith(ELLIPSIS)
        assert rendered.replace("\n", "").startswith(
            "".join(sections)[:-1].replace("\n", "").rstrip()
        )
    elif rendered.strip():
        assert "".join(sections).replace("\n", "").strip() == rendered.replace("\n", "").strip()


text_objects = st.builds(lambda t: {"type": "mrkdwn", "text": t}, texts_)
raw_blocks = st.one_of(
    st.builds(lambda t: {"type": "header", "text": {"type": "plain_text", "text": t}}, texts_),
    st.builds(lambda t: {"type": "section", "text": t}, text_objects),
    st.builds(lambda f: {"type": "section", "fields": f}, st.lists(text_objects, max_size=14)),
    st.builds(
        lambda t, f: {"type": "section", "text": t, "fields": f},
        text_objects,
        st.lists(text_objects, min_size=1, max_size=12),
    ),
    st.builds(
        lambda e: {"type": "context", "elements": e},
        st.lists(text_objects, min_size=1, max_size=14),
    ),
    st.builds(
        lambda t: {"type": "image", "image_url": "https://x.example/i.png", "alt_text": t},
        texts_,
    ),
    st.just({"type": "divider"}),
)


def cut_or_kept(before: str, after: str, cap: int) -> str:
    if after == before or (not before and after == " "):
        return "kept"
    assert len(before) > cap, (before[:40], after[:40])
    assert after.endswith(ELLIPSIS) and before.startswith(after[:-1])
    return "cut"


@settings(max_examples=150)
@given(st.lists(raw_blocks, max_size=60), st.text(max_size=400))
@example([{"type": "header", "text": {"type": "plain_text", "text": ""}}], "x")
@example([{"type": "section", "fields": [{"type": "mrkdwn", "text": ""}]}], "x")
@example([{"type": "context", "elements": [{"type": "mrkdwn", "text": ""}]}], "x")
def test_fit_cuts_only_what_is_over_a_cap_and_always_says_so(
    blocks: list[dict[str, Any]], fallback: str
) -> None:
    event = make_event({}, {})
    message = blockkit.fit(blocks, fallback, CTX.event_url(event))
    assert_under_slack_caps(message.blocks)
    assert_marked(message, event)
    kept = message.blocks[:-1] if message.truncated else message.blocks
    changes = []
    if len(kept) < len(blocks):
        changes.append("blocks")
    for before, after in zip(blocks, kept, strict=False):
        assert before["type"] == after["type"]
        if before["type"] == "header":
            changes.append(cut_or_kept(before["text"]["text"], after["text"]["text"], SLACK_HEADER))
        if before["type"] == "section" and "text" in after and before["text"]["text"].strip():
            changes.append(
                cut_or_kept(before["text"]["text"], after["text"]["text"], SLACK_SECTION_TEXT)
            )
        for key, cap, text_cap in (
            ("fields", SLACK_FIELDS, SLACK_FIELD_TEXT),
            ("elements", SLACK_CONTEXT_ELEMENTS, SLACK_SECTION_TEXT),
        ):
            if key in before:
                if len(before[key]) > cap:
                    changes.append(key)
                for old, new in zip(before[key], after[key], strict=False):
                    changes.append(cut_or_kept(old["text"], new["text"], text_cap))
        if before["type"] == "image":
            changes.append(cut_or_kept(before["alt_text"], after["alt_text"], SLACK_ALT_TEXT))
    was_cut = any(change != "kept" for change in changes)
    assert message.truncated is was_cut
    assert len(message.text) <= blockkit.MAX_FALLBACK and message.text


# Notion: the limits as its "Request limits" page states them, lengths as JavaScript counts them

NOTION_TEXT = 2000
NOTION_OBJECTS = 100
NOTION_CHILDREN = 100
NOTION_REQUEST_BYTES = 500_000


def js_length(text: str) -> int:
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


def contents(objects: list[dict[str, Any]]) -> list[str]:
    return [o["text"]["content"] for o in objects]


notion_runs = st.tuples(
    st.sampled_from(["a", "😀", "é", "漢", "\n", "a😀", "\U0010ffff", "\ud800"]),
    st.sampled_from([0, 1, 999, 1000, 1001, 1999, 2000, 2001, 4001, 100_001, 200_000]),
).map(lambda pair: pair[0] * pair[1])
notion_texts = st.one_of(
    st.text(max_size=30), notion_runs, st.lists(notion_runs, max_size=3).map("".join)
)


short_notion_texts = st.one_of(
    st.text(max_size=30),
    st.tuples(st.sampled_from(["a", "😀", "漢"]), st.sampled_from([1, 1999, 2001])).map(
        lambda pair: pair[0] * pair[1]
    ),
)


@settings(max_examples=80)
@given(notion_texts)
@example("😀" * 1001)
@example("a" + "😀" * 1000)
@example("😀" * 100_001)
@example("a" * 200_001)
def test_rich_text_chunks_fit_notion_and_only_a_marked_cut_loses_text(text: str) -> None:
    objects, truncated = nv.rich_text(text)
    pieces = contents(objects)
    assert len(objects) <= NOTION_OBJECTS
    assert all(1 <= js_length(piece) <= NOTION_TEXT for piece in pieces)
    if truncated:
        assert js_length(text) > NOTION_TEXT * NOTION_OBJECTS
        assert pieces[-1].endswith(ELLIPSIS)
        assert text.startswith("".join(pieces)[:-1])
    else:
        assert "".join(pieces) == text


@settings(max_examples=60)
@given(notion_texts, st.sampled_from(["paragraph", "bulleted_list_item", "heading_3"]))
@example("😀" * 200_000, "paragraph")
@example("漢" * 200_000, "paragraph")
def test_text_blocks_carry_all_of_the_text_each_block_small_enough_to_send(
    text: str, kind: str
) -> None:
    blocks = nv.text_blocks(kind, text)
    assert "".join(piece for b in blocks for piece in contents(b[kind]["rich_text"])) == text
    for block in blocks:
        objects = block[kind]["rich_text"]
        assert len(objects) <= NOTION_OBJECTS
        assert all(1 <= js_length(piece) <= NOTION_TEXT for piece in contents(objects))
        assert len(json.dumps({"children": [block]}).encode()) <= NOTION_REQUEST_BYTES


@settings(max_examples=60)
@given(
    st.lists(st.tuples(names, values), max_size=250),
    st.one_of(st.none(), st.lists(short_notion_texts, max_size=150).map("\n".join)),
)
@example([("n", "x" * 300)] * 120, None)
@example([], "\n".join(["line"] * 250))
@example([], "漢" * 200_000 + "\n" + "😀" * 200_000)
def test_page_appends_are_in_order_cover_every_block_and_fit_one_request(
    fields: list[tuple[str, Any]], template_text: str | None
) -> None:
    blocks = nv.page_blocks("order.created", "evt_1", fields, template_text)
    batches = list(nv.append_batches(blocks))
    assert [block for batch in batches for block in batch] == blocks
    for batch in batches:
        assert 1 <= len(batch) <= NOTION_CHILDREN
        assert len(json.dumps({"children": batch}).encode()) <= NOTION_REQUEST_BYTES
    if template_text is not None:
        lines = template_text.split("\n")
        text = [nv.block_text(block) for block in blocks[1:]]
        assert "".join(text) == "".join(lines)


notion_kinds = st.sampled_from(
    "title rich_text number select multi_select status date checkbox url email phone_number"
    " formula people unknown".split()
)
notion_values = st.one_of(
    values,
    notion_texts,
    st.lists(st.one_of(st.text(max_size=4), st.sampled_from(["😀" * 51, "a" * 101])), max_size=110),
    st.sampled_from(["😀" * 1001, "é" * 200, "😀" * 101, "2026-06-03", "yes", "1,250"]),
)


@settings(max_examples=150)
@given(notion_kinds, notion_values)
@example("email", "😀" * 101)
@example("select", "😀" * 51)
@example("multi_select", ["😀" * 51])
def test_a_coerced_property_value_fits_notion_or_says_why_not(kind: str, value: Any) -> None:
    prop = {"type": kind, kind: {"options": [{"name": "Done"}]}}
    coerced = nv.coerce(prop, value)
    assert (coerced.value is None) is (coerced.skipped is not None)
    if coerced.value is None:
        return
    given = coerced.value[kind]
    if kind in ("title", "rich_text"):
        assert len(given) <= NOTION_OBJECTS
        assert all(js_length(piece) <= NOTION_TEXT for piece in contents(given))
        full = blockkit.as_text(value)
        assert ("".join(contents(given)) == full) is not coerced.truncated
    if kind in ("url", "email", "phone_number"):
        assert 1 <= js_length(given) <= (2000 if kind == "url" else 200)
    if kind == "select":
        assert 1 <= js_length(given["name"]) <= 100 and "," not in given["name"]
    if kind == "multi_select":
        assert 1 <= len(given) <= 100
        assert all(1 <= js_length(o["name"]) <= 100 and "," not in o["name"] for o in given)
