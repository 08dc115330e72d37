"""The ingest API over real HTTP against a real Temporal: auth, validation, idempotency."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from tests.conftest import API_KEY, ApiFactory

pytestmark = pytest.mark.asyncio(loop_scope="session")

PIPELINES = """
pipelines:
  - name: api-tests
    on: test.api.*
    steps:
      - filter.match: "false"
"""


@pytest.fixture(scope="module")
async def api(start_api: ApiFactory) -> httpx.AsyncClient:
    return await start_api(PIPELINES)


def _error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


async def _workflows_with_id(client: Client, event_id: str) -> int:
    return len([w async for w in client.list_workflows(f"WorkflowId = '{event_id}'")])


async def test_accepts_event_with_202_id_and_status_url(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/events", json={"type": "test.api.accepted", "payload": {"a": 1}})
    assert response.status_code == 202
    body = response.json()
    assert body["id"].startswith("evt_")
    assert body["duplicate"] is False
    assert body["status_url"] == f"http://testserver/v1/events/{body['id']}"
    assert response.headers["location"] == body["status_url"]


async def test_accepted_event_starts_exactly_one_workflow(
    api: httpx.AsyncClient, temporal_client: Client
) -> None:
    response = await api.post("/v1/events", json={"type": "test.api.one", "payload": {}})
    event_id = response.json()["id"]
    description = await temporal_client.get_workflow_handle(event_id).describe()
    assert description.workflow_type == "EventPipeline"
    status = await api.get(f"/v1/events/{event_id}")
    assert status.status_code == 200
    assert status.json()["id"] == event_id


async def test_repeated_idempotency_key_returns_same_event_marked_duplicate(
    api: httpx.AsyncClient, temporal_client: Client
) -> None:
    event = {"type": "test.api.idem", "payload": {"ticket_id": "T-1"}}
    headers = {"Idempotency-Key": "ticket-T-1"}
    first = await api.post("/v1/events", json=event, headers=headers)
    second = await api.post("/v1/events", content=json.dumps(event, indent=2), headers=headers)
    assert first.status_code == 202 and second.status_code == 202
    assert first.json()["duplicate"] is False
    assert second.json() == {**first.json(), "duplicate": True}
    assert await _workflows_with_id(temporal_client, first.json()["id"]) == 1


async def test_same_key_different_body_is_409(api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "ticket-T-2"}
    first = await api.post(
        "/v1/events", json={"type": "test.api.idem", "payload": {"n": 1}}, headers=headers
    )
    conflict = await api.post(
        "/v1/events", json={"type": "test.api.idem", "payload": {"n": 2}}, headers=headers
    )
    assert first.status_code == 202
    assert conflict.status_code == 409
    assert _error_code(conflict) == "idempotency_conflict"


async def test_same_key_for_another_event_type_is_a_different_event(api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "shared-key"}
    a = await api.post("/v1/events", json={"type": "test.api.a", "payload": {}}, headers=headers)
    b = await api.post("/v1/events", json={"type": "test.api.b", "payload": {}}, headers=headers)
    assert a.status_code == b.status_code == 202
    assert a.json()["id"] != b.json()["id"]


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"Authorization": "Bearer wrong-key"}, "invalid_api_key"),
        ({"Authorization": f"Basic {API_KEY}"}, "invalid_api_key"),
        ({"Authorization": "Bearer"}, "invalid_api_key"),
    ],
)
async def test_missing_or_invalid_api_key_is_401(
    api: httpx.AsyncClient, headers: dict[str, str], code: str
) -> None:
    async with httpx.AsyncClient(base_url=str(api.base_url)) as anonymous:
        response = await anonymous.post(
            "/v1/events", json={"type": "test.api.x", "payload": {}}, headers=headers
        )
        status = await anonymous.get("/v1/events/evt_" + "0" * 32, headers=headers)
    assert response.status_code == 401
    assert _error_code(response) == code
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert status.status_code == 401


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "malformed_json"),
        (b'{"type": "test.api.x", "payload": {}', "malformed_json"),
        (b'{"type": "test.api.x", "payload": NaN}', "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b"", "malformed_json"),
        (b"[1, 2]", "invalid_body"),
        (b'"just a string"', "invalid_body"),
        (b'{"payload": {}}', "missing_field"),
        (b'{"type": "test.api.x"}', "missing_field"),
        (b'{"type": "test.api.x", "payload": [1]}', "invalid_payload"),
        (b'{"type": "test.api.x", "payload": "text"}', "invalid_payload"),
        (b'{"type": "test.api.x", "payload": null}', "invalid_payload"),
        (b'{"type": "", "payload": {}}', "invalid_event_type"),
        (b'{"type": "has space", "payload": {}}', "invalid_event_type"),
        (b'{"type": "trailing.", "payload": {}}', "invalid_event_type"),
        (b'{"type": 42, "payload": {}}', "invalid_event_type"),
        (b'{"type": "' + b"a" * 129 + b'", "payload": {}}', "invalid_event_type"),
        (b'{"type": "test.api.x", "payload": {}, "extra": 1}', "unknown_field"),
    ],
)
async def test_bad_input_is_422_with_error_code(
    api: httpx.AsyncClient, body: bytes, code: str
) -> None:
    response = await api.post(
        "/v1/events", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert _error_code(response) == code
    assert response.json()["error"]["message"]


async def test_body_over_the_limit_is_413(api: httpx.AsyncClient) -> None:
    payload = {"body": "x" * (256 * 1024)}
    response = await api.post("/v1/events", json={"type": "test.api.big", "payload": payload})
    assert response.status_code == 413
    assert _error_code(response) == "payload_too_large"


async def test_body_just_under_the_limit_is_accepted(api: httpx.AsyncClient) -> None:
    envelope = len(json.dumps({"type": "test.api.big", "payload": {"body": ""}}).encode())
    payload = {"body": "x" * (256 * 1024 - envelope)}
    body = json.dumps({"type": "test.api.big", "payload": payload}).encode()
    assert len(body) == 256 * 1024
    response = await api.post("/v1/events", content=body)
    assert response.status_code == 202


async def test_chunked_body_over_the_limit_is_413(api: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"type": "test.api.big", "payload": {"body": "'
        for _ in range(300):
            yield b"x" * 1024
        yield b'"}}'

    response = await api.post("/v1/events", content=chunks())
    assert response.status_code == 413


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
async def test_invalid_idempotency_key_is_422(api: httpx.AsyncClient, key: str) -> None:
    response = await api.post(
        "/v1/events",
        json={"type": "test.api.x", "payload": {}},
        headers={"Idempotency-Key": key.encode("utf-8")},
    )
    assert response.status_code == 422
    assert _error_code(response) == "invalid_idempotency_key"


@pytest.mark.parametrize("event_id", ["evt_" + "0" * 32, "not-an-id", "evt_xyz"])
async def test_unknown_event_is_404(api: httpx.AsyncClient, event_id: str) -> None:
    response = await api.get(f"/v1/events/{event_id}")
    assert response.status_code == 404
    assert _error_code(response) == "event_not_found"


async def test_unknown_route_and_method_have_error_codes(api: httpx.AsyncClient) -> None:
    missing = await api.get("/v1/nothing-here")
    wrong_method = await api.delete("/v1/events")
    assert (missing.status_code, _error_code(missing)) == (404, "not_found")
    assert (wrong_method.status_code, _error_code(wrong_method)) == (405, "method_not_allowed")


async def test_temporal_unreachable_is_503_not_500(start_api: ApiFactory) -> None:
    from api.app import create_app
    from ingestlayer.config import PipelineSet
    from ingestlayer.settings import Settings
    from tests.fakes.serving import serve

    settings = Settings(temporal_address="127.0.0.1:1", api_keys=API_KEY)
    app = create_app(settings, pipelines=PipelineSet())
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post(
            "/v1/events",
            json={"type": "test.api.x", "payload": {}},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
    assert response.status_code == 503
    assert _error_code(response) == "temporal_unavailable"
    assert response.headers["retry-after"] == "1"


async def test_openapi_page_documents_the_event_routes(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    assert {"/v1/events", "/v1/events/{event_id}", "/v1/events/{event_id}/redeliver"} <= set(
        document["paths"]
    )
    body_schema = document["paths"]["/v1/events"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    assert body_schema["required"] == ["type", "payload"]
    assert (await api.get("/docs")).status_code == 200


async def test_batch_accepts_every_valid_event(
    api: httpx.AsyncClient, temporal_client: Client
) -> None:
    events = [{"type": "test.api.batch", "payload": {"n": n}} for n in range(20)]
    response = await api.post("/v1/events/batch", json={"events": events})
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (20, 0)
    assert [r["index"] for r in body["results"]] == list(range(20))
    ids = {r["id"] for r in body["results"]}
    assert len(ids) == 20
    for event_id in list(ids)[:3]:
        assert await _workflows_with_id(temporal_client, event_id) == 1


async def test_batch_rejects_bad_items_individually_with_207(api: httpx.AsyncClient) -> None:
    first = await api.post(
        "/v1/events",
        json={"type": "test.api.batch", "payload": {"ok": 1}},
        headers={"Idempotency-Key": "batch-k1"},
    )
    events = [
        {"type": "test.api.batch", "payload": {"ok": 3}},
        {"type": "bad type", "payload": {}},
        {"type": "test.api.batch", "payload": []},
        {"type": "test.api.batch", "payload": {"ok": 2}, "idempotency_key": "batch-k1"},
        {"type": "test.api.batch", "payload": {"ok": 1}, "idempotency_key": "batch-k1"},
        "not an object",
        {"type": "test.api.batch", "payload": {"big": "x" * (256 * 1024)}},
    ]
    response = await api.post("/v1/events/batch", json={"events": events})
    assert response.status_code == 207
    body = response.json()
    codes = [r["error"]["code"] if r["error"] else None for r in body["results"]]
    assert codes == [
        None,
        "invalid_event_type",
        "invalid_payload",
        "idempotency_conflict",
        None,
        "invalid_body",
        "payload_too_large",
    ]
    assert body["results"][4]["id"] == first.json()["id"]
    assert body["results"][4]["duplicate"] is True
    assert (body["accepted"], body["rejected"]) == (2, 5)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"events": []}, "invalid_batch_size"),
        ({"events": [{"type": "a.b", "payload": {}}] * 501}, "invalid_batch_size"),
        ({"items": []}, "invalid_body"),
        ([], "invalid_body"),
    ],
)
async def test_bad_batches_are_422(api: httpx.AsyncClient, body: Any, code: str) -> None:
    response = await api.post("/v1/events/batch", json=body)
    assert response.status_code == 422
    assert _error_code(response) == code
