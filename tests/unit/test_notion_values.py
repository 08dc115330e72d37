"""Event values as Notion property values and blocks: every type, what is skipped, the caps."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from pydantic import ValidationError

from ingestlayer.destinations import notion_values as nv
from ingestlayer.destinations.notion import NotionDestination


def prop(kind: str, options: list[str] | None = None) -> dict[str, Any]:
    body = {"options": [{"name": o} for o in options or []]}
    return {"type": kind, kind: body}


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("number", "1,250", {"number": 1250}),
        ("number", 3.5, {"number": 3.5}),
        ("select", "pro", {"select": {"name": "pro"}}),
        ("multi_select", ["a", "b"], {"multi_select": [{"name": "a"}, {"name": "b"}]}),
        ("multi_select", "a, b", {"multi_select": [{"name": "a"}, {"name": "b"}]}),
        ("date", "2026-06-03", {"date": {"start": "2026-06-03"}}),
        ("date", "2026-06-03T10:00:00Z", {"date": {"start": "2026-06-03T10:00:00Z"}}),
        ("date", 0, {"date": {"start": "1970-01-01T00:00:00Z"}}),
        (
            "date",
            {"start": "2026-06-03", "end": "2026-06-04"},
            {"date": {"start": "2026-06-03", "end": "2026-06-04"}},
        ),
        ("checkbox", "Yes", {"checkbox": True}),
        ("checkbox", 0, {"checkbox": False}),
        ("url", "https://acme.com", {"url": "https://acme.com"}),
        ("email", "ada@acme.com", {"email": "ada@acme.com"}),
        ("phone_number", "+44 20 7946 0000", {"phone_number": "+44 20 7946 0000"}),
    ],
)
def test_values_are_coerced_to_the_property_type(kind: str, value: Any, expected: Any) -> None:
    assert nv.coerce(prop(kind), value).value == expected


def test_status_must_name_an_existing_option() -> None:
    stage = prop("status", ["In progress", "Done"])
    assert nv.coerce(stage, "done").value == {"status": {"name": "Done"}}
    skipped = nv.coerce(stage, "Shipped")
    assert skipped.value is None and "no status option" in (skipped.skipped or "")


@pytest.mark.parametrize(
    ("kind", "value", "reason"),
    [
        ("number", "lots", "not a number"),
        ("number", True, "not a number"),
        ("date", "next tuesday", "not a date"),
        ("checkbox", "maybe", "not a yes/no value"),
        ("select", "a,b", "commas"),
        ("email", "x" * 201, "at most 200"),
        ("url", "u" * 2001, "at most 2000"),
        ("people", "ada", "Notion ids"),
        ("relation", "x", "Notion ids"),
        ("files", "x", "Notion ids"),
        ("formula", 1, "computed by Notion"),
        ("rollup", 1, "computed by Notion"),
        ("created_time", "2026-01-01", "computed by Notion"),
        ("created_by", "x", "computed by Notion"),
        ("last_edited_time", "x", "computed by Notion"),
        ("last_edited_by", "x", "computed by Notion"),
        ("unique_id", 1, "computed by Notion"),
        ("button", 1, "computed by Notion"),
    ],
)
def test_what_cannot_be_written_is_skipped_with_a_reason(
    kind: str, value: Any, reason: str
) -> None:
    result = nv.coerce(prop(kind), value)
    assert result.value is None
    assert reason in (result.skipped or "")


def test_names_match_ignoring_case_and_separators() -> None:
    assert len({nv.normalise(n) for n in ("Signed up", "signed_up", "signed-up", "SignedUp")}) == 1


def test_rich_text_chunks_at_2000_and_marks_the_cut_at_100_objects() -> None:
    rng = random.Random(3)
    for length in [0, 1, 1999, 2000, 2001, 4500, *(rng.randint(0, 250_000) for _ in range(30))]:
        text = "".join(rng.choice("ab c\n") for _ in range(length))
        objects, truncated = nv.rich_text(text)
        assert all(len(o["text"]["content"]) <= nv.MAX_TEXT for o in objects)
        assert len(objects) <= nv.MAX_RICH_TEXT_OBJECTS
        if truncated:
            assert length > nv.MAX_TEXT * nv.MAX_RICH_TEXT_OBJECTS
            assert nv.plain(objects).endswith(nv.ELLIPSIS)
        else:
            assert nv.plain(objects) == text
    assert nv.coerce(prop("rich_text"), "x" * 300_000).truncated is True


def test_page_blocks_start_with_the_marker_and_stay_under_the_caps() -> None:
    blocks = nv.page_blocks("t", "evt_1", [("a", "x" * 500_000), ("b", 1)], None)
    assert nv.block_text(blocks[0]) == nv.marker_text("t", "evt_1")
    for block in blocks:
        objects = block[block["type"]]["rich_text"]
        assert len(objects) <= nv.MAX_RICH_TEXT_OBJECTS
        assert all(len(o["text"]["content"]) <= nv.MAX_TEXT for o in objects)
    joined = "".join(nv.block_text(b) for b in blocks)
    assert joined.count("x") == 500_000


def test_settings_need_exactly_one_target() -> None:
    with pytest.raises(ValidationError):
        NotionDestination.model_validate({"token": "${T}"})
    with pytest.raises(ValidationError):
        NotionDestination.model_validate({"token": "${T}", "database": "d", "page": "p"})
    with pytest.raises(ValidationError):
        NotionDestination.model_validate({"token": "${T}", "page": "p", "columns": {"A": "x"}})
    dest = NotionDestination.model_validate({"token": "secret_literal", "database": "d"})
    assert "secret" not in dest.pace_key() + dest.pace_label()
    assert dest.pace_interval() == pytest.approx(1 / 3)


def test_a_row_over_notions_request_size_is_cut_to_fit_and_says_which_properties() -> None:
    long = "x" * 200_000
    properties: dict[str, Any] = {
        "Name": {"title": nv.rich_text("Ticket")[0]},
        "Event ID": {"rich_text": nv.rich_text("evt_" + "e" * 32)[0]},
        **{f"Notes {i}": {"rich_text": nv.rich_text(long)[0]} for i in range(4)},
        "Tiny": {"rich_text": nv.rich_text("keep me")[0]},
        "Plan": {"select": {"name": "pro"}},
    }
    cut = nv.fit_row(properties, keep=frozenset({"Event ID"}))
    assert len(json.dumps(properties)) <= nv.MAX_REQUEST_BYTES
    assert cut and set(cut) <= {f"Notes {i}" for i in range(4)}
    for name in cut:
        objects = properties[name]["rich_text"]
        assert objects[-1]["text"]["content"].endswith("…")
        assert all(nv.utf16_length(o["text"]["content"]) <= nv.MAX_TEXT for o in objects)
    assert nv.plain(properties["Event ID"]["rich_text"]) == "evt_" + "e" * 32
    assert nv.plain(properties["Tiny"]["rich_text"]) == "keep me"
    assert properties["Plan"] == {"select": {"name": "pro"}}


def test_emoji_text_escapes_large_in_json_and_is_still_cut_to_fit() -> None:
    properties: dict[str, Any] = {
        "Body": {"rich_text": nv.rich_text("\U0001f600" * 100_000)[0]},
    }
    assert len(json.dumps(properties)) > nv.MAX_REQUEST_BYTES
    assert nv.fit_row(properties) == ["Body"]
    assert len(json.dumps(properties)) <= nv.MAX_REQUEST_BYTES
    text = nv.plain(properties["Body"]["rich_text"])
    assert text.endswith("…") and set(text[:-1]) == {"\U0001f600"}


def test_a_row_that_fits_is_left_alone() -> None:
    properties: dict[str, Any] = {"Body": {"rich_text": nv.rich_text("y" * 150_000)[0]}}
    before = json.dumps(properties)
    assert nv.fit_row(properties) == []
    assert json.dumps(properties) == before
