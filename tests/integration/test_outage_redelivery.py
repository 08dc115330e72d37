"""An outage longer than the retry policy, through the real API and worker: the receiver is down,
every delivery dead-letters, it comes back, and one paced bulk redelivery by destination delivers
each exactly once. Plus the filters (type, time, destination), the progress endpoint and the CLI."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from ingestlayer import cli
from tests.conftest import API_KEY, ApiFactory
from tests.fakes.receiver import Receiver
from tests.integration.api_helpers import delivery, emit, wait_status

pytestmark = pytest.mark.asyncio(loop_scope="session")

TAG = secrets.token_hex(3)
HOOK, AUDIT = f"outage-hook-{TAG}", f"outage-audit-{TAG}"
FIRST, SECOND = f"filter-first-{TAG}", f"filter-second-{TAG}"
RELAPSE = f"relapse-{TAG}"
SHORT_RETRY = "{max_attempts: 2, initial_interval: 100ms}"
PAGE_SIZE = 4
SIGNALS_PER_RUN = 10


def pipelines(url: str) -> str:
    return f"""
pipelines:
  - name: outage
    on: test.outage
    destinations:
      - name: hook
        webhook: {{url: "{url}/switch/{HOOK}"}}
        retry: {SHORT_RETRY}
      - name: audit
        webhook: {{url: "{url}/ok/{AUDIT}"}}
  - name: filters
    on: [test.filters.a, test.filters.b]
    destinations:
      - name: first
        webhook: {{url: "{url}/switch/{FIRST}"}}
        retry: {SHORT_RETRY}
      - name: second
        webhook: {{url: "{url}/switch/{SECOND}"}}
        retry: {SHORT_RETRY}
  - name: relapse
    on: test.relapse
    destinations:
      - name: hook
        webhook: {{url: "{url}/status/503/{RELAPSE}"}}
        retry: {SHORT_RETRY}
"""


@pytest.fixture(scope="module")
async def setup(
    start_api: ApiFactory, receiver: tuple[Receiver, str]
) -> tuple[httpx.AsyncClient, Receiver]:
    fake, url = receiver
    api = await start_api(
        pipelines(url),
        redeliver_page_size=PAGE_SIZE,
        redeliver_signals_per_run=SIGNALS_PER_RUN,
    )
    return api, fake


def arrivals(fake: Receiver, name: str) -> Counter[str]:
    return Counter(r.headers["x-ingestlayer-event-id"] for r in fake.accepted(name))


async def wait_dead_lettered(
    api: httpx.AsyncClient, destination: str, ids: set[str], within: float = 30.0
) -> None:
    """Until the listing (the visibility store a bulk run reads) shows every one of them."""
    deadline = time.monotonic() + within
    listed: set[str] = set()
    while time.monotonic() < deadline:
        response = await api.get(
            "/v1/dead-letters", params={"destination": destination, "limit": 1000}
        )
        assert response.status_code == 200, response.text
        listed = {d["id"] for d in response.json()["dead_letters"]}
        if ids <= listed:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{len(ids - listed)} of {len(ids)} never listed under {destination}")


async def bulk(api: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post("/v1/dead-letters/redeliver", json=body)
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    assert response.headers["location"] == accepted["status_url"]
    return accepted


async def wait_done(api: httpx.AsyncClient, redelivery_id: str, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await api.get(f"/v1/dead-letters/redeliveries/{redelivery_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        if body["done"]:
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"bulk redelivery never finished: {json.dumps(body)}")


async def test_one_paced_bulk_redelivery_delivers_every_dead_letter_once(setup: Any) -> None:
    api, fake = setup
    count, rate = 24, 10.0
    fake.down.add(HOOK)
    ids = await asyncio.gather(*(emit(api, "test.outage", {"n": n}) for n in range(count)))
    assert len(set(ids)) == count
    await wait_dead_lettered(api, "outage/hook", set(ids))
    for event_id in ids[:3]:
        status = (await api.get(f"/v1/events/{event_id}")).json()
        assert delivery(status, "outage", "hook")["state"] == "dead_lettered"
        assert delivery(status, "outage", "hook")["attempts"] == 2
    assert arrivals(fake, HOOK) == Counter()
    await fake.wait_for(AUDIT, count)

    fake.down.discard(HOOK)
    accepted = await bulk(api, {"destination": "outage/hook", "rate_per_second": rate})
    assert accepted["matching"] == count
    assert accepted["workflow_id"] == f"redeliver/{accepted['id']}"
    running = (await api.get(f"/v1/dead-letters/redeliveries/{accepted['id']}")).json()
    assert (running["state"], running["done"]) == ("running", False)
    assert running["request"]["destination"] == "outage/hook"
    assert running["request"]["rate_per_second"] == rate
    progress = await wait_done(api, accepted["id"])
    assert progress["state"] == "completed"
    assert (progress["matched"], progress["signalled"]) == (count, count)
    assert (progress["skipped"], progress["missing"], progress["failed"]) == (0, 0, 0)
    assert progress["runs"] > 1

    for event_id in ids:
        status = await wait_status(api, event_id, {"completed"})
        assert status["workflow"]["status"] == "completed"
        hook = delivery(status, "outage", "hook")
        assert (hook["state"], hook["redeliveries"], hook["attempts"]) == ("delivered", 1, 3)
        audit = delivery(status, "outage", "audit")
        assert (audit["state"], audit["redeliveries"]) == ("delivered", 0)
    final = (await api.get(f"/v1/dead-letters/redeliveries/{accepted['id']}")).json()
    assert (final["workflow"]["status"], final["signalled"]) == ("completed", count)
    assert arrivals(fake, HOOK) == Counter({event_id: 1 for event_id in ids})
    assert arrivals(fake, AUDIT) == Counter({event_id: 1 for event_id in ids})

    times = sorted(r.at for r in fake.accepted(HOOK))
    assert times[-1] - times[0] >= (count - 1) / rate - 0.25
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= rate + 1


async def wait_delivery(
    api: httpx.AsyncClient, event_id: str, pipeline: str, destination: str, **expected: Any
) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:
        found = delivery((await api.get(f"/v1/events/{event_id}")).json(), pipeline, destination)
        if all(found[key] == value for key, value in expected.items()):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{event_id} {pipeline}/{destination} never {expected}: {found}")


async def test_an_event_that_dead_letters_again_is_not_picked_twice_by_the_same_run(
    setup: Any,
) -> None:
    api, fake = setup
    count = PAGE_SIZE + 2
    ids = await asyncio.gather(*(emit(api, "test.relapse", {"n": n}) for n in range(count)))
    await wait_dead_lettered(api, "relapse/hook", set(ids))
    accepted = await bulk(api, {"destination": "relapse/hook", "rate_per_second": 4})
    progress = await wait_done(api, accepted["id"])
    assert (progress["matched"], progress["signalled"]) == (count, count)
    for event_id in ids:
        await wait_delivery(
            api, event_id, "relapse", "hook", state="dead_lettered", redeliveries=1, attempts=4
        )
    await asyncio.sleep(0.5)
    sent = Counter(r.headers["x-ingestlayer-event-id"] for r in fake.for_name(RELAPSE))
    assert sent == Counter({event_id: 4 for event_id in ids})


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """The console script's entry point, in a thread (it talks to the API in this loop)."""
    capsys.readouterr()
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


async def test_filters_pick_only_the_matching_type_time_and_destination(
    setup: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    api, fake = setup
    fake.down.update({FIRST, SECOND})
    early = [
        await emit(api, "test.filters.a", {"n": 1}),
        await emit(api, "test.filters.a", {"n": 2}),
    ]
    other_type = await emit(api, "test.filters.b", {"n": 3})
    await asyncio.sleep(0.3)
    cut = datetime.now(UTC)
    await asyncio.sleep(0.3)
    late = await emit(api, "test.filters.a", {"n": 4})
    everyone = {*early, other_type, late}
    await wait_dead_lettered(api, "filters/first", everyone)
    await wait_dead_lettered(api, "filters/second", everyone)
    fake.down.difference_update({FIRST, SECOND})

    for body in (
        {"destination": "filters/nowhere"},
        {"destination": "filters/first", "event_type": "test.filters.c"},
        {"destination": "filters/first", "since": datetime.now(UTC).isoformat()},
    ):
        response = await api.post("/v1/dead-letters/redeliver", json=body)
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "nothing_to_redeliver"

    accepted = await bulk(
        api,
        {
            "destination": "filters/first",
            "event_type": "test.filters.a",
            "until": cut.isoformat(),
            "rate_per_second": 20,
        },
    )
    assert accepted["matching"] == 2
    progress = await wait_done(api, accepted["id"])
    assert (progress["matched"], progress["signalled"]) == (2, 2)
    for event_id in early:
        await wait_delivery(api, event_id, "filters", "first", state="delivered")
        status = (await api.get(f"/v1/events/{event_id}")).json()
        assert delivery(status, "filters", "second")["state"] == "dead_lettered"
    for event_id in (other_type, late):
        status = (await api.get(f"/v1/events/{event_id}")).json()
        assert delivery(status, "filters", "first")["state"] == "dead_lettered"
    assert arrivals(fake, FIRST) == Counter(dict.fromkeys(early, 1))
    assert arrivals(fake, SECOND) == Counter()

    url = str(api.base_url)
    code, out = await asyncio.to_thread(
        run_cli,
        capsys,
        *("redeliver", "--url", url, "--api-key", API_KEY, "--all", "--wait"),
        *("--destination", "filters/first", "--since", cut.isoformat(), "--rate", "20"),
    )
    assert code == 0, out
    finished = json.loads(out)
    assert (finished["state"], finished["matched"], finished["signalled"]) == ("completed", 1, 1)
    assert finished["request"]["since"] is not None
    await fake.wait_for(FIRST, 3)
    assert arrivals(fake, FIRST) == Counter(dict.fromkeys([*early, late], 1))

    code, out = await asyncio.to_thread(
        run_cli,
        capsys,
        *("redeliver", other_type, "--url", url, "--api-key", API_KEY),
        *("--destination", "second"),
    )
    assert code == 0, out
    assert json.loads(out)["redelivering"] == ["filters/second"]
    await fake.wait_for(SECOND, 1)
    status = await wait_status(api, other_type, {"dead_lettered"})
    assert delivery(status, "filters", "first")["state"] == "dead_lettered"
    assert arrivals(fake, SECOND) == Counter({other_type: 1})


async def test_bad_filters_and_unknown_runs_are_client_errors(setup: Any) -> None:
    api, _ = setup
    cases: list[tuple[Any, str]] = [
        ({"event_type": "test.outage"}, "invalid_filter"),
        ({"destination": "no-slash"}, "invalid_filter"),
        ({"destination": "x'/y"}, "invalid_filter"),
        ({"destination": "outage/hook", "rate_per_second": 0}, "invalid_filter"),
        ({"destination": "outage/hook", "rate_per_second": 1000}, "invalid_filter"),
        ({"destination": "outage/hook", "since": 1700000000}, "invalid_filter"),
        ({"destination": "outage/hook", "since": "yesterday"}, "invalid_filter"),
        ({"destination": "outage/hook", "unknown": 1}, "invalid_filter"),
        (
            {
                "destination": "outage/hook",
                "since": "2026-01-02T00:00:00Z",
                "until": "2026-01-01T00:00:00Z",
            },
            "invalid_filter",
        ),
        ([], "invalid_filter"),
    ]
    for body, code in cases:
        response = await api.post("/v1/dead-letters/redeliver", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == code, body
    malformed = await api.post(
        "/v1/dead-letters/redeliver", content=b"{", headers={"content-type": "application/json"}
    )
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (422, "malformed_json")
    for unknown in (secrets.token_hex(16), "not-an-id"):
        response = await api.get(f"/v1/dead-letters/redeliveries/{unknown}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "redelivery_not_found"
    unauthenticated = await api.post(
        "/v1/dead-letters/redeliver",
        json={"destination": "outage/hook"},
        headers={"Authorization": ""},
    )
    assert unauthenticated.status_code == 401
