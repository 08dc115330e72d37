"""Events through the whole path: API → workflow → steps → webhook and Postgres deliveries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from tests.conftest import PG_ADMIN_DSN, ApiFactory
from tests.fakes.receiver import Receiver
from tests.integration.api_helpers import delivery, emit, wait_status

pytestmark = pytest.mark.asyncio(loop_scope="session")

SECRET = "whsec_test_secret_for_signing"
BEARER = "bearer-token-for-tests"
RECEIVER_URL: dict[str, str] = {}
FAST_RETRY = "{max_attempts: 3, initial_interval: 0.2, backoff: 2, max_interval: 1}"


def pipelines(receiver_url: str, schema: str) -> str:
    return f"""
pipelines:
  - name: escalations
    on: support.ticket.created
    steps:
      - set:
          urgency: $event.priority
          summary: "[$event.customer_tier] $event.subject"
      - filter.match: urgency in [high, critical]
    destinations:
      - name: on-call
        webhook:
          url: {receiver_url}/ok/on-call
          auth: {{type: hmac, secret: "${{IL_TEST_HMAC_SECRET}}"}}
        when: urgency = critical
      - name: everything
        webhook:
          url: {receiver_url}/ok/everything
          auth: {{type: bearer, token: "${{IL_TEST_BEARER}}"}}
  - name: flaky
    on: test.flaky
    destinations:
      - webhook: {{url: "{receiver_url}/flaky/2/flaky-hook"}}
        retry: {FAST_RETRY}
  - name: switchable
    on: test.switch
    destinations:
      - name: hook
        webhook: {{url: "{receiver_url}/switch/switch-hook"}}
        retry: {{max_attempts: 2, initial_interval: 0.1}}
  - name: gone
    on: test.gone
    destinations:
      - webhook: {{url: "{receiver_url}/status/404/gone-hook"}}
        retry: {{max_attempts: 2, initial_interval: 0.1}}
  - name: timeouts
    on: test.slow
    destinations:
      - webhook: {{url: "{receiver_url}/slow/2/slow-hook", timeout: 0.3}}
        retry: {{max_attempts: 2, initial_interval: 0.1}}
  - name: fixable
    on: test.fixable
    destinations:
      - name: hook
        webhook: {{url: "{receiver_url}/status/500/broken-hook"}}
        retry: {{max_attempts: 1}}
  - name: live
    on: test.live
    destinations:
      - webhook: {{url: "{receiver_url}/status/500/live-hook"}}
        retry: {{max_attempts: 4, initial_interval: 0.7, backoff: 1}}
  - name: warehouse
    on: [user.signed_up, test.pg.*]
    destinations:
      - postgres:
          dsn: "${{IL_TEST_PG_DSN}}"
          table: {schema}.signups
          columns:
            email_domain: $event.domain
      - name: broken
        postgres:
          dsn: "${{IL_TEST_PG_DSN}}"
          table: {schema}.signups
          columns:
            no_such_column: $event.email
        when: type = test.pg.broken
"""


@pytest.fixture(scope="module")
async def setup(
    start_api: ApiFactory,
    receiver: tuple[Receiver, str],
    pg_schema: str,
    monkeypatch_module: pytest.MonkeyPatch,
) -> tuple[httpx.AsyncClient, Receiver, str]:
    fake, url = receiver
    RECEIVER_URL["url"] = url
    monkeypatch_module.setenv("IL_TEST_HMAC_SECRET", SECRET)
    monkeypatch_module.setenv("IL_TEST_BEARER", BEARER)
    monkeypatch_module.setenv("IL_TEST_PG_DSN", PG_ADMIN_DSN)
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    await conn.execute(
        f"""CREATE TABLE "{pg_schema}".signups (
            id text PRIMARY KEY, type text, "timestamp" timestamptz,
            email text, plan text, seats int, email_domain text, payload jsonb)"""
    )
    await conn.close()
    api = await start_api(pipelines(url, pg_schema))
    return api, fake, pg_schema


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def independent_verify(header: str, body: bytes, secret: str, now: int) -> bool:
    """The receiver side of the scheme, written from the product page, not from our code."""
    fields: dict[str, list[str]] = {}
    for pair in header.split(","):
        key, value = pair.split("=", 1)
        fields.setdefault(key, []).append(value)
    timestamp = fields["t"][0]
    if abs(now - int(timestamp)) > 300:
        return False
    signed_payload = timestamp.encode() + b"." + body
    expected = hmac.new(secret.encode(), signed_payload, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for v in fields.get("v1", []))


async def test_critical_ticket_reaches_both_destinations_with_labels(setup: Any) -> None:
    api, fake, _ = setup
    event_id = await emit(
        api,
        "support.ticket.created",
        {
            "ticket_id": "T-1",
            "subject": "Checkout down",
            "priority": "critical",
            "customer_tier": "pro",
        },
    )
    status = await wait_status(api, event_id, {"completed"})
    assert delivery(status, "escalations", "on-call")["state"] == "delivered"
    assert delivery(status, "escalations", "everything")["state"] == "delivered"
    [hit] = [r for r in fake.accepted("on-call") if r.json["id"] == event_id]
    assert hit.json["type"] == "support.ticket.created"
    assert hit.json["payload"]["ticket_id"] == "T-1"
    assert hit.json["labels"] == {"urgency": "critical", "summary": "[pro] Checkout down"}
    assert hit.headers["x-ingestlayer-event-id"] == event_id
    assert hit.headers["idempotency-key"] == event_id
    assert hit.headers["content-type"] == "application/json"


async def test_hmac_signature_verifies_with_an_independent_implementation(setup: Any) -> None:
    api, fake, _ = setup
    event_id = await emit(
        api,
        "support.ticket.created",
        {"subject": "S", "priority": "critical", "customer_tier": "free"},
    )
    await wait_status(api, event_id, {"completed"})
    [hit] = [r for r in fake.accepted("on-call") if r.json["id"] == event_id]
    header = hit.headers["x-ingestlayer-signature"]
    now = int(time.time())
    assert independent_verify(header, hit.body, SECRET, now)
    assert not independent_verify(header, hit.body, "another-secret", now)
    assert not independent_verify(header, hit.body + b" ", SECRET, now)


async def test_bearer_auth_sends_the_token(setup: Any) -> None:
    api, fake, _ = setup
    event_id = await emit(
        api, "support.ticket.created", {"subject": "S", "priority": "high", "customer_tier": "free"}
    )
    await wait_status(api, event_id, {"completed"})
    [hit] = [r for r in fake.accepted("everything") if r.json["id"] == event_id]
    assert hit.headers["authorization"] == f"Bearer {BEARER}"
    assert "x-ingestlayer-signature" not in hit.headers


async def test_when_condition_skips_the_destination_it_does_not_match(setup: Any) -> None:
    api, fake, _ = setup
    event_id = await emit(
        api, "support.ticket.created", {"subject": "S", "priority": "high", "customer_tier": "free"}
    )
    status = await wait_status(api, event_id, {"completed"})
    assert delivery(status, "escalations", "on-call")["state"] == "skipped"
    assert delivery(status, "escalations", "everything")["state"] == "delivered"
    assert not [r for r in fake.for_name("on-call") if r.json["id"] == event_id]


async def test_filter_match_ends_the_pipeline_as_filtered(setup: Any) -> None:
    api, fake, _ = setup
    event_id = await emit(
        api, "support.ticket.created", {"subject": "S", "priority": "low", "customer_tier": "free"}
    )
    status = await wait_status(api, event_id, {"filtered"})
    [pipeline] = status["pipelines"]
    assert pipeline["state"] == "filtered"
    assert [s["outcome"] for s in pipeline["steps"]] == ["applied", "filtered"]
    assert pipeline["deliveries"] == []
    assert not [r for r in fake.requests if r.body and json.loads(r.body).get("id") == event_id]


async def test_event_with_no_pipeline_is_unrouted_not_lost(setup: Any) -> None:
    api, _, _ = setup
    event_id = await emit(api, "nobody.listens", {"x": 1})
    status = await wait_status(api, event_id, {"unrouted"})
    assert status["pipelines"] == []
    deadline = time.monotonic() + 30
    while status["workflow"]["status"] != "completed":
        # the query can answer `unrouted` a moment before the workflow's completion is recorded
        assert time.monotonic() < deadline, status["workflow"]
        await asyncio.sleep(0.1)
        status = (await api.get(f"/v1/events/{event_id}")).json()
    assert status["state"] == "unrouted"


async def test_receiver_failing_twice_gets_the_event_once_on_the_third_try(setup: Any) -> None:
    api, fake, _ = setup
    event_id = await emit(api, "test.flaky", {"n": 1})
    status = await wait_status(api, event_id, {"completed"})
    hook = delivery(status, "flaky", "webhook")
    assert hook["state"] == "delivered"
    assert hook["attempts"] == 3
    requests = [r for r in fake.for_name("flaky-hook") if r.json["id"] == event_id]
    assert [r.status for r in requests] == [500, 500, 200]
    assert {r.headers["idempotency-key"] for r in requests} == {event_id}


async def test_dead_letter_then_redeliver_after_the_receiver_is_fixed(
    setup: Any, temporal_client: Client
) -> None:
    api, fake, _ = setup
    fake.down.add("switch-hook")
    event_id = await emit(api, "test.switch", {"n": 1})
    status = await wait_status(api, event_id, {"dead_lettered"})
    hook = delivery(status, "switchable", "hook")
    assert hook["state"] == "dead_lettered"
    assert hook["attempts"] == 2
    assert hook["last_error"]["code"] == "http_503"
    assert status["workflow"]["status"] == "running"
    query = "IngestlayerDeadLetter = true AND IngestlayerDeadLetterDestinations = 'switchable/hook'"
    deadline = time.monotonic() + 10
    listed: list[str] = []
    while event_id not in listed and time.monotonic() < deadline:
        listed = [w.id async for w in temporal_client.list_workflows(query)]
        await asyncio.sleep(0.2)
    assert event_id in listed

    fake.down.discard("switch-hook")
    response = await api.post(f"/v1/events/{event_id}/redeliver", json={"destination": "hook"})
    assert response.status_code == 202
    assert response.json()["redelivering"] == ["switchable/hook"]
    status = await wait_status(api, event_id, {"completed"})
    hook = delivery(status, "switchable", "hook")
    assert hook["state"] == "delivered"
    assert hook["redeliveries"] == 1
    assert len([r for r in fake.accepted("switch-hook") if r.json["id"] == event_id]) == 1
    again = await api.post(f"/v1/events/{event_id}/redeliver")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "nothing_to_redeliver"


async def test_exhausted_retries_dead_letter_with_the_last_error(setup: Any) -> None:
    api, _, _ = setup
    event_id = await emit(api, "test.gone", {})
    status = await wait_status(api, event_id, {"dead_lettered"})
    hook = delivery(status, "gone", "webhook")
    assert hook["attempts"] == 2
    assert hook["last_error"]["code"] == "http_404"
    assert hook["last_error"]["retryable"] is True


async def test_slow_receiver_times_out_and_retries(setup: Any) -> None:
    api, _, _ = setup
    event_id = await emit(api, "test.slow", {})
    status = await wait_status(api, event_id, {"dead_lettered"})
    hook = delivery(status, "timeouts", "webhook")
    assert hook["attempts"] == 2
    assert hook["last_error"]["code"] == "timeout"


async def test_postgres_row_lands_with_mapped_and_coerced_columns(setup: Any) -> None:
    api, _, schema = setup
    event_id = await emit(
        api,
        "user.signed_up",
        {"email": "ada@acme.com", "plan": "pro", "seats": "3", "domain": "acme.com"},
    )
    status = await wait_status(api, event_id, {"completed"})
    assert delivery(status, "warehouse", "postgres")["state"] == "delivered"
    assert delivery(status, "warehouse", "broken")["state"] == "skipped"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        row = await conn.fetchrow(f'SELECT * FROM "{schema}".signups WHERE id = $1', event_id)
    finally:
        await conn.close()
    assert row is not None
    assert (row["type"], row["email"], row["plan"], row["seats"]) == (
        "user.signed_up",
        "ada@acme.com",
        "pro",
        3,
    )
    assert row["email_domain"] == "acme.com"
    assert json.loads(row["payload"])["payload"]["email"] == "ada@acme.com"


async def test_undefined_postgres_column_dead_letters_at_once_with_the_database_message(
    setup: Any,
) -> None:
    api, _, _ = setup
    event_id = await emit(api, "test.pg.broken", {"email": "x@y.z"})
    status = await wait_status(api, event_id, {"dead_lettered"})
    broken = delivery(status, "warehouse", "broken")
    assert broken["attempts"] == 1
    assert broken["last_error"]["retryable"] is False
    assert broken["last_error"]["code"] == "undefined_column"
    assert "no_such_column" in broken["last_error"]["message"]
    assert delivery(status, "warehouse", "postgres")["state"] == "delivered"


async def test_redeliver_with_corrected_settings_uses_them(setup: Any) -> None:
    api, fake, _ = setup
    event_id = await emit(api, "test.fixable", {"n": 1})
    status = await wait_status(api, event_id, {"dead_lettered"})
    assert delivery(status, "fixable", "hook")["attempts"] == 1
    [failed] = [r for r in fake.for_name("broken-hook") if r.json["id"] == event_id]
    assert failed.status == 500
    fixed_url = RECEIVER_URL["url"] + "/ok/fixed-hook"
    response = await api.post(
        f"/v1/events/{event_id}/redeliver",
        json={"pipeline": "fixable", "options": {"url": fixed_url}},
    )
    assert response.status_code == 202
    status = await wait_status(api, event_id, {"completed"})
    hook = delivery(status, "fixable", "hook")
    assert hook["state"] == "delivered"
    assert hook["attempts"] == 2
    assert [r.json["id"] for r in fake.accepted("fixed-hook")] == [event_id]


async def test_status_shows_attempts_and_last_error_while_retrying(setup: Any) -> None:
    api, _, _ = setup
    event_id = await emit(api, "test.live", {})
    deadline = time.monotonic() + 20
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = (await api.get(f"/v1/events/{event_id}")).json()
        hook = delivery(status, "live", "webhook")
        if hook["state"] == "retrying" and hook["attempts"] >= 2:
            seen = hook
            break
        await asyncio.sleep(0.1)
    assert seen, "never saw the delivery retrying with two attempts made"
    assert seen["last_error"]["code"] == "http_500"
    final = await wait_status(api, event_id, {"dead_lettered"})
    assert delivery(final, "live", "webhook")["attempts"] == 4


async def test_dead_letters_are_listed_by_destination_and_type(setup: Any) -> None:
    api, _, _ = setup
    event_id = await emit(api, "test.gone", {"listed": True})
    await wait_status(api, event_id, {"dead_lettered"})
    deadline = time.monotonic() + 10
    while True:
        by_destination = await api.get("/v1/dead-letters", params={"destination": "gone/webhook"})
        ids = [d["id"] for d in by_destination.json()["dead_letters"]]
        if event_id in ids or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    by_type = await api.get("/v1/dead-letters", params={"event_type": "test.gone"})
    other_type = await api.get("/v1/dead-letters", params={"event_type": "user.signed_up"})
    assert by_destination.status_code == 200
    listed = {d["id"]: d for d in by_destination.json()["dead_letters"]}
    assert listed[event_id]["destinations"] == ["gone/webhook"]
    assert listed[event_id]["type"] == "test.gone"
    assert listed[event_id]["status_url"].endswith(f"/v1/events/{event_id}")
    assert event_id in {d["id"] for d in by_type.json()["dead_letters"]}
    assert event_id not in {d["id"] for d in other_type.json()["dead_letters"]}
    bad = await api.get("/v1/dead-letters", params={"event_type": "x' OR '1'='1"})
    assert bad.status_code == 422
