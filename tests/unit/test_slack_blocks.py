"""Block Kit messages from events: the default layout, templates, raw blocks, and the caps."""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from ingestlayer.destinations import blockkit
from ingestlayer.destinations.base import DeliveryContext
from ingestlayer.destinations.slack import SlackDestination
from ingestlayer.events import Event
from tests.fakes.slack import block_problems

CTX = DeliveryContext(pipeline="p", destination="d", public_base_url="https://il.example.com/")


def event(payload: dict[str, Any], labels: dict[str, Any] | None = None) -> Event:
    return Event(
        id="evt_" + "a" * 32,
        type="user.signed_up",
        timestamp=datetime(2026, 6, 3, 12, 0, tzinfo=UTC),
        payload=payload,
        labels=labels or {},
    )


def texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for item in value.values() for t in texts(item)]
    if isinstance(value, list):
        return [t for item in value for t in texts(item)]
    return [value] if isinstance(value, str) else []


def dest(**options: Any) -> SlackDestination:
    return SlackDestination.model_validate({"channel": "#alerts", "token": "${T}", **options})


def test_default_message_titles_the_event_and_lists_its_key_fields() -> None:
    ev = event({"email": "ada@acme.com", "plan": "pro"}, {"urgency": "critical"})
    msg = dest().message(ev, CTX)
    assert msg.blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "user.signed_up", "emoji": False},
    }
    assert [f["text"] for f in msg.blocks[1]["fields"]] == [
        "*email*\nada@acme.com",
        "*plan*\npro",
        "*urgency*\ncritical",
    ]
    assert msg.blocks[-1]["type"] == "context"
    assert ev.id in msg.blocks[-1]["elements"][0]["text"]
    assert msg.text == "user.signed_up · email: ada@acme.com · plan: pro"
    assert msg.truncated is False
    assert block_problems(msg.blocks) == []


def test_configured_fields_and_title_choose_what_shows() -> None:
    ev = event({"email": "ada@acme.com", "plan": "pro", "user": {"id": 7}})
    msg = dest(title="New signup: $event.plan", fields=["email", "user.id"]).message(ev, CTX)
    assert msg.blocks[0]["text"]["text"] == "New signup: pro"
    assert [f["text"] for f in msg.blocks[1]["fields"]] == ["*email*\nada@acme.com", "*user.id*\n7"]


def test_values_are_escaped_as_data_not_markup() -> None:
    ev = event({"subject": "<!channel> & <http://x|click>"})
    msg = dest().message(ev, CTX)
    assert msg.blocks[1]["fields"][0]["text"] == (
        "*subject*\n&lt;!channel&gt; &amp; &lt;http://x|click&gt;"
    )
    templated = dest(template="*New:* $event.subject").message(ev, CTX)
    assert templated.blocks[0]["text"]["text"] == (
        "*New:* &lt;!channel&gt; &amp; &lt;http://x|click&gt;"
    )


def test_raw_blocks_render_every_string_and_keep_their_shape() -> None:
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Seats: $event.seats"}},
        {"type": "divider"},
    ]
    msg = dest(blocks=blocks).message(event({"seats": 12}), CTX)
    assert msg.blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Seats: 12"}},
        {"type": "divider"},
    ]


def test_long_template_splits_into_sections_before_it_truncates() -> None:
    text = "\n".join(f"line {n:04d} {'y' * 60}" for n in range(120))
    msg = dest(template="$event.body").message(event({"body": text}), CTX)
    assert msg.truncated is False
    assert all(len(b["text"]["text"]) <= blockkit.MAX_SECTION_TEXT for b in msg.blocks)
    assert "\n".join(b["text"]["text"] for b in msg.blocks) == text


def test_oversized_event_fills_50_blocks_and_ends_with_the_full_payload_link() -> None:
    ev = event({f"f{n:03d}": "z" * 5000 for n in range(80)})
    msg = dest().message(ev, CTX)
    assert msg.truncated is True
    assert len(msg.blocks) == blockkit.MAX_BLOCKS
    link = msg.blocks[-1]["elements"][0]["text"]
    assert f"<https://il.example.com/v1/events/{ev.id}|full payload>" in link
    assert block_problems(msg.blocks) == []
    cut = [b for b in msg.blocks if b.get("type") == "section" and "text" in b]
    assert all(b["text"]["text"].endswith(blockkit.ELLIPSIS) for b in cut)


@pytest.mark.parametrize(
    "block",
    [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 400}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "s" * 5000}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": "f" * 2500} for _ in range(14)],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 12},
        {"type": "image", "image_url": "https://x/y.png", "alt_text": "a" * 3000},
    ],
)
def test_every_cap_is_enforced_on_raw_blocks_and_marked(block: dict[str, Any]) -> None:
    msg = blockkit.fit([block], "fallback", "https://il.example.com/v1/events/e")
    assert msg.truncated is True
    assert block_problems(msg.blocks) == []
    assert "full payload" in msg.blocks[-1]["elements"][0]["text"]


def test_an_empty_rendering_never_sends_an_empty_section() -> None:
    msg = dest(template="$event.missing").message(event({}), CTX)
    assert block_problems(msg.blocks) == []
    assert msg.text


def test_random_payloads_always_fit_and_truncation_is_always_marked() -> None:
    rng = random.Random(7)
    for _ in range(200):
        payload = {
            "".join(rng.choices(string.ascii_lowercase, k=rng.randint(1, 300))): "".join(
                rng.choices(string.printable, k=rng.choice([0, 5, 150, 2100, 4000]))
            )
            for _ in range(rng.randint(0, 70))
        }
        msg = dest().message(event(payload), CTX)
        assert block_problems(msg.blocks) == []
        assert len(msg.text) <= blockkit.MAX_FALLBACK
        if msg.truncated:
            assert "full payload" in str(msg.blocks[-1])
        else:
            shown = "\n".join(texts(msg.blocks))
            assert all(blockkit.escape(v) in shown for v in payload.values())


def test_settings_are_validated_at_load() -> None:
    with pytest.raises(ValidationError):
        SlackDestination.model_validate({"token": "${T}"})
    with pytest.raises(ValidationError):
        SlackDestination.model_validate({"channel": "#a"})
    with pytest.raises(ValidationError):
        SlackDestination.model_validate({"channel": "#a", "token": "t", "blocks": "nope"})
    with pytest.raises(ValidationError):
        SlackDestination.model_validate({"channel": "#a", "token": "t", "rate_per_second": 0})
    assert dest(base_url="http://127.0.0.1:9/api").base_url == "http://127.0.0.1:9/api/"


def test_pace_key_hides_the_token_and_separates_channels() -> None:
    a = dest(token="xoxb-literal-secret")
    b = SlackDestination.model_validate({"channel": "#other", "token": "xoxb-literal-secret"})
    assert "xoxb" not in a.pace_key() + a.pace_label()
    assert a.pace_key() != b.pace_key()
    assert a.pace_label() == "slack:alerts"
    assert a.pace_interval() == pytest.approx(1.05)
