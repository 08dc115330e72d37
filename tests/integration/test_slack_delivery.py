"""Slack end to end: API → workflow → the channel's outbox → slack-sdk → the fake Slack Web API.

The fake runs at 5 messages per second per channel (no burst) and the destinations are set to
the same rate, so the pacing is exercised at five times Slack's speed; `make bench` runs the
real one-per-second case with 100 events.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import ApiFactory
from tests.fakes.serving import serve
from tests.fakes.slack import FakeSlack
from tests.integration.api_helpers import delivery, emit, environ, wait_status

pytestmark = pytest.mark.asyncio(loop_scope="session")

RATE = 5
TOKEN = "xoxb-" + secrets.token_hex(12)
ENV = {
    "IL_SLACK_TOKEN": TOKEN,
    "IL_SLACK_REVOKED": "xoxb-revoked-" + secrets.token_hex(6),
    "IL_SLACK_INACTIVE": "xoxb-inactive-" + secrets.token_hex(6),
    "IL_SLACK_UNKNOWN": "xoxb-unknown-" + secrets.token_hex(6),
    "IL_SLACK_ROTATING": "xoxb-rotating-" + secrets.token_hex(6),
}
FAST = "{max_attempts: 4, initial_interval: 0.2, backoff: 2, max_interval: 2}"


def slack(url: str, channel: str, token: str = "IL_SLACK_TOKEN", extra: str = "") -> str:
    return (
        f'{{channel: "{channel}", token: "${{{token}}}", base_url: "{url}/api/", '
        f"rate_per_second: {RATE}{extra}}}"
    )


def pipelines(url: str, channel_id: str) -> str:
    return f"""
pipelines:
  - name: alerts
    on: slack.alerts
    destinations:
      - name: alerts
        slack: {slack(url, "#alerts")}
        retry: {FAST}
  - name: burst
    on: slack.burst
    destinations:
      - name: burst
        slack: {slack(url, "burst")}
        retry: {FAST}
  - name: parallel
    on: slack.parallel
    destinations:
      - name: one
        slack: {slack(url, "#team-one")}
      - name: two
        slack: {slack(url, "#team-two")}
  - name: templated
    on: slack.templated
    destinations:
      - name: text
        slack: {slack(url, "#alerts", extra=', template: "*$event.subject* from $event.customer"')}
      - name: raw
        slack:
          channel: "#alerts"
          token: "${{IL_SLACK_TOKEN}}"
          base_url: "{url}/api/"
          rate_per_second: {RATE}
          blocks:
            - type: section
              text: {{type: mrkdwn, text: "Ticket $event.ticket_id: $event.subject"}}
            - type: context
              elements: [{{type: mrkdwn, text: "tier $event.customer_tier"}}]
  - name: broken
    on: slack.broken
    destinations:
      - name: not-in-channel
        slack: {slack(url, "#public-no-bot")}
      - name: private
        slack: {slack(url, "#private-no-bot")}
      - name: unknown
        slack: {slack(url, "#nowhere")}
      - name: archived
        slack: {slack(url, "#old")}
      - name: bad-token
        slack: {slack(url, "#alerts", token="IL_SLACK_UNKNOWN")}
      - name: revoked
        slack: {slack(url, "#alerts", token="IL_SLACK_REVOKED")}
      - name: inactive
        slack: {slack(url, "#alerts", token="IL_SLACK_INACTIVE")}
  - name: long
    on: slack.long
    destinations:
      - name: long
        slack: {slack(url, "#long")}
  - name: by-id
    on: slack.by-id
    destinations:
      - name: by-id
        slack: {slack(url, channel_id)}
  - name: rotating
    on: slack.rotating
    destinations:
      - name: rotating
        slack: {slack(url, "#rotating", token="IL_SLACK_ROTATING")}
  - name: invite
    on: slack.invite
    destinations:
      - name: invite
        slack: {slack(url, "#invite-me")}
"""


@pytest.fixture(scope="module")
async def slack_api(
    start_api: ApiFactory,
) -> AsyncIterator[tuple[httpx.AsyncClient, FakeSlack, httpx.AsyncClient]]:
    fake = FakeSlack(rate=RATE, burst=1)
    fake.add_token(TOKEN)
    fake.add_token(ENV["IL_SLACK_REVOKED"], "revoked")
    fake.add_token(ENV["IL_SLACK_INACTIVE"], "inactive")
    fake.add_token(ENV["IL_SLACK_ROTATING"], "revoked")
    for name in ("alerts", "burst", "team-one", "team-two", "rotating"):
        fake.add_channel(name)
    fake.add_channel("public-no-bot", member=False)
    fake.add_channel("private-no-bot", private=True, member=False)
    fake.add_channel("old", archived=True)
    fake.add_channel("invite-me", member=False)
    by_id = fake.add_channel("by-id")
    fake.add_channel("long")
    with environ(ENV):
        async with serve(fake.app()) as url:
            api = await start_api(pipelines(url, by_id.id))
            small_runs = await start_api(pipelines(url, by_id.id), outbox_sends_per_run=3)
            yield api, fake, small_runs


async def test_default_message_is_a_titled_block_with_the_key_fields(
    slack_api: tuple[httpx.AsyncClient, FakeSlack, httpx.AsyncClient],
) -> None:
    api, fake, _ = slack_api
    payload = {"email": "ada@acme.com", "plan": "pro", "source": "marketing-site"}
    event_id = await emit(api, "slack.alerts", payload)
    status = await wait_status(api, event_id, {"completed"})
    result = delivery(status, "alerts", "alerts")
    channel = fake._find("alerts")
    assert channel is not None
    assert result["state"] == "delivered"
    assert result["result"]["channel"] == channel.id
    assert result["result"]["truncated"] is False
    posted = next(m for m in fake.posted_to("alerts") if event_id in str(m.blocks))
    header = posted.blocks[0]
    assert header["type"] == "header"
    assert header["text"]["text"] == "slack.alerts"
    fields = [f["text"] for f in posted.blocks[1]["fields"]]
    assert fields == ["*email*\nada@acme.com", "*plan*\npro", "*source*\nmarketing-site"]
    assert posted.text and "slack.alerts" in posted.text


async def test_a_burst_to_one_channel_arrives_whole_in_order_without_429s(
    slack_api: tuple[httpx.AsyncClient, FakeSlack, httpx.AsyncClient],
) -> None:
    api, fake, _ = slack_api
    ids = [await emit(api, "slack.burst", {"seq": n}) for n in range(15)]
    probe = await api.get(f"/v1/events/{ids[-1]}")
    queued = delivery(probe.json(), "burst", "burst")
    assert queued["state"] in {"queued", "delivered"}
    if queued["state"] == "queued":
        assert queued["outbox"].startswith("outbox/slack:burst/")
        assert queued["queue_position"] is None or queued["queue_position"] >= 1
    for event_id in ids:
        await wait_status(api, event_id, {"completed"}, within=60)
    posted = fake.posted_to("burst")
    seqs = [int(m.blocks[1]["fields"][0]["text"].split("\n")[1]) for m in posted]
    assert seqs == list(range(15))
    channel = fake._find("burst")
    assert channel is not None
    assert fake.rate_limited[channel.id] == 0
    gaps = [b.at - a.at for a, b in itertools.pairwise(posted)]
    assert min(gaps) >= 1 / RATE - 0.01


async def test_channels_are_paced_separately_and_proceed_in_parallel(
    slack_api: tuple[httpx.AsyncClient, FakeSlack, httpx.AsyncClient],
) -> None:
    api, fake, _ = slack_api
    ids = [await emit(api, "slack.parallel", {"seq": n}) for n in range(6)]
    for event_id in ids:
        await wait_status(api, event_id, {"completed"}, within=60)
    one, two = fake.posted_to("team-one"), fake.posted_to("team-two")
    assert len(one) == len(two) == 6
    assert two[0].at < one[-1].at and one[0].at < two[-1].at
    assert sum(fake.rate_limited.values()) == 0


async def test_429_waits_for_retry_after_and_keeps_order(
    slack_api: tuple[httpx.AsyncClient, FakeSlack, httpx.AsyncClient],
) -> None:
    api, fake, _ = slack_api
    fake.fail_next("alerts", 429, 503)
    first = await emit(api, "slack.alerts", {"n": "first"})
    second = await emit(api, "slack.alerts", {"n": "second"})
    status = await wait_status(api, first, {"completed"}, within=30)
    await wait_status(api, second, {"completed"}, within=30)
    assert delivery(status, "alerts", "alerts")["attempts"] == 3
    texts = [str(m.blocks) for m in fake.posted_to("alerts")]
    assert texts.index(next(t for t in texts if first in t)) < texts.index(
        next(t for t in texts if second in t)
    )


async def test_templates_and_raw_blocks_reference_event_fields(
    slack_api: tuple[httpx.AsyncClient, FakeSlack, httpx.AsyncClient],
) -> None:
    api, fake, _ = slack_api
    payload = {
        "ticket_id": "T-77",
        "subject": "Refund <urgent> & more",
        "customer": "Ada",
        "customer_tier": "enterprise",
    }
    event_id = await emit(api, "slack.templated", payload)
    await wait_status(api, event_id, {"completed"})
    texts = [str(m.blocks) for m in fake.posted_to("alerts")]
    assert any("*Refund &lt;urgent&gt; &amp; more* from Ada" in t for t in texts)
    assert any("Ticket T-77: Refund &lt;urgent&gt; &amp; more" in t for t in texts)
    assert any("tier enterprise" in t for t in texts)


async def test_oversized_event_is_truncated_with_a_link_to_the_full_payload(
    slack_api: tuple[httpx.AsyncClient, FakeSlack, httpx.AsyncClient],
) -> None:
    api, fake, _ = slack_api
    payload: dict[str, Any] = {f"field_{n:02d}": "x" * 2500 for n in range(60)}
    event_id = await emit(api, "slack.alerts", payload)
    status = await wait_status(api, event_id, {"completed"})
    result = delivery(status, "alerts", "alerts")["result"]
    assert result["truncated"] is True
    posted = next(m for m in fake.posted_to("alerts") if event_id in str(m.blocks))
    assert len(posted.blocks) == 50
    link = posted.blocks[-1]["elements"][0]["text"]
    assert f"<http://testserver/v1/events/{event_id}|full payload>" in link


BROKEN = {
    "not-in-channel": ("not_in_channel", "invite the bot"),
    "private": ("channel_not_found", "invite the bot"),
    "unknown": ("channel_not_found", "check the channel"),
    "archived": ("is_archived", "unarchive"),
    "bad-token": ("invalid_auth", "reconnect"),
    "revoked": ("token_revoked", "reconnect"),
    "inactive": ("account_inactive", "reconnect"),
}


async def test_user_fixable_errors_dead_letter_at_once_with_what_to_do(
    slack_api: tuple[httpx.AsyncClient, FakeSlack, httpx.AsyncClient],
) -> None:
    api, _, _ = slack_api
    event_id = await emit(api, "slack.broken", {"n": 1})
    deadline = time.monotonic() + 30
    while True:
        status = (await api.get(f"/v1/events/{event_id}")).json()
        states = {d["state"] for d in status["pipelines"][0]["deliveries"]}
        if states == {"dead_lettered"} or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert status["state"] == "dead_lettered"
    for destination, (code, hint) in BROKEN.items():
        result = delivery(status, "broken", destination)
        assert result["state"] == "dead_lettered", destination
        assert result["attempts"] == 1, destination
        assert result["last_error"]["code"] == code, destination
        assert result["last_error"]["retryable"] is False
        assert hint in result["last_error"]["hint"], destination
    assert "xoxb-" not in str(status)
    listed = await api.get("/v1/dead-letters", params={"destination": "broken/revoked"})
    assert event_id in str(listed.json())


async def test_revoked_token_holds_the_channel_until_a_redelivery_after_reconnecting(
    slack_api: tuple[httpx.AsyncClient, FakeSlack, httpx.AsyncClient],
) -> None:
    api, fake, _ = slack_api
    first = await emit(api, "slack.rotating", {"n": 1})
    status = await wait_status(api, first, {"dead_lettered"})
    assert delivery(status, "rotating", "rotating")["last_error"]["code"] == "token_revoked"
    calls_before = sum(fake.calls.values())
    second = await emit(api, "slack.rotating", {"n": 2})
    held = await wait_status(api, second, {"dead_lettered"})
    error = delivery(held, "rotating", "rotating")["last_error"]
    assert error["code"] == "token_revoked"
    assert "disconnected" in error["message"]
    assert delivery(held, "rotating", "rotating")["attempts"] == 0
    assert sum(fake.calls.values()) == calls_before
    fake.add_token(ENV["IL_SLACK_ROTATING"], "ok")
    for event_id in (first, second):
        response = await api.post(f"/v1/events/{event_id}/redeliver", json={})
        assert response.status_code == 202, response.text
    for event_id in (first, second):
        await wait_status(api, event_id, {"completed"})
    assert len(fake.posted_to("rotating")) == 2


async def test_inviting_the_bot_then_redelivering_delivers(
    slack_api: tuple[httpx.AsyncClient, FakeSlack, httpx.AsyncClient],
) -> None:
    api, fake, _ = slack_api
    event_id = await emit(api, "slack.invite", {"n": 1})
    await wait_status(api, event_id, {"dead_lettered"})
    channel = fake._find("invite-me")
    assert channel is not None
    channel.member = True
    response = await api.post(f"/v1/events/{event_id}/redeliver", json={})
    assert response.status_code == 202, response.text
    status = await wait_status(api, event_id, {"completed"})
    result = delivery(status, "invite", "invite")
    assert result["redeliveries"] == 1
    assert len(fake.posted_to("invite-me")) == 1


async def test_a_channel_given_by_id_is_posted_to(
    slack_api: tuple[httpx.AsyncClient, FakeSlack, httpx.AsyncClient],
) -> None:
    api, fake, _ = slack_api
    event_id = await emit(api, "slack.by-id", {"n": 1})
    status = await wait_status(api, event_id, {"completed"})
    channel = fake._find("by-id")
    assert channel is not None
    assert delivery(status, "by-id", "by-id")["result"]["channel"] == channel.id
    assert len(fake.posted_to("by-id")) == 1


async def test_a_long_queue_continues_as_new_without_losing_or_reordering(
    slack_api: tuple[httpx.AsyncClient, FakeSlack, httpx.AsyncClient],
) -> None:
    _, fake, api = slack_api
    ids = [await emit(api, "slack.long", {"seq": n}) for n in range(8)]
    for event_id in ids:
        await wait_status(api, event_id, {"completed"}, within=60)
    seqs = [int(m.blocks[1]["fields"][0]["text"].split("\n")[1]) for m in fake.posted_to("long")]
    assert seqs == list(range(8))
    listed = (await api.get("/v1/outboxes")).json()["outboxes"]
    [outbox] = [o for o in listed if o["target"] == "slack:long"]
    assert outbox["runs"] == 3
    assert outbox["sent"] == 8
    assert outbox["state"] == "connected"


async def test_outboxes_list_shows_a_disconnected_target(
    slack_api: tuple[httpx.AsyncClient, FakeSlack, httpx.AsyncClient],
) -> None:
    api, fake, _ = slack_api
    ours = {f"slack:{c.name}" for c in fake.channels.values()}
    event_id = await emit(api, "slack.broken", {"n": 2})
    await wait_status(api, event_id, {"dead_lettered"})
    deadline = time.monotonic() + 10
    while True:
        listed = (await api.get("/v1/outboxes")).json()["outboxes"]
        held = [o for o in listed if o["state"] == "disconnected" and o["target"] in ours]
        if {o["error"]["code"] for o in held} >= {"token_revoked", "invalid_auth"}:
            break
        assert time.monotonic() < deadline, listed
        await asyncio.sleep(0.2)
    assert all(o["target"] == "slack:alerts" for o in held)
    assert "xoxb-" not in str(listed)
