"""The commands people run: `ingestlayer dev` (the one-command stack) and `worker.py --processes N`."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from temporalio.client import Client

from ingestlayer.settings import Settings
from tests.conftest import CODEC_KEYS, ApiFactory
from tests.fakes.receiver import Receiver
from tests.integration.history import from_json, raw_history, to_json

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Output:
    """Collects a child's stdout on a thread so the test can wait for lines without blocking."""

    def __init__(self, stream: IO[str]) -> None:
        import threading

        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    async def wait_for(self, pattern: str, within: float = 60.0) -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for line in self.lines:
                if re.search(pattern, line):
                    return line
            await asyncio.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines[-40:]))


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGESTLAYER_")}
    env.update(extra)
    return env


@pytest.fixture
def dev_ports() -> dict[str, int]:
    return {name: free_port() for name in ("api", "temporal", "ui", "receiver")}


def dev_command(ports: dict[str, int], data_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ingestlayer.cli",
        "dev",
        "--port",
        str(ports["api"]),
        "--temporal-port",
        str(ports["temporal"]),
        "--ui-port",
        str(ports["ui"]),
        "--receiver-port",
        str(ports["receiver"]),
        "--data-dir",
        str(data_dir),
        *extra,
    ]


@pytest.fixture
def spawn() -> Iterator[Any]:
    children: list[subprocess.Popen[str]] = []

    def start(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], Output]:
        child = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        children.append(child)
        assert child.stdout is not None
        return child, Output(child.stdout)

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
            child.wait()


async def wait_exit(child: subprocess.Popen[str], within: float = 30.0) -> int:
    deadline = time.monotonic() + within
    while child.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError("process did not stop in time")
        await asyncio.sleep(0.1)
    return child.returncode


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


TICKET = {
    "type": "support.ticket.created",
    "payload": {
        "ticket_id": "T-1042",
        "subject": "Checkout is down",
        "priority": "critical",
        "customer_tier": "pro",
    },
}


async def test_dev_starts_the_stack_delivers_an_event_and_stops_cleanly(
    dev_ports: dict[str, int], tmp_path: Path, spawn: Any
) -> None:
    data = tmp_path / "data"
    child, out = spawn(dev_command(dev_ports, data), _env())
    await out.wait_for("Press Ctrl-C", within=90)
    banner = "\n".join(out.lines)
    key = (data / "api-key").read_text().strip()
    assert f"http://127.0.0.1:{dev_ports['api']}/docs" in banner
    assert f"http://127.0.0.1:{dev_ports['ui']}" in banner
    assert key in banner
    assert (data / "temporal.db").exists()

    api = f"http://127.0.0.1:{dev_ports['api']}"
    async with httpx.AsyncClient(
        base_url=api, headers={"Authorization": f"Bearer {key}"}
    ) as client:
        accepted = await client.post(
            "/v1/events", json=TICKET, headers={"Idempotency-Key": "T-1042"}
        )
        assert accepted.status_code == 202
        event_id = accepted.json()["id"]
        await out.wait_for(rf"/hooks/on-call <- support.ticket.created {event_id} signature=valid")
        status = (await client.get(f"/v1/events/{event_id}")).json()
        assert status["state"] == "completed"
        ui = await client.get(f"http://127.0.0.1:{dev_ports['ui']}/")
        assert ui.status_code == 200
        await _ui_decodes_the_encrypted_event(dev_ports, data, event_id)

    child.send_signal(signal.SIGINT)
    assert await wait_exit(child) == 0
    assert "stopped" in out.lines
    assert not port_open(dev_ports["temporal"])
    assert not port_open(dev_ports["api"])

    again, out2 = spawn(dev_command(dev_ports, data), _env())
    await out2.wait_for("Press Ctrl-C", within=90)
    async with httpx.AsyncClient(
        base_url=api, headers={"Authorization": f"Bearer {key}"}
    ) as client:
        kept = await client.get(f"/v1/events/{event_id}")
        assert kept.status_code == 200
        assert kept.json()["state"] == "completed"
        repeat = await client.post("/v1/events", json=TICKET, headers={"Idempotency-Key": "T-1042"})
        assert repeat.json() == {**accepted.json(), "duplicate": True}
    again.send_signal(signal.SIGINT)
    assert await wait_exit(again) == 0


async def _ui_decodes_the_encrypted_event(ports: dict[str, int], data: Path, event_id: str) -> None:
    """`dev` keeps a codec key, starts the dev server with `--ui-codec-endpoint` on the API's
    UI path, and the UI's decode call (from its origin, no API key) turns the ciphertext that
    Temporal stores back into the event."""
    for name in ("codec-key", "codec-ui-token"):
        assert (data / name).stat().st_mode & 0o777 == 0o600, name
    key_id = (data / "codec-key").read_text().split(":")[0]
    token = (data / "codec-ui-token").read_text().strip()
    ui_origin = f"http://127.0.0.1:{ports['ui']}"
    async with httpx.AsyncClient(timeout=10) as browser:
        ui_settings = (await browser.get(f"{ui_origin}/api/v1/settings")).json()
        endpoint = ui_settings["Codec"]["Endpoint"]
        assert endpoint == f"http://127.0.0.1:{ports['api']}/codec/ui/{token}"
        plain_client = await Client.connect(f"127.0.0.1:{ports['temporal']}")
        history = await raw_history(plain_client, event_id)
        [stored] = history[0].workflow_execution_started_event_attributes.input.payloads
        assert stored.metadata["encryption-key-id"] == key_id.encode()
        assert b"T-1042" not in stored.SerializeToString()
        preflight = await browser.options(
            f"{endpoint}/decode",
            headers={
                "Origin": ui_origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            },
        )
        assert preflight.headers["access-control-allow-origin"] == ui_origin
        answer = await browser.post(
            f"{endpoint}/decode",
            json={"payloads": [to_json(stored)]},
            headers={"Origin": ui_origin, "X-Namespace": "default"},
        )
    assert answer.status_code == 200, answer.text
    [decoded] = answer.json()["payloads"]
    assert json.loads(from_json(decoded).data)["event"]["payload"]["ticket_id"] == "T-1042"


async def test_dev_attaches_to_an_existing_temporal(
    dev_ports: dict[str, int], tmp_path: Path, spawn: Any, settings: Settings
) -> None:
    data = tmp_path / "data"
    cmd = dev_command(dev_ports, data, "--temporal-address", settings.temporal_address)
    child, out = spawn(cmd, _env(INGESTLAYER_TASK_QUEUE=f"{settings.task_queue}-attached"))
    line = await out.wait_for("Temporal UI", within=60)
    assert f"attached to {settings.temporal_address}" in line
    await out.wait_for("Press Ctrl-C")
    assert not port_open(dev_ports["temporal"])
    key = (data / "api-key").read_text().strip()
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{dev_ports['api']}", headers={"Authorization": f"Bearer {key}"}
    ) as client:
        accepted = await client.post("/v1/events", json=TICKET)
        assert accepted.status_code == 202
        await out.wait_for(rf"/hooks/on-call <- support.ticket.created {accepted.json()['id']}")
    child.send_signal(signal.SIGINT)
    assert await wait_exit(child) == 0


async def test_dev_refuses_a_bad_pipeline_file_with_file_line_and_reason(
    dev_ports: dict[str, int], tmp_path: Path, spawn: Any
) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("pipelines:\n  - name: p\n    on: a.b\n    steps:\n      - filter.match: x = \n")
    child, out = spawn(dev_command(dev_ports, tmp_path / "data", "--pipelines", str(bad)), _env())
    assert await wait_exit(child, within=60) == 2
    await out.wait_for(rf"error: {re.escape(str(bad))}:5: .*filter\.match")
    assert not port_open(dev_ports["temporal"])


async def test_dev_refuses_a_bad_codec_key_without_echoing_it(
    dev_ports: dict[str, int], tmp_path: Path, spawn: Any
) -> None:
    short = base64.b64encode(b"sixteen byte key").decode()
    env = _env(INGESTLAYER_CODEC_KEYS=f"k1:{short}")
    child, out = spawn(dev_command(dev_ports, tmp_path / "data"), env)
    assert await wait_exit(child, within=60) == 2
    await out.wait_for(
        r"error: INGESTLAYER_CODEC_KEYS: codec key 'k1' decodes to 16 bytes; AES-256 needs 32"
    )
    assert short not in "\n".join(out.lines)
    assert not port_open(dev_ports["temporal"])


async def test_worker_pool_processes_deliver_and_stop_on_sigterm(
    spawn: Any, settings: Settings, start_api: ApiFactory, receiver: tuple[Receiver, str]
) -> None:
    fake, url = receiver
    queue = f"{settings.task_queue}-pool"
    prefix = f"{settings.delivery_queue_prefix}-pool"
    env = _env(
        INGESTLAYER_TEMPORAL_ADDRESS=settings.temporal_address,
        INGESTLAYER_TASK_QUEUE=queue,
        INGESTLAYER_DELIVERY_QUEUE_PREFIX=prefix,
        INGESTLAYER_OUTBOUND_ALLOW="127.0.0.1/32",
        INGESTLAYER_CODEC_KEYS=CODEC_KEYS,
    )
    pool, out = spawn([sys.executable, "worker.py", "--processes", "2"], env)
    api = await start_api(
        f"""
pipelines:
  - name: pool
    on: test.pool
    destinations:
      - webhook: {{url: "{url}/ok/pool-hook"}}
""",
        task_queue=queue,
        delivery_queue_prefix=prefix,
    )
    ids = []
    for n in range(6):
        response = await api.post("/v1/events", json={"type": "test.pool", "payload": {"n": n}})
        ids.append(response.json()["id"])
    received = await fake.wait_for("pool-hook", count=6, within=60)
    assert sorted(json.loads(r.body)["id"] for r in received) == sorted(ids)
    await out.wait_for(r"worker-1 INFO worker polling " + re.escape(queue))
    await out.wait_for(r"worker-2 INFO worker polling " + re.escape(queue))
    pool.send_signal(signal.SIGTERM)
    assert await wait_exit(pool) == 0
    await out.wait_for("worker-1 INFO worker stopped")
    await out.wait_for("worker-2 INFO worker stopped")
