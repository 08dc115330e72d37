"""Payload nesting depth and key count at ingest, over real HTTP: a clear 422 with a stable
code for `/v1/events`, per item in `/v1/events/batch`, and never a 500 however deep the body."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import ApiFactory

pytestmark = pytest.mark.asyncio(loop_scope="session")

PIPELINES = """
pipelines:
  - name: limits
    on: test.limits.*
    steps:
      - filter.match: "false"
"""


@pytest.fixture(scope="module")
async def api(start_api: ApiFactory) -> httpx.AsyncClient:
    return await start_api(PIPELINES, max_payload_depth=8, max_payload_keys=50)


def _nested(levels: int) -> dict[str, Any]:
    """A payload `levels` objects deep, the payload itself counting as the first."""
    payload: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        payload = {"child": payload}
    return payload


def _code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def test_payload_at_the_depth_limit_is_accepted(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/events", json={"type": "test.limits.ok", "payload": _nested(8)})
    assert response.status_code == 202, response.text


async def test_payload_one_level_too_deep_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/events", json={"type": "test.limits.x", "payload": _nested(9)})
    assert response.status_code == 422
    assert _code(response) == "payload_too_deep"
    assert "8 levels" in response.json()["error"]["message"]


async def test_lists_count_as_levels(api: httpx.AsyncClient) -> None:
    payload: dict[str, Any] = {"items": [[[[[[[["deep"]]]]]]]]}
    response = await api.post("/v1/events", json={"type": "test.limits.x", "payload": payload})
    assert _code(response) == "payload_too_deep"


@pytest.mark.parametrize(
    ("opener", "closer", "levels"), [("[", "]", 100_000), ('{"a":', "}", 40_000)]
)
async def test_a_body_nested_tens_of_thousands_deep_is_a_clear_422_not_a_500(
    api: httpx.AsyncClient, opener: str, closer: str, levels: int
) -> None:
    deep = opener * levels + "1" + closer * levels
    body = '{"type": "test.limits.x", "payload": {"a": ' + deep + "}}"
    assert len(body) < 256 * 1024
    for path in (
        "/v1/events",
        "/v1/events/batch",
        "/v1/events/evt_x/redeliver",
        "/codec/decode",
    ):
        response = await api.post(
            path, content=body.encode(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, (path, response.text)
        assert _code(response) == "payload_too_deep"


async def test_too_many_keys_in_all_is_422(api: httpx.AsyncClient) -> None:
    payload = {f"group{g}": {f"k{k}": k for k in range(10)} for g in range(5)}
    response = await api.post("/v1/events", json={"type": "test.limits.x", "payload": payload})
    assert response.status_code == 422
    assert _code(response) == "payload_too_many_keys"
    assert "50 object keys" in response.json()["error"]["message"]


async def test_keys_up_to_the_limit_are_accepted(api: httpx.AsyncClient) -> None:
    payload = {f"group{g}": {f"k{k}": k for k in range(9)} for g in range(5)}
    response = await api.post("/v1/events", json={"type": "test.limits.ok", "payload": payload})
    assert response.status_code == 202, response.text


async def test_batch_rejects_only_the_items_over_a_limit(api: httpx.AsyncClient) -> None:
    events = [
        {"type": "test.limits.ok", "payload": {"a": 1}},
        {"type": "test.limits.x", "payload": _nested(9)},
        {"type": "test.limits.x", "payload": {f"k{k}": k for k in range(51)}},
    ]
    response = await api.post("/v1/events/batch", json={"events": events})
    assert response.status_code == 207
    body = response.json()
    assert body["accepted"] == 1 and body["rejected"] == 2
    codes = [r["error"]["code"] if r["error"] else None for r in body["results"]]
    assert codes == [None, "payload_too_deep", "payload_too_many_keys"]


async def test_redeliver_options_are_bounded_too(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/events/evt_x/redeliver", json={"options": _nested(9)})
    assert response.status_code == 422
    assert _code(response) == "payload_too_deep"


async def test_defaults_are_32_levels_and_10000_keys(start_api: ApiFactory) -> None:
    api = await start_api(PIPELINES)
    at_limit = await api.post("/v1/events", json={"type": "test.limits.ok", "payload": _nested(32)})
    assert at_limit.status_code == 202, at_limit.text
    deeper = await api.post("/v1/events", json={"type": "test.limits.x", "payload": _nested(33)})
    assert _code(deeper) == "payload_too_deep"
    many = {f"k{k}": 0 for k in range(10_001)}
    too_many = await api.post("/v1/events", json={"type": "test.limits.x", "payload": many})
    assert _code(too_many) == "payload_too_many_keys"


async def test_redeliver_corrections_refuse_a_literal_secret(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/events/evt_x/redeliver",
        json={"destination": "hook", "options": {"auth": {"type": "bearer", "token": "t0p"}}},
    )
    assert response.status_code == 422
    assert _code(response) == "literal_secret"
    assert "options.auth.token" in response.json()["error"]["message"]
    assert "t0p" not in response.text
