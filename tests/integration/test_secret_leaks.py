"""Secrets never leak: a distinct sentinel is planted in every kind of credential (webhook bearer
token, custom header, token in a URL, HMAC secret and a rotating pair, Standard Webhooks
secret, Slack and Notion tokens, Postgres DSN passwords, OpenAI and Anthropic keys, the API key
and the service's own secrets), all through `${ENV}` references; deliveries succeed and fail in
every way the product knows; then no sentinel may appear in any workflow's history (decoded and
raw), in what Temporal lists in the clear, in any log record at DEBUG, in any status or error
answer, or in the errors the adapters raise when called directly."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr, ValidationError
from standardwebhooks import Webhook
from temporalio.client import Client, WorkflowExecution

from activities.deliver import run_delivery
from activities.steps import run_classify
from ingestlayer import config
from ingestlayer.config import PipelineSet
from ingestlayer.destinations.errors import DeliveryError
from ingestlayer.destinations.notion import forget_schemas
from ingestlayer.destinations.ssrf import OutboundPolicy
from ingestlayer.events import Event
from ingestlayer.settings import Settings, hash_api_key
from ingestlayer.status import DeliveryInput, StepInput
from tests.conftest import PG_ADMIN_DSN, ApiFactory
from tests.fakes.llm import FakeLLM
from tests.fakes.notion import Database, FakeNotion, schema
from tests.fakes.receiver import Receiver
from tests.fakes.serving import serve
from tests.fakes.slack import FakeSlack
from tests.integration.api_helpers import environ
from tests.integration.leak_scan import (
    Findings,
    LogCapture,
    Sentinels,
    fake_side,
    workflow_texts,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

EVENT_TYPE = "leaks.secret"
RUN = secrets.token_hex(3)
S = Sentinels()
ENV = {
    "IL_LEAKS_BEARER": S.make("webhook-bearer"),
    "IL_LEAKS_BEARER_REJECTED": S.make("webhook-bearer-rejected"),
    "IL_LEAKS_HEADER": S.make("webhook-header"),
    "IL_LEAKS_HMAC": S.make("hmac"),
    "IL_LEAKS_HMAC_OLD": S.make("hmac-old"),
    "IL_LEAKS_HMAC_NEW": S.make("hmac-new"),
    "IL_LEAKS_WHSEC": S.whsec("whsec"),
    "IL_LEAKS_SLACK": S.make("slack"),
    "IL_LEAKS_SLACK_WRONG": S.make("slack-wrong"),
    "IL_LEAKS_NOTION": S.make("notion"),
    "IL_LEAKS_NOTION_WRONG": S.make("notion-wrong"),
    "IL_LEAKS_OPENAI": S.make("openai"),
    "IL_LEAKS_OPENAI_WRONG": S.make("openai-wrong"),
    "IL_LEAKS_ANTHROPIC": S.make("anthropic"),
    "IL_LEAKS_ANTHROPIC_WRONG": S.make("anthropic-wrong"),
}
URL_TOKEN = S.make("webhook-url-token")
SSRF_PASSWORD = S.make("ssrf-url")
HOSTLESS_TOKEN = S.make("hostless-url")
PG_PASSWORDS = {name: S.make(name) for name in ("pg", "pg-missing-table", "pg-closed-port")}
API_KEY = S.make("api-key")
WRONG_API_KEY = S.make("api-key-wrong")
DATABASE_URL = f"postgresql://ingestlayer:{S.make('database-url')}@127.0.0.1:5432/test"
CODEC_KEY = S.make("ck")  # 32 characters: the bytes of an AES-256 key
CODEC_KEYS = f"leaks:{base64.b64encode(CODEC_KEY.encode()).decode()}"
S.extra_needles["ck"] = [CODEC_KEYS.split(":", 1)[1]]
CODEC_UI_TOKEN = S.make("codec-ui-token")
WRONG_CODEC_UI_TOKEN = S.make("codec-ui-token-wrong")
UNSET = f"IL_LEAKS_UNSET_{RUN.upper()}"
FAST = "{max_attempts: 3, initial_interval: 0.1, backoff: 1, max_interval: 0.1}"

FINAL = {"delivered", "dead_lettered", "skipped", "expired"}
# (pipeline, destination) -> (state, error code); a destination of None is the pipeline's step.
EXPECTED: dict[tuple[str, str | None], tuple[str, str | None]] = {
    ("webhooks", "bearer"): ("delivered", None),
    ("webhooks", "url-token"): ("delivered", None),
    ("webhooks", "hmac"): ("delivered", None),
    ("webhooks", "rotating"): ("delivered", None),
    ("webhooks", "standard"): ("delivered", None),
    ("webhooks-failing", "rejected"): ("dead_lettered", "http_401"),
    ("webhooks-failing", "blocked"): ("dead_lettered", "blocked_destination"),
    ("webhooks-failing", "hostless"): ("dead_lettered", "blocked_destination"),
    ("webhooks-failing", "unset"): ("dead_lettered", "missing_secret"),
    ("slack", "slack"): ("delivered", None),
    ("slack-wrong", "slack"): ("dead_lettered", "invalid_auth"),
    ("notion", "notion"): ("delivered", None),
    ("notion-wrong", "notion"): ("dead_lettered", "unauthorized"),
    ("postgres", "table"): ("delivered", None),
    ("postgres-failing", "missing-table"): ("dead_lettered", "undefined_table"),
    ("postgres-failing", "closed-port"): ("dead_lettered", "connection_error"),
    ("classify-openai", "labelled"): ("delivered", None),
    ("classify-anthropic", "labelled"): ("delivered", None),
    ("classify-openai-wrong", None): ("failed", "unauthorized"),
    ("classify-anthropic-wrong", None): ("failed", "unauthorized"),
}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class World:
    api: httpx.AsyncClient
    pipelines: PipelineSet
    receiver: Receiver
    slack: FakeSlack
    notion: FakeNotion
    database: Database
    openai: FakeLLM
    anthropic: FakeLLM
    quoting: FakeLLM
    table: str
    configured: Settings
    env: dict[str, str]


def pipelines_yaml(urls: dict[str, str], table: str, db: Database) -> str:
    rx = urls["receiver"]

    def classify(name: str, provider: str, key: str, base: str) -> str:
        base_url = f"{base}/v1" if provider == "openai" else base
        return f"""
  - name: {name}
    on: {EVENT_TYPE}
    steps:
      - classify:
          output: urgency
          labels: [low, high]
          cache: {{enabled: false}}
          model: {{provider: {provider}, model: "{name}-{RUN}", api_key: "${{{key}}}", base_url: "{base_url}"}}
    destinations:
      - name: labelled
        webhook: {{url: "{rx}/ok/leaks-{name}"}}"""

    slack = f'base_url: "{urls["slack"]}/api/", rate_per_second: 50'
    notion = f'database: "{db.id}", base_url: "{urls["notion"]}", requests_per_second: 50'
    return f"""
pipelines:
  - name: webhooks
    on: {EVENT_TYPE}
    destinations:
      - name: bearer
        webhook:
          url: "{rx}/ok/leaks-bearer"
          auth: {{type: bearer, token: "${{IL_LEAKS_BEARER}}"}}
          headers: {{X-Api-Key: "${{IL_LEAKS_HEADER}}"}}
      - name: url-token
        webhook: {{url: "${{IL_LEAKS_HOOK_URL}}"}}
      - name: hmac
        webhook:
          url: "{rx}/ok/leaks-hmac"
          auth: {{type: hmac, secret: "${{IL_LEAKS_HMAC}}"}}
      - name: rotating
        webhook:
          url: "{rx}/ok/leaks-rotating"
          auth: {{type: hmac, secrets: ["${{IL_LEAKS_HMAC_OLD}}", "${{IL_LEAKS_HMAC_NEW}}"]}}
      - name: standard
        webhook:
          url: "{rx}/ok/leaks-standard"
          auth: {{type: standard, secret: "${{IL_LEAKS_WHSEC}}"}}
  - name: webhooks-failing
    on: {EVENT_TYPE}
    destinations:
      - name: rejected
        webhook:
          url: "{rx}/echo/500,401/leaks-rejected"
          auth: {{type: bearer, token: "${{IL_LEAKS_BEARER_REJECTED}}"}}
          headers: {{X-Api-Key: "${{IL_LEAKS_HEADER}}"}}
        retry: {FAST}
      - name: blocked
        webhook: {{url: "${{IL_LEAKS_SSRF_URL}}"}}
        retry: {FAST}
      - name: hostless
        webhook: {{url: "${{IL_LEAKS_HOSTLESS_URL}}"}}
        retry: {FAST}
      - name: unset
        webhook:
          url: "{rx}/ok/leaks-unset"
          auth: {{type: bearer, token: "${{{UNSET}}}"}}
        retry: {FAST}
  - name: slack
    on: {EVENT_TYPE}
    destinations:
      - name: slack
        slack: {{channel: "#leaks-{RUN}", token: "${{IL_LEAKS_SLACK}}", {slack}}}
  - name: slack-wrong
    on: {EVENT_TYPE}
    destinations:
      - name: slack
        slack: {{channel: "#leaks-wrong-{RUN}", token: "${{IL_LEAKS_SLACK_WRONG}}", {slack}}}
  - name: notion
    on: {EVENT_TYPE}
    destinations:
      - name: notion
        notion: {{token: "${{IL_LEAKS_NOTION}}", {notion}}}
  - name: notion-wrong
    on: {EVENT_TYPE}
    destinations:
      - name: notion
        notion: {{token: "${{IL_LEAKS_NOTION_WRONG}}", {notion}}}
  - name: postgres
    on: {EVENT_TYPE}
    destinations:
      - name: table
        postgres: {{dsn: "${{IL_LEAKS_PG}}", table: "{table}"}}
  - name: postgres-failing
    on: {EVENT_TYPE}
    destinations:
      - name: missing-table
        postgres: {{dsn: "${{IL_LEAKS_PG_MISSING}}", table: "{table}_missing"}}
        retry: {FAST}
      - name: closed-port
        postgres: {{dsn: "${{IL_LEAKS_PG_CLOSED}}", table: "{table}", timeout: 2}}
        retry: {FAST}
{classify("classify-openai", "openai", "IL_LEAKS_OPENAI", urls["openai"])}
{classify("classify-anthropic", "anthropic", "IL_LEAKS_ANTHROPIC", urls["anthropic"])}
{classify("classify-openai-wrong", "openai", "IL_LEAKS_OPENAI_WRONG", urls["openai"])}
{classify("classify-anthropic-wrong", "anthropic", "IL_LEAKS_ANTHROPIC_WRONG", urls["quoting"])}
"""


def runtime_env(urls: dict[str, str]) -> dict[str, str]:
    """Values that need the fakes' addresses: URLs and DSNs holding secrets."""
    pg = PG_PASSWORDS
    return {
        **ENV,
        "IL_LEAKS_HOOK_URL": f"{urls['receiver']}/ok/leaks-url-token?token={URL_TOKEN}",
        "IL_LEAKS_SSRF_URL": (
            f"https://leak:{SSRF_PASSWORD}@169.254.169.254/latest/meta-data?token={SSRF_PASSWORD}"
        ),
        "IL_LEAKS_HOSTLESS_URL": f"https:///hooks?token={HOSTLESS_TOKEN}",
        "IL_LEAKS_PG": f"postgresql://postgres:{pg['pg']}@127.0.0.1:5432/test",
        "IL_LEAKS_PG_MISSING": f"postgresql://postgres:{pg['pg-missing-table']}@127.0.0.1:5432/test",
        "IL_LEAKS_PG_CLOSED": (
            f"postgresql://postgres:{pg['pg-closed-port']}@127.0.0.1:{closed_port()}/test"
        ),
    }


def service_env() -> dict[str, str]:
    return {
        "INGESTLAYER_API_KEYS": API_KEY,
        "INGESTLAYER_DATABASE_URL": DATABASE_URL,
        "INGESTLAYER_CODEC_KEYS": CODEC_KEYS,
        "INGESTLAYER_CODEC_UI_TOKEN": CODEC_UI_TOKEN,
    }


@pytest.fixture(scope="module")
async def world(start_api: ApiFactory, pg_schema: str) -> AsyncIterator[World]:
    receiver = Receiver()
    slack = FakeSlack(rate=50, burst=50)
    slack.add_token(ENV["IL_LEAKS_SLACK"])
    slack.add_channel(f"leaks-{RUN}")
    slack.add_channel(f"leaks-wrong-{RUN}")
    notion = FakeNotion(rate=50, burst=50)
    notion.add_token(ENV["IL_LEAKS_NOTION"])
    database = notion.add_database(schema(Name="title", Event_ID="rich_text"))
    openai = FakeLLM(api_key=ENV["IL_LEAKS_OPENAI"])
    anthropic = FakeLLM(api_key=ENV["IL_LEAKS_ANTHROPIC"])
    quoting = FakeLLM()  # a proxy that quotes the key it rejects
    for _ in range(20):
        quoting.fail(401, message=f"invalid x-api-key {ENV['IL_LEAKS_ANTHROPIC_WRONG']}")
    table = f"{pg_schema}.leaks_{RUN}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    await conn.execute(f"CREATE TABLE {table} (id text PRIMARY KEY, type text, payload jsonb)")
    await conn.close()
    forget_schemas()
    with environ(service_env()):
        configured = Settings()
    async with (
        serve(fake_side(receiver.app())) as rx,
        serve(fake_side(slack.app())) as slack_url,
        serve(fake_side(notion.app())) as notion_url,
        serve(fake_side(openai.app())) as openai_url,
        serve(fake_side(anthropic.app())) as anthropic_url,
        serve(fake_side(quoting.app())) as quoting_url,
    ):
        urls = {
            "receiver": rx,
            "slack": slack_url,
            "notion": notion_url,
            "openai": openai_url,
            "anthropic": anthropic_url,
            "quoting": quoting_url,
        }
        text = pipelines_yaml(urls, table, database)
        api = await start_api(
            text,
            api_key_hashes=configured.api_key_hashes,
            codec_ui_token=configured.codec_ui_token,
        )
        api.headers["Authorization"] = f"Bearer {API_KEY}"
        yield World(
            api=api,
            pipelines=PipelineSet(pipelines=config.parse_text(text, "leaks.yml")),
            receiver=receiver,
            slack=slack,
            notion=notion,
            database=database,
            openai=openai,
            anthropic=anthropic,
            quoting=quoting,
            table=table,
            configured=configured,
            env=runtime_env(urls),
        )


@pytest.fixture
def logs(world: World) -> Iterator[LogCapture]:
    """After `world`, so every server (uvicorn resets its loggers on start) already runs."""
    capture = LogCapture()
    capture.start()
    try:
        yield capture
    finally:
        capture.stop()


@pytest.fixture
def secret_env(world: World, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The worker runs in this process: its secrets resolve from this environment."""
    for name, value in world.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(UNSET, raising=False)
    return world.env


# --- helpers --------------------------------------------------------------------------------


async def emit(api: httpx.AsyncClient, payload: dict[str, Any]) -> str:
    response = await api.post("/v1/events", json={"type": EVENT_TYPE, "payload": payload})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def settled(status: dict[str, Any]) -> bool:
    pipelines = status.get("pipelines") or []
    if len(pipelines) < len({p for p, _ in EXPECTED}):
        return False
    return all(
        p["state"] != "running" and all(d["state"] in FINAL for d in p["deliveries"])
        for p in pipelines
    )


async def wait_settled(api: httpx.AsyncClient, event_id: str, within: float = 25) -> dict[str, Any]:
    deadline = time.monotonic() + within
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await api.get(f"/v1/events/{event_id}")
        body = response.json()
        if response.status_code == 200 and settled(body):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"event {event_id} did not settle: {json.dumps(body)[:3000]}")


def outcome(status: dict[str, Any], pipeline: str, destination: str | None) -> tuple[str, Any]:
    p = next(p for p in status["pipelines"] if p["name"] == pipeline)
    if destination is None:
        failed = [s for s in p["steps"] if s["outcome"] == "failed"]
        code = failed[0]["detail"]["error"]["code"] if failed else None
        return p["state"], code
    d = next(d for d in p["deliveries"] if d["destination"] == destination)
    return d["state"], (d["last_error"] or {}).get("code") if d["state"] != "delivered" else None


async def created_workflows(
    client: Client, since: datetime, must_include: set[str]
) -> list[WorkflowExecution]:
    """Every run started since the test began (events, outboxes, continued runs); visibility
    can lag a moment behind, so wait until it lists the ones we know of."""
    query = f"StartTime >= '{since.isoformat().replace('+00:00', 'Z')}'"
    listed: list[WorkflowExecution] = []
    for _ in range(50):
        listed = [wf async for wf in client.list_workflows(query)]
        if must_include <= {wf.id for wf in listed}:
            return listed
        await asyncio.sleep(0.1)
    raise AssertionError(f"not listed: {must_include - {wf.id for wf in listed}}")


def destination_input(world: World, pipeline: str, name: str, event: Event) -> DeliveryInput:
    spec = world.pipelines.by_name(pipeline)
    assert spec is not None
    dest = next(d for d in spec.destinations if d.name == name)
    return DeliveryInput(
        event=event, pipeline=pipeline, destination=name, kind=dest.kind, options=dest.options
    )


def make_event(n: int) -> Event:
    return Event(
        id=f"evt_{uuid.uuid4().hex}",
        type=EVENT_TYPE,
        timestamp=datetime.now(UTC),
        payload={"n": n, "subject": "direct call"},
    )


def assert_clean(findings: Findings) -> None:
    assert findings.scanned > 0
    assert not findings.places, "secrets leaked:\n" + "\n".join(findings.places[:40])


# --- tests ----------------------------------------------------------------------------------


async def test_no_secret_reaches_history_logs_or_statuses(
    world: World,
    logs: LogCapture,
    secret_env: dict[str, str],
    temporal_client: Client,
) -> None:
    api = world.api
    started = datetime.now(UTC)
    first = await emit(api, {"n": 1, "subject": "Checkout is down"})
    second = await emit(api, {"n": 2, "subject": "Refund please"})
    statuses = {eid: await wait_settled(api, eid) for eid in (first, second)}

    for event_id, status in statuses.items():
        for (pipeline, destination), expected in EXPECTED.items():
            assert outcome(status, pipeline, destination) == expected, (event_id, pipeline)
    held = [
        d["last_error"]["message"]
        for status in statuses.values()
        for p in status["pipelines"]
        if p["name"] in ("slack-wrong", "notion-wrong")
        for d in p["deliveries"]
    ]
    assert sum("disconnected" in message for message in held) == 2, held
    for status in statuses.values():
        closed = next(
            d
            for p in status["pipelines"]
            if p["name"] == "postgres-failing"
            for d in p["deliveries"]
            if d["destination"] == "closed-port"
        )
        assert closed["last_error"]["retryable"] is True
        assert closed["attempts"] == 3

    # every sentinel really was used: the providers got them
    bearer = world.receiver.for_name("leaks-bearer")[0].headers
    assert bearer["authorization"] == f"Bearer {ENV['IL_LEAKS_BEARER']}"
    assert bearer["x-api-key"] == ENV["IL_LEAKS_HEADER"]
    assert len(world.receiver.accepted("leaks-url-token")) == 2
    rejected = world.receiver.for_name("leaks-rejected")
    for event_id in statuses:
        tries = [r.status for r in rejected if r.headers["x-ingestlayer-event-id"] == event_id]
        assert tries == [500, 401, 401]
    assert rejected[0].headers["authorization"] == f"Bearer {ENV['IL_LEAKS_BEARER_REJECTED']}"
    signed = world.receiver.for_name("leaks-hmac")[0]
    t, v1 = (part.split("=", 1)[1] for part in signed.headers["x-ingestlayer-signature"].split(","))
    expected_mac = hmac.new(ENV["IL_LEAKS_HMAC"].encode(), f"{t}.".encode() + signed.body, "sha256")
    assert hmac.compare_digest(v1, expected_mac.hexdigest())
    assert (
        world.receiver.for_name("leaks-rotating")[0].headers["x-ingestlayer-signature"].count("v1=")
        == 2
    )
    standard = world.receiver.for_name("leaks-standard")[0]
    Webhook(ENV["IL_LEAKS_WHSEC"]).verify(standard.body, standard.headers)
    assert len(world.slack.posted_to(f"leaks-{RUN}")) == 2
    assert len(world.notion.rows(world.database)) == 2
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        stored = await conn.fetch(f"SELECT id FROM {world.table}")
    finally:
        await conn.close()
    assert {r["id"] for r in stored} == {first, second}
    assert {r.headers.get("authorization") for r in world.openai.requests} == {
        f"Bearer {ENV['IL_LEAKS_OPENAI']}",
        f"Bearer {ENV['IL_LEAKS_OPENAI_WRONG']}",
    }
    assert {r.headers.get("x-api-key") for r in world.anthropic.requests} == {
        ENV["IL_LEAKS_ANTHROPIC"]
    }
    assert {r.headers.get("x-api-key") for r in world.quoting.requests} == {
        ENV["IL_LEAKS_ANTHROPIC_WRONG"]
    }

    findings = Findings(S)
    # status answers and error bodies
    answers = [await api.get(f"/v1/events/{eid}") for eid in statuses]
    answers += [
        await api.get("/v1/outboxes"),
        await api.get("/v1/dead-letters"),
        await api.get("/v1/dead-letters", params={"destination": "slack-wrong/slack"}),
        await api.get("/metrics"),
        await api.get("/v1/events/evt_" + "0" * 32),
        await api.post(
            "/v1/events", content=b"{not json", headers={"Content-Type": "application/json"}
        ),
        await api.post(f"/v1/events/{first}/redeliver", json={"destination": "no-such"}),
        await api.get(f"/v1/events/{first}", headers={"Authorization": f"Bearer {WRONG_API_KEY}"}),
        await api.get("/v1/outboxes", headers={"Authorization": f"Basic {WRONG_API_KEY}"}),
        await api.post("/codec/decode", json={"payloads": []}),
        await api.post(f"/codec/ui/{CODEC_UI_TOKEN}/decode", json={"payloads": []}),
        await api.post(f"/codec/ui/{WRONG_CODEC_UI_TOKEN}/decode", json={"payloads": []}),
    ]
    assert [r.status_code for r in answers[-3:]] == [200, 200, 404]
    assert answers[-5].status_code == 401
    outboxes = answers[2].json()["outboxes"]
    held_targets = {o["target"]: o for o in outboxes if o["state"] == "disconnected"}
    assert {"slack:leaks-wrong-" + RUN} <= set(held_targets)
    assert any(o["error"]["code"] == "unauthorized" for o in held_targets.values())
    for response in answers:
        findings.scan(
            f"{response.request.method} {response.request.url.path} -> {response.status_code}",
            f"{response.headers!r}\n{response.text}",
        )

    # every workflow the test started: events, their outboxes, any continued run
    outbox_ids = {
        d["outbox"]
        for status in statuses.values()
        for p in status["pipelines"]
        for d in p["deliveries"]
        if d.get("outbox")
    }
    assert len(outbox_ids) == 4
    executions = await created_workflows(temporal_client, started, {first, second} | outbox_ids)
    for execution in executions:
        for where, text in await workflow_texts(temporal_client, execution):
            findings.scan(where, text)

    for index, record in enumerate(logs.records):
        findings.scan(f"log record {index}", record)
    # the capture saw each library below WARNING (slack-sdk logs its requests only at DEBUG)
    assert {
        "httpx",
        "notion_client",
        "slack_sdk.web.async_base_client",
        "temporalio.activity",
        "uvicorn.access",
    } <= logs.names(below=logging.WARNING)
    assert_clean(findings)


async def test_adapter_errors_raised_directly_name_no_secret(
    world: World, logs: LogCapture, secret_env: dict[str, str]
) -> None:
    """`run_delivery` and `run_classify` are plain async code: their typed errors (message,
    repr, attributes, chained causes) are what a caller or a log would show."""
    findings = Findings(S)
    outbound = OutboundPolicy.from_strings(["127.0.0.1/32"])
    failing = [
        ("webhooks-failing", "rejected", "http_500"),
        ("webhooks-failing", "rejected", "http_401"),
        ("webhooks-failing", "blocked", "blocked_destination"),
        ("webhooks-failing", "hostless", "blocked_destination"),
        ("webhooks-failing", "unset", "missing_secret"),
        ("slack-wrong", "slack", "invalid_auth"),
        ("notion-wrong", "notion", "unauthorized"),
        ("postgres-failing", "missing-table", "undefined_table"),
        ("postgres-failing", "closed-port", "connection_error"),
    ]
    event = make_event(3)
    for attempt, (pipeline, name, code) in enumerate(failing, start=1):
        args = destination_input(world, pipeline, name, event)
        with pytest.raises(DeliveryError) as raised:
            await run_delivery(args, attempt, outbound=outbound)
        assert raised.value.code == code, (pipeline, name, raised.value)
        findings.scan_error(f"{pipeline}/{name} attempt {attempt}", raised.value)
    for pipeline in ("classify-openai-wrong", "classify-anthropic-wrong"):
        spec = world.pipelines.by_name(pipeline)
        assert spec is not None
        step = StepInput(event=event, pipeline=pipeline, args=spec.steps[0].args)
        with pytest.raises(DeliveryError) as raised:
            await run_classify(step)
        assert raised.value.code == "unauthorized"
        findings.scan_error(pipeline, raised.value)
    for pipeline, name in [("webhooks", "url-token"), ("postgres", "table"), ("notion", "notion")]:
        out = await run_delivery(
            destination_input(world, pipeline, name, make_event(4)), 1, outbound=outbound
        )
        findings.scan(f"{pipeline}/{name} result", out.model_dump_json())
    for index, record in enumerate(logs.records):
        findings.scan(f"log record {index}", record)
    assert_clean(findings)


async def test_settings_keep_secrets_masked_and_api_keys_only_as_hashes(world: World) -> None:
    findings = Findings(S)
    configured = world.configured
    assert configured.api_key_hashes[-1] == hash_api_key(API_KEY)
    assert configured.api_key_valid(API_KEY)
    assert not configured.api_key_valid(WRONG_API_KEY)
    assert configured.database_url is not None
    assert configured.database_url.get_secret_value() == DATABASE_URL
    revealed = {
        name: [v.get_secret_value() if isinstance(v, SecretStr) else v for v in value]
        if isinstance(value, list)
        else value.get_secret_value()
        if isinstance(value, SecretStr)
        else value
        for name, value in configured
    }
    assert API_KEY not in repr(revealed), "the API key is kept, not only its hash"
    for where, text in {
        "repr": repr(configured),
        "str": str(configured),
        "model_dump": repr(configured.model_dump()),
        "model_dump json": json.dumps(configured.model_dump(mode="json")),
        "model_dump_json": configured.model_dump_json(),
        "copy": repr(configured.model_copy()),
    }.items():
        findings.scan(f"settings {where}", text)
    bad_values = {
        "INGESTLAYER_API_KEY_HASHES": f"sha1:{API_KEY}",
        "INGESTLAYER_CODEC_KEYS": f"leaks:{CODEC_UI_TOKEN}!",
        "INGESTLAYER_CODEC_UI_TOKEN": f"{CODEC_UI_TOKEN} with spaces",
    }
    for name, value in bad_values.items():
        with environ({**service_env(), name: value}), pytest.raises(ValidationError) as raised:
            Settings()
        findings.scan_error(f"settings error for {name}", raised.value)
    assert_clean(findings)
