"""Notion end to end: API → workflow → the integration's outbox → notion-client → the fake."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ingestlayer.destinations.notion import forget_schemas
from tests.conftest import ApiFactory
from tests.fakes.notion import Database, FakeNotion, schema
from tests.fakes.serving import serve
from tests.integration.api_helpers import delivery, emit, environ, wait_status

pytestmark = pytest.mark.asyncio(loop_scope="session")

TOKEN = "ntn_" + secrets.token_hex(16)
ENV = {
    "IL_NOTION_TOKEN": TOKEN,
    "IL_NOTION_REVOKED": "ntn_revoked_" + secrets.token_hex(8),
    "IL_NOTION_PAGES": "ntn_pages_" + secrets.token_hex(8),
}
FAST = "{max_attempts: 4, initial_interval: 0.2, backoff: 2, max_interval: 2}"


class World:
    def __init__(self) -> None:
        self.fake = FakeNotion(rate=3, burst=2)
        self.fake.add_token(TOKEN)
        self.fake.add_token(ENV["IL_NOTION_REVOKED"], "revoked")
        self.fake.add_token(ENV["IL_NOTION_PAGES"])
        self.signups = self.fake.add_database(
            schema(
                Name="title",
                Email="email",
                Plan={"type": "select", "options": ["free"]},
                Seats="number",
                Signed_up="date",
                Active="checkbox",
                Website="url",
                Phone="phone_number",
                Tags="multi_select",
                Stage={"type": "status", "options": ["New", "Done"]},
                Owner="people",
                Score="formula",
                Notes="rich_text",
                Event_ID="rich_text",
            )
        )
        self.mapped = self.fake.add_database(
            schema(Title="title", Who="rich_text", Amount="number")
        )
        self.wide = self.fake.add_database(
            schema(Name="title", A="rich_text", B="rich_text", C="rich_text", Event_ID="rich_text")
        )
        self.hidden = self.fake.add_database(schema(Name="title"), shared=False)
        self.revoked_db = self.fake.add_database(schema(Name="title"))
        self.page = self.fake.add_page()
        self.big_page = self.fake.add_page()


def pipelines(url: str, w: World) -> str:
    def notion(target: str, token: str = "IL_NOTION_TOKEN", extra: str = "") -> str:
        return f'{{{target}, token: "${{{token}}}", base_url: "{url}"{extra}}}'

    return f"""
pipelines:
  - name: signups
    on: user.signed_up
    destinations:
      - name: db
        notion: {notion(f'database: "{w.signups.id}"')}
        retry: {FAST}
  - name: mapped
    on: payment.succeeded
    destinations:
      - name: db
        notion: {notion(f'database: "{w.mapped.id}"', extra=', columns: {Title: "Payment from $event.customer", Who: "$event.customer", Amount: "$event.amount_cents"}')}
  - name: wide
    on: notion.wide
    destinations:
      - name: db
        notion: {notion(f'database: "{w.wide.id}"', extra=", columns: {A: $event.body, B: $event.body, C: $event.body}")}
  - name: hidden
    on: notion.hidden
    destinations:
      - name: db
        notion: {notion(f'database: "{w.hidden.id}"')}
  - name: revoked
    on: notion.revoked
    destinations:
      - name: db
        notion: {notion(f'database: "{w.revoked_db.id}"', token="IL_NOTION_REVOKED")}
  - name: page
    on: notion.page
    destinations:
      - name: page
        notion: {notion(f'page: "{w.page.id}"', token="IL_NOTION_PAGES")}
        retry: {FAST}
  - name: big
    on: notion.big
    destinations:
      - name: page
        notion: {notion(f'page: "{w.big_page.id}"', token="IL_NOTION_PAGES", extra=', template: "$event.body"')}
        retry: {FAST}
"""


@pytest.fixture(scope="module")
async def notion_api(start_api: ApiFactory) -> AsyncIterator[tuple[httpx.AsyncClient, World]]:
    world = World()
    forget_schemas()
    with environ(ENV):
        async with serve(world.fake.app()) as url:
            api = await start_api(pipelines(url, world))
            yield api, world


def text(value: dict[str, Any], kind: str) -> str:
    return "".join(o["text"]["content"] for o in value[kind])


def row_for(db: Database, fake: FakeNotion, event_id: str) -> dict[str, Any]:
    rows = [r for r in fake.rows(db) if event_id in str(r["properties"])]
    assert len(rows) == 1, rows
    return rows[0]["properties"]


async def test_typed_row_is_mapped_by_name_and_coerced_to_each_type(
    notion_api: tuple[httpx.AsyncClient, World],
) -> None:
    api, w = notion_api
    payload = {
        "email": "ada@acme.com",
        "plan": "pro",
        "seats": "12",
        "signed_up": "2026-06-03",
        "active": "yes",
        "website": "https://acme.com",
        "phone": "+1 415 555 0100",
        "tags": "beta, enterprise",
        "stage": "new",
        "owner": "ada",
        "score": 99,
        "notes": "n" * 4500,
    }
    event_id = await emit(api, "user.signed_up", payload)
    status = await wait_status(api, event_id, {"completed"})
    result = delivery(status, "signups", "db")["result"]
    props = row_for(w.signups, w.fake, event_id)
    assert text(props["Name"], "title") == "user.signed_up"
    assert props["Email"] == {"email": "ada@acme.com"}
    assert props["Plan"] == {"select": {"name": "pro"}}
    assert props["Seats"] == {"number": 12}
    assert props["Signed up"] == {"date": {"start": "2026-06-03"}}
    assert props["Active"] == {"checkbox": True}
    assert props["Website"] == {"url": "https://acme.com"}
    assert props["Phone"] == {"phone_number": "+1 415 555 0100"}
    assert props["Tags"] == {"multi_select": [{"name": "beta"}, {"name": "enterprise"}]}
    assert props["Stage"] == {"status": {"name": "New"}}
    assert [len(o["text"]["content"]) for o in props["Notes"]["rich_text"]] == [2000, 2000, 500]
    assert text(props["Event ID"], "rich_text") == event_id
    assert "Owner" not in props and "Score" not in props
    skipped = {s["property"]: s["reason"] for s in result["skipped"]}
    assert "Notion ids" in skipped["Owner"]
    assert "computed by Notion" in skipped["Score"]
    assert "ada@acme.com" not in str(result)


async def test_template_columns_and_schema_read_once(
    notion_api: tuple[httpx.AsyncClient, World],
) -> None:
    api, w = notion_api
    before = w.fake.requests["schema"]
    ids = [
        await emit(api, "payment.succeeded", {"customer": f"Acme {n}", "amount_cents": 1999 + n})
        for n in range(4)
    ]
    for event_id in ids:
        await wait_status(api, event_id, {"completed"})
    rows = w.fake.rows(w.mapped)
    assert [text(r["properties"]["Title"], "title") for r in rows] == [
        f"Payment from Acme {n}" for n in range(4)
    ]
    assert [r["properties"]["Amount"]["number"] for r in rows] == [1999, 2000, 2001, 2002]
    assert w.fake.requests["schema"] - before == 1
    assert w.fake.rate_limited == 0


async def test_database_not_shared_dead_letters_with_share_hint(
    notion_api: tuple[httpx.AsyncClient, World],
) -> None:
    api, _ = notion_api
    event_id = await emit(api, "notion.hidden", {"n": 1})
    status = await wait_status(api, event_id, {"dead_lettered"})
    result = delivery(status, "hidden", "db")
    assert result["attempts"] == 1
    assert result["last_error"]["code"] == "object_not_found"
    assert "share the database with the integration" in result["last_error"]["hint"]


async def test_revoked_token_holds_the_destination_until_reconnected(
    notion_api: tuple[httpx.AsyncClient, World],
) -> None:
    api, w = notion_api
    first = await emit(api, "notion.revoked", {"n": 1})
    status = await wait_status(api, first, {"dead_lettered"})
    assert delivery(status, "revoked", "db")["last_error"]["code"] == "unauthorized"
    assert "reconnect" in delivery(status, "revoked", "db")["last_error"]["hint"]
    second = await emit(api, "notion.revoked", {"n": 2})
    held = await wait_status(api, second, {"dead_lettered"})
    assert "disconnected" in delivery(held, "revoked", "db")["last_error"]["message"]
    assert delivery(held, "revoked", "db")["attempts"] == 0
    w.fake.add_token(ENV["IL_NOTION_REVOKED"], "ok")
    for event_id in (first, second):
        response = await api.post(f"/v1/events/{event_id}/redeliver", json={})
        assert response.status_code == 202
    for event_id in (first, second):
        await wait_status(api, event_id, {"completed"})
    assert len(w.fake.rows(w.revoked_db)) == 2
    assert ENV["IL_NOTION_REVOKED"] not in str(held)


async def test_validation_error_is_permanent_with_notions_message(
    notion_api: tuple[httpx.AsyncClient, World],
) -> None:
    api, w = notion_api
    w.fake.fail_next("pages", 400, "validation_error")
    event_id = await emit(api, "payment.succeeded", {"customer": "Bad", "amount_cents": 1})
    status = await wait_status(api, event_id, {"dead_lettered"})
    error = delivery(status, "mapped", "db")["last_error"]
    assert error["code"] == "validation_error"
    assert "scripted validation_error" in error["message"]
    assert error["retryable"] is False


async def test_rate_limited_waits_for_retry_after_then_delivers_once(
    notion_api: tuple[httpx.AsyncClient, World],
) -> None:
    api, w = notion_api
    w.fake.fail_next("pages", 429, "rate_limited")
    started = time.monotonic()
    event_id = await emit(api, "user.signed_up", {"email": "grace@acme.com"})
    status = await wait_status(api, event_id, {"completed"})
    assert time.monotonic() - started >= 1.0
    assert delivery(status, "signups", "db")["attempts"] == 2
    row_for(w.signups, w.fake, event_id)


async def test_a_retried_row_is_not_created_twice(
    notion_api: tuple[httpx.AsyncClient, World],
) -> None:
    api, w = notion_api
    w.fake.fail_next("pages", 502, "internal_server_error", after=True)
    event_id = await emit(api, "user.signed_up", {"email": "lin@acme.com"})
    status = await wait_status(api, event_id, {"completed"})
    result = delivery(status, "signups", "db")
    assert result["attempts"] == 2
    assert result["result"]["already_created"] is True
    row_for(w.signups, w.fake, event_id)


async def test_page_append_writes_the_event_as_blocks(
    notion_api: tuple[httpx.AsyncClient, World],
) -> None:
    api, w = notion_api
    event_id = await emit(api, "notion.page", {"ticket": "T-9", "body": "line one\nline two"})
    await wait_status(api, event_id, {"completed"})
    kinds = [b["type"] for b in w.page.children]
    texts = [
        "".join(o["text"]["content"] for o in b[b["type"]]["rich_text"]) for b in w.page.children
    ]
    assert texts[0] == f"ingestlayer · notion.page · {event_id}"
    assert kinds[1] == "heading_3" and texts[1] == "notion.page"
    assert "ticket: T-9" in texts
    assert texts[-2:] == ["line one", "line two"]


async def test_large_append_is_split_in_order_and_a_retry_never_duplicates(
    notion_api: tuple[httpx.AsyncClient, World],
) -> None:
    api, w = notion_api
    lines = [f"row {n:03d}" for n in range(249)]
    w.fake.fail_next("append", 502, "internal_server_error", after=True, skip=1)
    event_id = await emit(api, "notion.big", {"body": "\n".join(lines)})
    status = await wait_status(api, event_id, {"completed"})
    result = delivery(status, "big", "page")
    assert result["attempts"] == 2
    assert result["result"]["already_appended"] == 200
    texts = [
        "".join(o["text"]["content"] for o in b[b["type"]]["rich_text"])
        for b in w.big_page.children
    ]
    assert texts == [f"ingestlayer · notion.big · {event_id}", *lines]


async def test_a_row_over_500_kb_is_cut_to_fit_and_the_result_says_where(
    notion_api: tuple[httpx.AsyncClient, World],
) -> None:
    api, w = notion_api
    body = "b" * 200_000
    event_id = await emit(api, "notion.wide", {"body": body})
    status = await wait_status(api, event_id, {"completed"})
    result = delivery(status, "wide", "db")["result"]
    props = row_for(w.wide, w.fake, event_id)
    cut = {s["property"] for s in result["skipped"] if "500 KB" in s["reason"]}
    assert cut and cut <= {"A", "B", "C"}
    for name in ("A", "B", "C"):
        written = text(props[name], "rich_text")
        if name in cut:
            assert written.endswith("…") and body.startswith(written[:-1])
        else:
            assert written == body
    assert text(props["Event ID"], "rich_text") == event_id
