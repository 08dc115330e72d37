"""Template output size through the real pipeline: text rendered over 64 KiB is a permanent
`template_too_large` error naming the template's field, for the Postgres, Slack and Notion
destinations and the `set` step; never a silent truncation, never an endless retry."""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from ingestlayer.destinations.notion import forget_schemas
from ingestlayer.templates import MAX_RENDERED_BYTES
from tests.conftest import PG_ADMIN_DSN, ApiFactory
from tests.fakes.notion import FakeNotion, schema
from tests.fakes.serving import serve
from tests.integration.api_helpers import delivery, emit, environ, wait_status

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOTION_TOKEN = "ntn_" + secrets.token_hex(16)
ENV = {
    "IL_TL_PG_DSN": PG_ADMIN_DSN,
    "IL_TL_NOTION_TOKEN": NOTION_TOKEN,
    "IL_TL_SLACK_TOKEN": "xoxb-" + secrets.token_hex(8),
}
ONCE = "{max_attempts: 3, initial_interval: 0.1}"
HALF = "x" * (MAX_RENDERED_BYTES // 2 + 10)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
async def table(pg_schema: str) -> str:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE TABLE "{pg_schema}".tl_notes (id text, note text)')
    finally:
        await conn.close()
    return f"{pg_schema}.tl_notes"


@pytest.fixture(scope="module")
async def api(start_api: ApiFactory, table: str) -> AsyncIterator[httpx.AsyncClient]:
    forget_schemas()
    fake = FakeNotion()
    fake.add_token(NOTION_TOKEN)
    notes = fake.add_database(schema(Name="title", Notes="rich_text"))
    with environ(ENV):
        async with serve(fake.app()) as notion_url:
            yield await start_api(
                f"""
pipelines:
  - name: pg
    on: tl.pg
    destinations:
      - name: db
        postgres: {{dsn: "${{IL_TL_PG_DSN}}", table: "{table}", columns: {{note: "$event.a / $event.a"}}}}
        retry: {ONCE}
  - name: slack
    on: tl.slack
    destinations:
      - name: chat
        slack:
          channel: "#alerts"
          token: "${{IL_TL_SLACK_TOKEN}}"
          base_url: "http://127.0.0.1:{_closed_port()}/api/"
          template: "New: $event.a and again $event.a"
        retry: {ONCE}
  - name: notion
    on: tl.notion
    destinations:
      - name: db
        notion:
          database: "{notes.id}"
          token: "${{IL_TL_NOTION_TOKEN}}"
          base_url: "{notion_url}"
          columns: {{Notes: "$event.a$event.a"}}
        retry: {ONCE}
  - name: set
    on: tl.set
    steps:
      - set: {{summary: "$event.a $event.a"}}
"""
            )


async def _dead_letter(api: httpx.AsyncClient, kind: str, payload: dict[str, Any]) -> Any:
    event_id = await emit(api, f"tl.{kind}", payload)
    status = await wait_status(api, event_id, {"dead_lettered", "completed", "failed"})
    return delivery(status, kind, "chat" if kind == "slack" else "db")


@pytest.mark.parametrize(
    ("kind", "field"),
    [("pg", "columns.note"), ("slack", "`template`"), ("notion", "columns.Notes")],
)
async def test_a_destination_template_over_the_limit_is_a_permanent_error_naming_its_field(
    api: httpx.AsyncClient, kind: str, field: str
) -> None:
    failed = await _dead_letter(api, kind, {"a": HALF})
    assert failed["state"] == "dead_lettered"
    assert failed["attempts"] == 1
    error = failed["last_error"]
    assert error["code"] == "template_too_large"
    assert error["retryable"] is False
    assert field in error["message"]
    assert str(MAX_RENDERED_BYTES) in error["message"]


async def test_the_same_template_under_the_limit_is_delivered(
    api: httpx.AsyncClient, table: str
) -> None:
    done = await _dead_letter(api, "pg", {"a": "short"})
    assert done["state"] == "delivered"


async def test_a_set_step_over_the_limit_holds_the_pipeline_as_failed_with_the_code(
    api: httpx.AsyncClient,
) -> None:
    event_id = await emit(api, "tl.set", {"a": HALF})
    status = await wait_status(api, event_id, {"failed", "completed"})
    assert status["state"] == "failed"
    step = status["pipelines"][0]["steps"][0]
    assert step["outcome"] == "failed"
    assert step["detail"]["error"]["code"] == "template_too_large"
    assert "set.summary" in step["detail"]["error"]["message"]
    redeliver = await api.post(f"/v1/events/{event_id}/redeliver", json={"pipeline": "set"})
    assert redeliver.status_code == 202, redeliver.text
    again = await wait_status(api, event_id, {"failed"})
    assert again["pipelines"][0]["steps"][0]["detail"]["error"]["code"] == "template_too_large"
