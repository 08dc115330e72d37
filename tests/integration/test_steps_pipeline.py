"""classify and redact.pii as pipeline steps, through the API and Temporal, to a receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingestlayer.classify import memory_cache
from tests.conftest import ApiFactory
from tests.fakes.llm import FakeLLM
from tests.fakes.receiver import Receiver
from tests.fakes.serving import serve
from tests.integration.api_helpers import environ
from tests.integration.test_delivery import delivery, emit, wait_status

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[2]
LLM_KEY = "sk-test-steps"


@pytest.fixture(scope="module")
async def llm() -> AsyncIterator[tuple[FakeLLM, str]]:
    fake = FakeLLM()
    async with serve(fake.app()) as url:
        yield fake, url


def pipelines(receiver_url: str, llm_url: str) -> str:
    flagship = (ROOT / "examples" / "pipelines" / "support-escalations.yml").read_text()
    flagship = flagship.replace("${INGESTLAYER_DEMO_RECEIVER_URL}", receiver_url)
    return (
        flagship
        + f"""
  - name: llm-triage
    on: test.llm.ticket
    steps:
      - classify:
          output: urgency
          labels: [low, high, critical]
          prompt: "Ticket: $event.subject"
          input: [subject]
          model:
            provider: openai
            model: gpt-test
            base_url: {llm_url}/v1
            api_key: "${{IL_TEST_LLM_KEY}}"
    destinations:
      - webhook: {{url: "{receiver_url}/ok/llm-hook"}}
        when: urgency = critical
"""
    )


@pytest.fixture(scope="module", autouse=True)
def demo_signing_secret() -> Iterator[None]:
    with environ({"INGESTLAYER_DEMO_WEBHOOK_SECRET": "demo-secret"}):
        yield


@pytest.fixture(scope="module")
async def setup(
    start_api: ApiFactory, receiver: tuple[Receiver, str], llm: tuple[FakeLLM, str]
) -> tuple[httpx.AsyncClient, Receiver, FakeLLM]:
    fake_receiver, receiver_url = receiver
    fake_llm, llm_url = llm
    api = await start_api(pipelines(receiver_url, llm_url))
    return api, fake_receiver, fake_llm


@pytest.fixture
def llm_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IL_TEST_LLM_KEY", LLM_KEY)


def _step(status: dict[str, Any], pipeline: str, kind: str) -> dict[str, Any]:
    p = next(p for p in status["pipelines"] if p["name"] == pipeline)
    return next(s for s in p["steps"] if s["step"] == kind)


async def test_flagship_pipeline_routes_only_critical_tickets_with_pii_removed(setup: Any) -> None:
    api, fake, _ = setup
    critical = await emit(
        api,
        "support.ticket.created",
        {
            "ticket_id": "T-9",
            "subject": "Checkout is down for everyone",
            "body": "Hi, this is Maria Gonzalez. Reach me at maria.gonzalez@example.com "
            "or +1 415 555 0134. Order ORD-2024-118833 failed at 2026-11-23T09:15:00Z.",
            "customer_tier": "pro",
        },
    )
    routine = await emit(
        api,
        "support.ticket.created",
        {"ticket_id": "T-10", "subject": "How do I export invoices?", "body": "Thanks, Bob"},
    )
    status = await wait_status(api, critical, {"completed"})
    classify = _step(status, "support-escalations", "classify")
    assert classify["outcome"] == "applied"
    assert classify["detail"]["label"] == "critical"
    assert classify["detail"]["provider"] == "rules"
    redact = _step(status, "support-escalations", "redact.pii")
    counts = redact["detail"]["fields"]["body"]
    assert counts["EMAIL_ADDRESS"] == 1 and counts["PHONE_NUMBER"] == 1 and counts["PERSON"] >= 1
    assert "maria" not in str(redact).lower()

    [hit] = [r for r in fake.accepted("on-call") if r.json["id"] == critical]
    body = hit.json["payload"]["body"]
    assert "maria.gonzalez@example.com" not in body and "555 0134" not in body
    assert "Gonzalez" not in body
    assert "<EMAIL_ADDRESS>" in body
    assert "ORD-2024-118833" in body and "2026-11-23T09:15:00Z" in body
    assert hit.json["labels"]["urgency"] == "critical"

    filtered = await wait_status(api, routine, {"filtered"})
    assert _step(filtered, "support-escalations", "classify")["detail"]["label"] == "low"
    assert not [r for r in fake.for_name("on-call") if r.json["id"] == routine]


async def test_identical_tickets_reuse_one_model_call(setup: Any, llm_key: None) -> None:
    api, fake_receiver, fake_llm = setup
    fake_llm.reset()
    memory_cache().clear()
    fake_llm.reply({"urgency": "critical"})
    ids = [await emit(api, "test.llm.ticket", {"subject": "Database is gone"}) for _ in range(3)]
    statuses = [await wait_status(api, event_id, {"completed"}) for event_id in ids]
    cached = [_step(s, "llm-triage", "classify")["detail"]["cached"] for s in statuses]
    assert fake_llm.calls == 1
    assert cached.count(False) == 1 and cached.count(True) == 2
    assert fake_llm.requests[0].headers["authorization"] == f"Bearer {LLM_KEY}"
    assert fake_llm.requests[0].schema["properties"]["urgency"]["enum"] == [
        "low",
        "high",
        "critical",
    ]
    delivered = [r for r in fake_receiver.accepted("llm-hook") if r.json["id"] in ids]
    assert len(delivered) == 3


async def test_failed_classify_stops_the_pipeline_until_redelivered(
    setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, fake_receiver, fake_llm = setup
    fake_llm.reset()
    memory_cache().clear()
    fake_llm.api_key = "sk-the-right-key"
    monkeypatch.setenv("IL_TEST_LLM_KEY", "sk-a-revoked-key")
    fake_llm.reply({"urgency": "critical"})
    event_id = await emit(api, "test.llm.ticket", {"subject": "Payments fail with a 500"})
    status = await wait_status(api, event_id, {"failed"})
    step = _step(status, "llm-triage", "classify")
    assert step["outcome"] == "failed"
    assert step["detail"]["error"]["retryable"] is False
    assert step["detail"]["error"]["hint"]
    assert fake_llm.calls == 1
    listed = await api.get("/v1/dead-letters", params={"destination": "llm-triage/*steps"})
    for _ in range(50):
        if event_id in {d["id"] for d in listed.json()["dead_letters"]}:
            break
        await asyncio.sleep(0.2)
        listed = await api.get("/v1/dead-letters", params={"destination": "llm-triage/*steps"})
    assert event_id in {d["id"] for d in listed.json()["dead_letters"]}

    monkeypatch.setenv("IL_TEST_LLM_KEY", "sk-the-right-key")
    response = await api.post(f"/v1/events/{event_id}/redeliver", json={"pipeline": "llm-triage"})
    assert response.status_code == 202
    status = await wait_status(api, event_id, {"completed"})
    assert _step(status, "llm-triage", "classify")["detail"]["label"] == "critical"
    assert delivery(status, "llm-triage", "webhook")["state"] == "delivered"
    assert [r.json["id"] for r in fake_receiver.accepted("llm-hook")].count(event_id) == 1
