"""Outbound signatures checked by code that is not ours: the Standard Webhooks reference
library, and a Stripe-style verifier written from the product page; both while secrets rotate."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from tests.conftest import ApiFactory
from tests.fakes.receiver import Receiver
from tests.integration.api_helpers import emit, environ, wait_status

pytestmark = pytest.mark.asyncio(loop_scope="session")

OLD = "whsec_" + base64.b64encode(os.urandom(24)).decode()
NEW = "whsec_" + base64.b64encode(os.urandom(24)).decode()
HMAC_OLD, HMAC_NEW = "hmac-old-" + os.urandom(6).hex(), "hmac-new-" + os.urandom(6).hex()
ENV = {"IL_SW_OLD": OLD, "IL_SW_NEW": NEW, "IL_HMAC_OLD": HMAC_OLD, "IL_HMAC_NEW": HMAC_NEW}


@pytest.fixture(scope="module")
async def api(start_api: ApiFactory, receiver: tuple[Receiver, str]) -> httpx.AsyncClient:
    _, url = receiver
    with environ(ENV):
        return await start_api(
            f"""
pipelines:
  - name: signed
    on: signed.test
    destinations:
      - name: standard
        webhook:
          url: {url}/ok/standard
          auth: {{type: standard, secret: "${{IL_SW_OLD}}"}}
      - name: standard-rotating
        webhook:
          url: {url}/ok/standard-rotating
          auth: {{type: standard, secrets: ["${{IL_SW_OLD}}", "${{IL_SW_NEW}}"]}}
      - name: ours-rotating
        webhook:
          url: {url}/ok/ours-rotating
          auth: {{type: hmac, secrets: ["${{IL_HMAC_OLD}}", "${{IL_HMAC_NEW}}"]}}
"""
        )


def stripe_style_verify(header: str, body: bytes, secret: str) -> bool:
    pairs = [item.split("=", 1) for item in header.split(",")]
    timestamp = next(v for k, v in pairs if k == "t")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return abs(time.time() - int(timestamp)) < 300 and any(
        hmac.compare_digest(expected.hexdigest(), v) for k, v in pairs if k == "v1"
    )


async def test_signatures_verify_with_independent_code_while_secrets_rotate(
    api: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    fake, _ = receiver
    with environ(ENV):
        event_id = await emit(api, "signed.test", {"amount": 42, "note": "ünïcode ✓"})
        await wait_status(api, event_id, {"completed"})
    got = {
        name: next(
            r for r in fake.for_name(name) if r.headers["x-ingestlayer-event-id"] == event_id
        )
        for name in ("standard", "standard-rotating", "ours-rotating")
    }
    standard = got["standard"]
    assert standard.headers["webhook-id"] == event_id
    assert Webhook(OLD).verify(standard.body, standard.headers)["id"] == event_id
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(standard.body, standard.headers)
    rotating = got["standard-rotating"]
    assert len(rotating.headers["webhook-signature"].split(" ")) == 2
    for secret in (OLD, NEW):
        assert Webhook(secret).verify(rotating.body, rotating.headers)["payload"]["amount"] == 42
    tampered = rotating.body.replace(b"42", b"43")
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD).verify(tampered, rotating.headers)
    ours = got["ours-rotating"]
    header = ours.headers["x-ingestlayer-signature"]
    assert header.count("v1=") == 2
    assert stripe_style_verify(header, ours.body, HMAC_OLD)
    assert stripe_style_verify(header, ours.body, HMAC_NEW)
    assert not stripe_style_verify(header, ours.body, "some-other-secret")


async def test_a_malformed_standard_secret_is_refused_at_load() -> None:
    from pydantic import ValidationError

    from ingestlayer.destinations.webhook import WebhookDestination

    with pytest.raises(ValidationError, match="whsec_"):
        WebhookDestination.model_validate(
            {"url": "https://example.com/h", "auth": {"type": "standard", "secret": "whsec_!!"}}
        )
