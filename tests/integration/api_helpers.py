"""Talking to the API the way a user would: emit an event, poll its status."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx


async def emit(api: httpx.AsyncClient, event_type: str, payload: dict[str, Any]) -> str:
    response = await api.post("/v1/events", json={"type": event_type, "payload": payload})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def wait_status(
    api: httpx.AsyncClient, event_id: str, states: set[str], within: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await api.get(f"/v1/events/{event_id}")
        body = response.json()
        if response.status_code == 200 and body["state"] in states:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"event {event_id} never reached {states}: {json.dumps(body)[:2000]}")


def delivery(status: dict[str, Any], pipeline: str, destination: str) -> dict[str, Any]:
    p = next(p for p in status["pipelines"] if p["name"] == pipeline)
    return next(d for d in p["deliveries"] if d["destination"] == destination)


@contextlib.contextmanager
def environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set variables for the in-process worker (secrets resolve there), then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
