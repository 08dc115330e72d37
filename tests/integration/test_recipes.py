"""Every recipe in examples/pipelines/, loaded as `make dev` loads them, run end to end with a
sample event: the destinations each recipe promises receive it (the fake Slack and Notion APIs
stand in through INGESTLAYER_SLACK_API_URL and INGESTLAYER_NOTION_API_URL), and the events a
recipe should not alert on do not reach them."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingestlayer.destinations.notion import forget_schemas
from tests.conftest import ApiFactory
from tests.fakes.notion import FakeNotion, schema
from tests.fakes.receiver import Receiver
from tests.fakes.serving import serve
from tests.fakes.slack import FakeSlack
from tests.integration.api_helpers import emit, environ, wait_status

pytestmark = pytest.mark.asyncio(loop_scope="session")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pipelines"
SLACK_TOKEN = "xoxb-recipes-" + secrets.token_hex(8)
NOTION_TOKEN = "ntn_recipes_" + secrets.token_hex(8)
CHANNELS = (
    "growth revenue churn billing-alerts sales inbound product ops security accounts incidents "
    "eng-alerts eng deploys customer-success signups"
).split()
DATABASES = ("WAITLIST", "CONVERSIONS", "ADOPTION", "BUILDS", "CRM")

# (event type, payload, {"pipeline/destination": expected state} or "filtered")
CASES: list[tuple[str, dict[str, Any], dict[str, str] | str]] = [
    (
        "support.ticket.created",
        {"ticket_id": "T-1", "subject": "Checkout down", "body": "Payments fail for everyone"},
        {"support-escalations/on-call": "delivered"},
    ),
    (
        "user.signed_up",
        {"email": "ada@acme.com", "plan": "pro", "source": "marketing-site"},
        {
            "user-signups/signups": "delivered",
            "user-signups/paid-signups": "delivered",
            "user-signups/slack": "delivered",
        },
    ),
    (
        "waitlist.joined",
        {"email": "lin@acme.com", "source": "launch-post", "referrer": "hn"},
        {
            "waitlist-signups/waitlist": "delivered",
            "waitlist-signups/slack": "delivered",
            "waitlist-signups/notion": "delivered",
        },
    ),
    (
        "subscription.created",
        {"customer": "Acme", "plan": "team", "interval": "month", "mrr": 49},
        {"subscriptions-started/slack": "delivered", "subscriptions-started/finance": "skipped"},
    ),
    (
        "subscription.canceled",
        {"customer": "Globex", "plan": "enterprise", "mrr": 900, "reason": "budget"},
        {
            "subscriptions-canceled/slack": "delivered",
            "subscriptions-canceled/customer-success": "delivered",
        },
    ),
    (
        "payment.succeeded",
        {"customer": "Initech", "amount": 250000, "currency": "usd"},
        {"payments-succeeded/payments": "delivered", "payments-succeeded/slack": "delivered"},
    ),
    (
        "payment.succeeded",
        {"customer": "Small Co", "amount": 900, "currency": "usd"},
        {"payments-succeeded/payments": "delivered", "payments-succeeded/slack": "skipped"},
    ),
    (
        "payment.failed",
        {
            "customer": "Umbrella",
            "amount": 4900,
            "currency": "usd",
            "failure_code": "card_declined",
            "attempt": 4,
            "final_attempt": True,
            "failure_message": "Declined; card owner ada.lovelace@umbrella.example was notified",
        },
        {"payments-failed/billing": "delivered", "payments-failed/slack": "delivered"},
    ),
    (
        "trial.converted",
        {"customer": "Hooli", "plan": "pro", "trial_days": 14},
        {
            "trial-conversions/slack": "delivered",
            "trial-conversions/notion": "delivered",
            "trial-conversions/conversions": "delivered",
        },
    ),
    (
        "form.submitted",
        {"company": "Spam Inc", "subject": "Win", "message": "crypto giveaway for you"},
        "filtered",
    ),
    (
        "form.submitted",
        {"company": "Vandelay", "subject": "Pricing", "message": "We need a quote for 200 seats"},
        {"form-submissions/sales": "delivered", "form-submissions/inbound": "skipped"},
    ),
    (
        "feature.used",
        {"account": "acme", "feature": "exports", "plan": "pro", "first_use": True},
        {
            "feature-usage/analytics": "delivered",
            "feature-usage/slack": "delivered",
            "feature-usage/notion": "delivered",
        },
    ),
    (
        "feature.used",
        {"account": "acme", "feature": "exports", "plan": "pro", "first_use": False},
        {"feature-usage/analytics": "delivered", "feature-usage/slack": "skipped"},
    ),
    (
        "file.uploaded",
        {"account": "acme", "file_name": "dump.sql", "size_bytes": 250_000_000},
        {"file-uploads/uploads": "delivered", "file-uploads/slack": "delivered"},
    ),
    (
        "auth.login_failed",
        {"account_id": "u1", "consecutive_failures": 2, "role": "user"},
        "filtered",
    ),
    (
        "auth.login_failed",
        {
            "account_id": "u2",
            "consecutive_failures": 7,
            "role": "user",
            "reason": "bad password for grace@corp.example from 203.0.113.9",
        },
        {"failed-logins/slack": "delivered", "failed-logins/security": "delivered"},
    ),
    (
        "usage.limit_reached",
        {"account": "acme", "plan": "pro", "limit": "api_calls", "usage": 10000, "quota": 10000},
        {"usage-limit-hits/usage": "delivered", "usage-limit-hits/slack": "delivered"},
    ),
    (
        "monitoring.error_spike",
        {"service": "checkout", "environment": "production", "errors_per_minute": 120},
        {
            "error-spikes/on-call": "delivered",
            "error-spikes/incidents": "delivered",
            "error-spikes/eng-alerts": "skipped",
        },
    ),
    (
        "cron.job.finished",
        {"job": "nightly-billing", "status": "failed", "exit_code": 1},
        {"cron-job-health/jobs": "delivered", "cron-job-health/slack": "delivered"},
    ),
    (
        "ci.build.finished",
        {"repository": "web", "branch": "main", "status": "failed", "commit": "abc123"},
        {
            "ci-cd-builds/failed-on-main": "delivered",
            "ci-cd-builds/deploys": "skipped",
            "ci-cd-builds/notion": "delivered",
            "ci-cd-builds/builds": "delivered",
        },
    ),
    ("lead.created", {"company": "Tiny", "employees": 8, "budget": 1000}, "filtered"),
    (
        "lead.created",
        {"company": "Massive Dynamic", "employees": 4000, "source": "webinar"},
        {
            "high-value-leads/slack": "delivered",
            "high-value-leads/notion": "delivered",
            "high-value-leads/leads": "delivered",
        },
    ),
    (
        "account.feedback_received",
        {"account": "acme", "score": 6, "text": "Too expensive, we are switching to a competitor"},
        {"churn-risk-signals/slack": "delivered", "churn-risk-signals/churn-risk": "delivered"},
    ),
]


@pytest.fixture(scope="module")
async def recipes(
    start_api: ApiFactory, receiver: tuple[Receiver, str]
) -> AsyncIterator[tuple[httpx.AsyncClient, FakeSlack, FakeNotion]]:
    slack = FakeSlack(rate=50, burst=50)
    slack.add_token(SLACK_TOKEN)
    for name in CHANNELS:
        slack.add_channel(name)
    notion = FakeNotion(rate=50, burst=50)
    notion.add_token(NOTION_TOKEN)
    env = {"SLACK_BOT_TOKEN": SLACK_TOKEN, "NOTION_TOKEN": NOTION_TOKEN}
    for name in DATABASES:
        db = notion.add_database(
            schema(Name="title", Company="rich_text", Feature="rich_text", Event_ID="rich_text")
        )
        env[f"NOTION_{name}_DB"] = db.id
    _, receiver_url = receiver
    env["INGESTLAYER_DEMO_RECEIVER_URL"] = receiver_url
    env["INGESTLAYER_DEMO_WEBHOOK_SECRET"] = "whsec_recipes"
    forget_schemas()
    async with serve(slack.app()) as slack_url, serve(notion.app()) as notion_url:
        env["INGESTLAYER_SLACK_API_URL"] = f"{slack_url}/api/"
        env["INGESTLAYER_NOTION_API_URL"] = notion_url
        with environ(env):
            api = await start_api(EXAMPLES)
            yield api, slack, notion


async def test_every_product_page_recipe_has_an_example() -> None:
    names = {path.stem for path in EXAMPLES.glob("*.yml")}
    assert names >= {
        "support-escalations",
        "user-signups",
        "waitlist-signups",
        "subscriptions-started",
        "subscriptions-canceled",
        "payments-succeeded",
        "payments-failed",
        "trial-conversions",
        "form-submissions",
        "feature-usage",
        "file-uploads",
        "failed-logins",
        "usage-limit-hits",
        "error-spikes",
        "cron-job-health",
        "ci-cd-builds",
        "high-value-leads",
        "churn-risk-signals",
    }
    covered = {case[0] for case in CASES}
    for path in EXAMPLES.glob("*.yml"):
        on = next(
            line.split(":", 1)[1].strip()
            for line in path.read_text().splitlines()
            if line.strip().startswith("on:")
        )
        assert on in covered, f"{path.name} has no sample event in CASES"


async def test_each_recipe_delivers_what_it_promises(
    recipes: tuple[httpx.AsyncClient, FakeSlack, FakeNotion],
) -> None:
    api, slack, _ = recipes
    emitted = [
        (await emit(api, event_type, payload), expected) for event_type, payload, expected in CASES
    ]
    for event_id, expected in emitted:
        if expected == "filtered":
            status = await wait_status(api, event_id, {"filtered"}, within=60)
            continue
        status = await wait_status(
            api, event_id, {"completed", "dead_lettered", "failed"}, within=60
        )
        states = {
            f"{p['name']}/{d['destination']}": (d["state"], d.get("last_error"))
            for p in status["pipelines"]
            for d in p["deliveries"]
        }
        assert isinstance(expected, dict)
        for key, state in expected.items():
            assert states[key][0] == state, (key, states[key])
    posted = str([m.blocks for m in slack.messages])
    assert "ada.lovelace@umbrella.example" not in posted
    assert "grace@corp.example" not in posted
    assert "203.0.113.9" not in posted
    assert "Massive Dynamic" in posted
