"""The outbound guard end to end: blocked webhooks dead-letter at once and say why; an admitted
name is reached at the checked address with its own Host header; redirects are not followed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import ApiFactory
from tests.fakes.receiver import Receiver
from tests.integration.api_helpers import delivery, emit, wait_status

pytestmark = pytest.mark.asyncio(loop_scope="session")


def pipelines(receiver_url: str, port: int) -> str:
    one_try = "{max_attempts: 3, initial_interval: 0.1}"
    return f"""
pipelines:
  - name: guarded
    on: ssrf.test
    destinations:
      - name: metadata
        webhook: {{url: "https://169.254.169.254/latest/meta-data/iam"}}
        retry: {one_try}
      - name: private
        webhook: {{url: "http://10.20.30.40/hook"}}
        retry: {one_try}
      - name: mapped
        webhook: {{url: "https://[::ffff:169.254.169.254]/x"}}
        retry: {one_try}
      - name: plain-http
        webhook: {{url: "http://93.184.216.34/hook"}}
        retry: {one_try}
      - name: redirect
        webhook: {{url: "{receiver_url}/status/302/redirected"}}
        retry: {one_try}
      - name: by-name
        webhook: {{url: "http://localhost:{port}/ok/by-name"}}
        retry: {one_try}
"""


@pytest.fixture(scope="module")
async def api(start_api: ApiFactory, receiver: tuple[Receiver, str]) -> httpx.AsyncClient:
    _, url = receiver
    return await start_api(pipelines(url, int(url.rsplit(":", 1)[1])))


async def test_blocked_destinations_dead_letter_at_once_and_say_why(
    api: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    fake, _ = receiver
    event_id = await emit(api, "ssrf.test", {"n": 1})
    status: dict[str, Any] = await wait_status(api, event_id, {"dead_lettered"}, within=30)
    expected = {
        "metadata": "link-local",
        "private": "private address",
        "mapped": "inside ::ffff:a9fe:a9fe",
        "plain-http": "only https is allowed",
    }
    for name, reason in expected.items():
        result = delivery(status, "guarded", name)
        assert result["state"] == "dead_lettered", name
        assert result["attempts"] == 1, name
        assert result["last_error"]["code"] == "blocked_destination", name
        assert reason in result["last_error"]["message"], (name, result["last_error"])
        assert "INGESTLAYER_OUTBOUND_ALLOW" in result["last_error"]["hint"]
    redirect = delivery(status, "guarded", "redirect")
    assert redirect["state"] == "dead_lettered"
    assert redirect["last_error"]["code"] == "redirect_not_followed"
    assert redirect["attempts"] == 1
    assert len(fake.for_name("redirected")) == 1
    by_name = delivery(status, "guarded", "by-name")
    assert by_name["state"] == "delivered"
    [received] = [
        r for r in fake.for_name("by-name") if r.headers["x-ingestlayer-event-id"] == event_id
    ]
    assert received.headers["host"].startswith("localhost:")
