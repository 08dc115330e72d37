"""Payload encryption end to end: what Temporal stores is ciphertext (read with no codec), the
operator still reads it through the codec endpoint the Temporal UI calls, and keys rotate under
running workflows."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from api.app import create_app
from ingestlayer import config
from ingestlayer.codec import new_codec_key
from ingestlayer.settings import Settings
from ingestlayer.temporal import connect
from ingestlayer.workers import running_workers
from tests.conftest import API_KEY, CODEC_KEY_ID, ApiFactory
from tests.fakes.receiver import Receiver
from tests.fakes.serving import serve
from tests.integration.api_helpers import delivery, emit, wait_status
from tests.integration.history import failures_of, from_json, payloads_of, raw_history, to_json

pytestmark = pytest.mark.asyncio(loop_scope="session")

UI_TOKEN = secrets.token_urlsafe(24)
UI_ORIGIN = "http://127.0.0.1:8233"
# The SDK core writes a local activity's bookkeeping (sequence number, attempt, times) beside
# its result in the marker, without the codec; the result itself is a payload like any other.
LOCAL_ACTIVITY_MARKER = "marker_recorded_event_attributes.details[data]"
LOCAL_ACTIVITY_BOOKKEEPING = {
    "seq",
    "attempt",
    "activity_id",
    "activity_type",
    "complete_time",
    "backoff",
    "original_schedule_time",
    "activation_index",
}
MARKER = "zq-marker-" + secrets.token_hex(6)


def new_key(key_id: str) -> str:
    return new_codec_key(key_id)


# --- fixtures ------------------------------------------------------------------------------


def rejecting_receiver() -> Starlette:
    """A receiver that quotes the field it rejects, as many do: so the delivery's error
    message (and Temporal's failure record) carries ticket text."""

    async def handle(request: Request) -> JSONResponse:
        subject = json.loads(await request.body())["payload"]["subject"]
        return JSONResponse({"error": f"subject {subject!r} is not allowed"}, status_code=422)

    return Starlette(routes=[Route("/{path:path}", handle, methods=["POST"])])


@pytest.fixture(scope="module")
async def stack(
    start_api: ApiFactory, receiver: tuple[Receiver, str]
) -> AsyncIterator[tuple[httpx.AsyncClient, Receiver]]:
    fake, url = receiver
    async with serve(rejecting_receiver()) as rejecting:
        api = await start_api(
            f"""
pipelines:
  - name: secret-tickets
    on: test.encrypted
    destinations:
      - name: accepted
        webhook: {{url: "{url}/ok/encrypted-ok"}}
      - name: rejected
        webhook: {{url: "{rejecting}/reject"}}
        retry: {{max_attempts: 3, initial_interval: 1.5, backoff: 1}}
""",
            codec_ui_token=SecretStr(UI_TOKEN),
            temporal_ui_url=UI_ORIGIN,
        )
        yield api, fake


@pytest.fixture(scope="module")
async def delivered(
    stack: tuple[httpx.AsyncClient, Receiver],
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """One ticket whose text holds MARKER: delivered to one receiver, dead-lettered by the
    other after retries. Returns its id, its status while retrying and its final status."""
    api, fake = stack
    event_id = await emit(
        api, "test.encrypted", {"ticket_id": "T-9", "subject": f"card stolen {MARKER}"}
    )
    await fake.wait_for("encrypted-ok")
    retrying: dict[str, Any] = {}
    for _ in range(300):
        status = (await api.get(f"/v1/events/{event_id}")).json()
        hook = delivery(status, "secret-tickets", "rejected")
        if hook["state"] == "retrying" and hook["attempts"] >= 2 and hook["last_error"]:
            retrying = hook
            break
        await asyncio.sleep(0.05)
    final = await wait_status(api, event_id, {"dead_lettered"}, within=30)
    return event_id, retrying, final


# --- tests ---------------------------------------------------------------------------------


async def test_stored_history_holds_no_plaintext_and_every_payload_is_encrypted(
    temporal_client: Client,
    stack: tuple[httpx.AsyncClient, Receiver],
    delivered: tuple[str, dict[str, Any], dict[str, Any]],
) -> None:
    event_id, _, _ = delivered
    _, fake = stack
    assert MARKER in fake.accepted("encrypted-ok")[0].body.decode()
    events = await raw_history(temporal_client, event_id)
    assert MARKER.encode() not in b"".join(e.SerializeToString() for e in events)
    payloads = payloads_of(events)
    paths = {path.split("[")[0] for path, _ in payloads}
    assert any("workflow_execution_started_event_attributes.input" in p for p in paths)
    assert any("marker_recorded_event_attributes" in p for p in paths)
    assert any("activity_task_scheduled_event_attributes.input" in p for p in paths)
    for path, payload in payloads:
        if path.startswith(LOCAL_ACTIVITY_MARKER):
            assert set(json.loads(payload.data)) <= LOCAL_ACTIVITY_BOOKKEEPING, path
            continue
        assert payload.metadata["encoding"] == b"binary/encrypted", path
        assert payload.metadata["encryption-key-id"] == CODEC_KEY_ID.encode(), path


async def test_failure_messages_and_stack_traces_are_encoded_in_history(
    temporal_client: Client, delivered: tuple[str, dict[str, Any], dict[str, Any]]
) -> None:
    event_id, _, final = delivered
    failures = failures_of(await raw_history(temporal_client, event_id))
    assert failures, "the rejected delivery left no failure in history"
    for failure in failures:
        assert failure.message == "Encoded failure"
        assert failure.stack_trace == ""
        assert failure.encoded_attributes.metadata["encoding"] == b"binary/encrypted"
    hook = delivery(final, "secret-tickets", "rejected")
    assert hook["state"] == "dead_lettered"
    assert MARKER in hook["last_error"]["message"]


async def test_status_decodes_the_pending_retry_failure(
    delivered: tuple[str, dict[str, Any], dict[str, Any]],
) -> None:
    """The retrying state comes from the server's pending-activity record (tracking.py), whose
    failure is encrypted too: the API decodes it with the same key."""
    _, retrying, _ = delivered
    assert retrying, "never saw the rejected delivery retrying with an error"
    assert MARKER in retrying["last_error"]["message"]
    assert retrying["last_error"]["code"] == "http_422"


async def test_ui_path_decodes_raw_history_with_cors(
    temporal_client: Client,
    stack: tuple[httpx.AsyncClient, Receiver],
    delivered: tuple[str, dict[str, Any], dict[str, Any]],
) -> None:
    """What the Temporal UI does: preflight, then POST `<endpoint>/decode` from its origin with
    `X-Namespace` and no Authorization."""
    api, _ = stack
    event_id, _, _ = delivered
    events = await raw_history(temporal_client, event_id)
    started = events[0].workflow_execution_started_event_attributes.input.payloads
    failure = failures_of(events)[0]
    endpoint = f"{str(api.base_url).rstrip('/')}/codec/ui/{UI_TOKEN}"
    async with httpx.AsyncClient(timeout=10) as browser:
        preflight = await browser.options(
            f"{endpoint}/decode",
            headers={
                "Origin": UI_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == UI_ORIGIN
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert "x-namespace" in allowed and "content-type" in allowed
        assert "POST" in preflight.headers["access-control-allow-methods"]

        answer = await browser.post(
            f"{endpoint}/decode",
            headers={"Origin": UI_ORIGIN, "X-Namespace": "default"},
            json={
                "payloads": [to_json(p) for p in started] + [to_json(failure.encoded_attributes)]
            },
        )
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == UI_ORIGIN
    decoded = [from_json(item) for item in answer.json()["payloads"]]
    assert decoded[0].metadata["encoding"] == b"json/plain"
    assert MARKER in json.loads(decoded[0].data)["event"]["payload"]["subject"]
    attributes = json.loads(decoded[-1].data)
    assert MARKER in attributes["message"]
    assert "stack_trace" in attributes


async def test_encode_then_decode_round_trips_with_the_api_key(
    stack: tuple[httpx.AsyncClient, Receiver],
) -> None:
    api, _ = stack
    plain = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(MARKER).encode())
    encoded = await api.post("/codec/encode", json={"payloads": [to_json(plain)]})
    assert encoded.status_code == 200
    [sealed] = encoded.json()["payloads"]
    assert MARKER not in base64.b64decode(sealed["data"]).decode("latin-1")
    assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
    decoded = await api.post("/codec/decode", json={"payloads": [sealed]})
    assert decoded.status_code == 200
    assert from_json(decoded.json()["payloads"][0]) == plain


async def test_codec_endpoint_needs_the_api_key_or_the_ui_token(
    stack: tuple[httpx.AsyncClient, Receiver],
) -> None:
    api, _ = stack
    body = {"payloads": []}
    async with httpx.AsyncClient(base_url=str(api.base_url), timeout=10) as anonymous:
        missing = await anonymous.post("/codec/decode", json=body)
        wrong = await anonymous.post(
            "/codec/decode", json=body, headers={"Authorization": "Bearer nope"}
        )
        bad_token = await anonymous.post(f"/codec/ui/{UI_TOKEN[:-2]}xx/decode", json=body)
        good_token = await anonymous.post(f"/codec/ui/{UI_TOKEN}/decode", json=body)
        keyed = await anonymous.post(
            "/codec/decode", json=body, headers={"Authorization": f"Bearer {API_KEY}"}
        )
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert bad_token.status_code == 404 and bad_token.json()["error"]["code"] == "not_found"
    assert good_token.status_code == 200 and good_token.json() == {"payloads": []}
    assert keyed.status_code == 200


async def test_other_origins_get_no_cors_grant(stack: tuple[httpx.AsyncClient, Receiver]) -> None:
    api, _ = stack
    preflight = await api.options(
        f"/codec/ui/{UI_TOKEN}/decode",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    events = await api.options(
        "/v1/events", headers={"Origin": UI_ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in events.headers


async def test_bad_codec_requests_are_4xx_with_error_codes(
    stack: tuple[httpx.AsyncClient, Receiver],
) -> None:
    api, _ = stack
    sealed = (
        await api.post(
            "/codec/encode",
            json={"payloads": [to_json(Payload(metadata={"encoding": b"json/plain"}, data=b"1"))]},
        )
    ).json()["payloads"][0]
    tampered = dict(sealed, data=base64.b64encode(b"\0" * 40).decode())
    foreign = dict(
        sealed,
        metadata={**sealed["metadata"], "encryption-key-id": base64.b64encode(b"k9").decode()},
    )
    cases: list[tuple[Any, int, str]] = [
        ({"payloads": [{"metadata": {"encoding": "%%%"}, "data": ""}]}, 400, "invalid_base64"),
        ({"payloads": [{"data": "not base64!"}]}, 400, "invalid_base64"),
        ({"payloads": [tampered]}, 400, "payload_decryption_failed"),
        ({"payloads": [foreign]}, 400, "unknown_codec_key"),
        ({"payloads": "nope"}, 422, "invalid_payloads"),
        ([1, 2], 422, "invalid_payloads"),
        (b"{not json", 422, "malformed_json"),
    ]
    async with httpx.AsyncClient(base_url=str(api.base_url), timeout=10) as browser:
        for client, path in ((api, "/codec/decode"), (browser, f"/codec/ui/{UI_TOKEN}/decode")):
            for body, status, code in cases:
                if isinstance(body, bytes):
                    answer = await client.post(
                        path, content=body, headers={"Content-Type": "application/json"}
                    )
                else:
                    answer = await client.post(path, json=body)
                assert answer.status_code == status, (path, body, answer.text)
                assert answer.json()["error"]["code"] == code, (path, body, answer.text)
    unknown = await api.post("/codec/decode", json={"payloads": [foreign]})
    assert "'k9'" in unknown.json()["error"]["message"]


async def test_workflow_started_under_key_a_completes_on_a_worker_with_b_then_a(
    settings: Settings, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    fake, url = receiver
    key_a, key_b = new_key("rot-a"), new_key("rot-b")
    queue = f"{settings.task_queue}-rotation"
    base = settings.model_copy(
        update={"task_queue": queue, "delivery_queue_prefix": f"{queue}-delivery"}
    )
    before = base.model_copy(update={"codec_keys": [SecretStr(key_a)]})
    after = base.model_copy(update={"codec_keys": [SecretStr(key_b), SecretStr(key_a)]})
    path = tmp_path / "pipelines.yml"
    path.write_text(
        f"""
pipelines:
  - name: rotation
    on: test.rotation
    destinations:
      - webhook: {{url: "{url}/ok/rotation-hook"}}
"""
    )
    client_a = await connect(before)
    app = create_app(before, client=client_a, pipelines=config.load(path))
    async with (
        serve(app) as api_url,
        httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {API_KEY}"}) as api,
    ):
        event_id = await emit(api, "test.rotation", {"subject": MARKER})
    history = await raw_history(client_a, event_id)
    [started] = history[0].workflow_execution_started_event_attributes.input.payloads
    assert started.metadata["encryption-key-id"] == b"rot-a"

    client_ba = await connect(after)
    async with running_workers(client_ba, after):
        await fake.wait_for("rotation-hook", within=30)
        result = await client_ba.get_workflow_handle(event_id).result()
    assert result is not None
    assert MARKER in fake.accepted("rotation-hook")[-1].body.decode()
    events = await raw_history(client_ba, event_id)
    completed = events[-1].workflow_execution_completed_event_attributes.result.payloads
    assert [p.metadata["encryption-key-id"] for p in completed] == [b"rot-b"]
