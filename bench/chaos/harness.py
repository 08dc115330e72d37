"""The stack a crash run kills parts of, and the check that counts what it left behind.

Every part that can crash runs as its own OS process, started from one environment so they
agree on settings: the file-backed Temporal dev server (the binary and pragmas of `make dev`,
restartable on the same database file and port), the API (`uvicorn api.app:create_app
--factory`) and one worker (`python worker.py`). The webhook receiver and a fresh Postgres
schema live in the calling process, so every delivery and every row can be counted there.
History is encrypted with a fresh codec key that every child and this process share.
`make chaos` and the crash and API-restart tests all run on this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from temporalio.client import Client
from temporalio.service import RPCError

from bench.chaos.driver import EVENT_TYPE, Driver, Post, ticket
from bench.chaos.processes import ChaosError, Child, free_port
from bench.chaos.report import Report
from ingestlayer import search_attributes as sa
from ingestlayer.codec import new_codec_key
from ingestlayer.devserver import DevServer
from ingestlayer.settings import Settings
from ingestlayer.status import EventStatus
from ingestlayer.temporal import connect, ensure_search_attributes
from tests.fakes.receiver import Receiver
from tests.fakes.serving import serve
from workflows.event_pipeline import WORKFLOW_NAME

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
HOOK_NAME = "chaos-hook"
TABLE = "events"
RECEIVER_URL_ENV = "CHAOS_RECEIVER_URL"
PG_DSN_ENV = "CHAOS_PG_DSN"

__all__ = [
    "EVENT_TYPE",
    "WORKFLOW_NAME",
    "ChaosError",
    "ChaosStack",
    "Driver",
    "Post",
    "Report",
    "chaos_stack",
    "crash_run",
    "pipelines_yaml",
    "ticket",
]


def pipelines_yaml(schema: str, hook_delay: float = 0.0) -> str:
    """The support pipeline (rules classify, redact.pii, set) with no filter: every event goes
    to both the webhook and the table, so every event can be counted at both. A receiver that
    takes `hook_delay` seconds to answer keeps events between "row inserted" and "workflow
    done" for that long, which is where a killed worker leaves work to be repeated."""
    path = f"slow/{hook_delay:g}" if hook_delay else "ok"
    return f"""
pipelines:
  - name: support-chaos
    on: {EVENT_TYPE}
    steps:
      - classify:
          output: urgency
          labels: [low, high, critical]
          prompt: "Urgency of: $event.subject / $event.body"
          input: [subject, body]
          default: low
          model:
            provider: rules
            rules:
              - label: critical
                keywords: [down, outage, "data loss", urgent, "cannot log in"]
              - label: high
                keywords: [broken, error, slow, crash]
      - redact.pii: {{fields: [body]}}
      - set:
          team: support
    destinations:
      - name: hook
        webhook:
          url: "${{{RECEIVER_URL_ENV}}}/{path}/{HOOK_NAME}"
          auth: {{type: hmac, secret: "${{CHAOS_HMAC_SECRET}}"}}
        retry: {{max_attempts: 50, initial_interval: 1s, backoff: 2, max_interval: 5s}}
      - name: table
        postgres:
          dsn: "${{{PG_DSN_ENV}}}"
          table: {schema}.{TABLE}
          columns: {{event_id: $event.id}}
        retry: {{max_attempts: 50, initial_interval: 1s, backoff: 2, max_interval: 5s}}
"""


TABLE_DDL = """
CREATE TABLE {schema}.{table} (
    row_no bigserial PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    type text,
    "timestamp" timestamptz,
    urgency text,
    team text,
    payload jsonb
)
"""


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Read Settings from exactly the `INGESTLAYER_*` values the children get, so this process
    and theirs agree (data converter, queues) however the values are spelled."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("INGESTLAYER_")}
    for name in saved:
        del os.environ[name]
    ours = {k: v for k, v in env.items() if k.startswith("INGESTLAYER_")}
    os.environ.update(ours)
    try:
        return Settings()
    finally:
        for name in ours:
            os.environ.pop(name, None)
        os.environ.update(saved)


class ChaosStack:
    """The processes and the in-process observers of one run; see `chaos_stack`."""

    def __init__(
        self,
        tmp: Path,
        receiver: Receiver,
        receiver_url: str,
        schema: str,
        hook_delay: float = 0.0,
    ) -> None:
        self.tmp = tmp
        self.receiver = receiver
        self.receiver_url = receiver_url
        self.schema = schema
        self.run = secrets.token_hex(4)
        self.api_key = "il_chaos_" + secrets.token_hex(12)
        self.api_port = free_port()
        self.server = DevServer(
            db_file=tmp / "temporal.db",
            port=free_port(),
            ui_port=None,
            log_file=tmp / "temporal.log",
        )
        pipelines = tmp / "pipelines.yml"
        pipelines.write_text(pipelines_yaml(schema, hook_delay))
        self.env = child_env(
            {
                "INGESTLAYER_TEMPORAL_ADDRESS": self.server.address,
                "INGESTLAYER_TASK_QUEUE": f"chaos-{self.run}",
                "INGESTLAYER_DELIVERY_QUEUE_PREFIX": f"chaos-{self.run}-delivery",
                "INGESTLAYER_API_KEYS": self.api_key,
                "INGESTLAYER_PIPELINES_PATH": str(pipelines),
                "INGESTLAYER_PUBLIC_BASE_URL": f"http://127.0.0.1:{self.api_port}",
                "INGESTLAYER_OUTBOUND_ALLOW": "127.0.0.1/32",
                "INGESTLAYER_CODEC_KEYS": new_codec_key(f"chaos-{self.run}"),
                RECEIVER_URL_ENV: receiver_url,
                PG_DSN_ENV: PG_ADMIN_DSN,
                "CHAOS_HMAC_SECRET": "chaos-" + secrets.token_hex(16),
            }
        )
        self.settings = settings_from_env(self.env)
        api_args = [
            sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(self.api_port), "--log-level", "warning",
        ]  # fmt: skip
        self.api = Child("api", api_args, self.env, tmp)
        self.worker = Child("worker", [sys.executable, "worker.py"], self.env, tmp)
        self._client: Client | None = None
        self.worker_kills = 0
        self.server_restarts = 0
        self.api_restarts = 0
        self.in_flight_at_kills: list[int] = []
        self.accepted_at_restarts: list[int] = []
        self._verified: set[str] = set()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def client(self) -> Client:
        if self._client is None:
            raise ChaosError("the stack is not started")
        return self._client

    def http(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=30,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
            **kwargs,
        )

    async def start(self) -> None:
        self.server.start()
        self._client = await connect(self.settings, wait_seconds=60)
        await ensure_search_attributes(self._client, self.settings.temporal_namespace)
        self.worker.start()
        self.api.start()
        await self.worker.wait_ready(self._worker_polling, within=120)
        await self.api.wait_ready(self._api_healthy, within=120)

    async def close(self) -> None:
        await self.api.stop(signal.SIGTERM, within=15)
        await self.worker.stop(signal.SIGTERM, within=15)
        self.server.stop()

    async def _api_healthy(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as probe:
                return (await probe.get(self.api_url + "/healthz")).status_code == 200
        except httpx.TransportError:
            return False

    async def _worker_polling(self) -> bool:
        return "worker polling" in self.worker.log_text()

    async def _server_serving(self) -> bool:
        try:
            await self.client.count_workflows(f"WorkflowType = '{WORKFLOW_NAME}'")
        except RPCError:
            return False
        return True

    async def kill_worker(self, in_flight: int | None = None) -> None:
        """SIGKILL: no graceful shutdown, in-flight tasks and local activities die with it."""
        if in_flight is not None:
            self.in_flight_at_kills.append(in_flight)
        await self.worker.stop(signal.SIGKILL)
        self.worker_kills += 1
        self.worker.start()
        await self.worker.wait_ready(self._worker_polling, within=120)

    async def restart_server(self, down_seconds: float = 1.0, accepted: int | None = None) -> None:
        """SIGKILL the dev server and start it again on the same database file and port."""
        if accepted is not None:
            self.accepted_at_restarts.append(accepted)
        process = self.server.process
        if process is not None and process.poll() is None:
            process.kill()
            await asyncio.to_thread(process.wait)
        await asyncio.sleep(down_seconds)
        self.server.start()
        self.server_restarts += 1
        deadline = time.monotonic() + 120
        while not await self._server_serving():
            if self.server.exited() is not None or time.monotonic() > deadline:
                raise ChaosError(f"the dev server did not come back; see {self.server.log_file}")
            await asyncio.sleep(0.2)

    async def stop_api(self, sig: signal.Signals) -> int:
        return await self.api.stop(sig)

    async def start_api(self) -> None:
        self.api.start()
        self.api_restarts += 1
        await self.api.wait_ready(self._api_healthy, within=120)

    def delivered(self) -> int:
        return len({r.headers.get("x-ingestlayer-event-id") for r in self.receiver.requests})

    def in_flight(self, driver: Driver) -> int:
        """Accepted events that have not reached the receiver yet."""
        arrived = {r.headers.get("x-ingestlayer-event-id") for r in self.receiver.requests}
        return sum(1 for p in driver.posts if p.id is not None and p.id not in arrived)

    async def wait_completed(self, ids: Collection[str], within: float) -> int:
        """Until every one of these events' workflows has completed or dead-lettered (which
        stays open, waiting for a redelivery), or `within` seconds pass; returns how many
        completed."""
        wanted = set(ids)
        deadline = time.monotonic() + within
        done = 0
        while time.monotonic() < deadline:
            with contextlib.suppress(RPCError):
                completed = wanted & await self.workflow_ids("Completed")
                done = len(completed)
                if done == len(wanted) or wanted <= completed | await self.dead_lettered():
                    break
            await asyncio.sleep(1.0)
        return done

    async def dead_lettered(self) -> set[str]:
        query = f"WorkflowType = '{WORKFLOW_NAME}' AND {sa.DEAD_LETTER.name} = true"
        return {wf.id async for wf in self.client.list_workflows(query, page_size=1000)}

    async def workflow_ids(self, status: str | None = None) -> set[str]:
        query = f"WorkflowType = '{WORKFLOW_NAME}'"
        if status:
            query += f" AND ExecutionStatus = '{status}'"
        return {wf.id async for wf in self.client.list_workflows(query, page_size=1000)}

    async def table_counts(self) -> Counter[str]:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            rows = await conn.fetch(
                f'SELECT event_id, count(*) AS n FROM "{self.schema}".{TABLE} GROUP BY event_id'
            )
        finally:
            await conn.close()
        return Counter({row["event_id"]: row["n"] for row in rows})

    async def verify(self, driver: Driver, wall_seconds: float) -> Report:
        """Count what the run left behind: in Temporal, in the table, at the receiver. Events
        of drivers verified earlier on this stack are left out; anything else counts."""
        earlier = set(self._verified)
        self._verified |= {p.expected_id for p in driver.posts}
        report = Report(
            worker_kills=self.worker_kills,
            server_restarts=self.server_restarts,
            api_restarts=self.api_restarts,
            in_flight_at_kills=list(self.in_flight_at_kills),
            accepted_at_restarts=list(self.accepted_at_restarts),
            wall_seconds=wall_seconds,
        )
        posts = driver.posts
        report.sent = len(posts)
        accepted = {p.id for p in posts if p.id is not None}
        report.accepted = sum(1 for p in posts if p.id is not None)
        report.id_mismatches = sum(1 for p in posts if p.id and p.id != p.expected_id)
        report.driver_errors = [f"{p.key}: {p.error}" for p in posts if p.error]
        report.driver_retries_503 = sum(p.unavailable for p in posts)
        report.driver_retries_unanswered = sum(p.unanswered for p in posts)
        report.accepted_as_duplicate = sum(1 for p in posts if p.id and p.duplicate)
        report.slowest_202 = max((p.seconds for p in posts if p.id), default=0.0)

        every = await self.workflow_ids() - earlier
        completed = await self.workflow_ids("Completed") - earlier
        report.temporal_events = len(every)
        report.completed = len(completed & accepted)
        report.not_completed = sorted(accepted - completed)
        report.dead_lettered = sorted(accepted & (await self.dead_lettered() - earlier))

        counts = await self.table_counts()
        for old in earlier & set(counts):
            del counts[old]
        report.rows_total = sum(counts.values())
        report.in_table = len(accepted & set(counts))
        report.duplicate_rows = sum(n - 1 for n in counts.values() if n > 1)
        report.missing_rows = sorted(accepted - set(counts))
        report.stray_rows = sorted(set(counts) - accepted)

        headers: dict[str, set[tuple[str | None, str | None]]] = defaultdict(set)
        deliveries = [
            r for r in self.receiver.accepted(HOOK_NAME) if str(r.json.get("id")) not in earlier
        ]
        for request in deliveries:
            body_id = str(request.json.get("id"))
            pair = (
                request.headers.get("x-ingestlayer-event-id"),
                request.headers.get("idempotency-key"),
            )
            headers[body_id].add(pair)
            if pair != (body_id, body_id):
                report.header_mismatches += 1
        report.header_mismatches += sum(len(pairs) - 1 for pairs in headers.values())
        report.receiver_deliveries = len(deliveries)
        report.receiver_unique = len(headers)
        report.receiver_missing = sorted(accepted - set(headers))
        report.stray_deliveries = sorted(set(headers) - accepted)
        report.inserts_found_row = await self.inserts_found_row(completed & accepted)
        return report

    async def inserts_found_row(self, ids: set[str]) -> int:
        """Table deliveries whose insert was a no-op because the row was there already: a
        delivery repeated after a crash, absorbed by `ON CONFLICT DO NOTHING`. Read from each
        completed workflow's result (its final status), through our data converter."""
        limit = asyncio.Semaphore(16)

        async def one(workflow_id: str) -> bool:
            async with limit:
                result = await self.client.get_workflow_handle(workflow_id).result()
            status = EventStatus.model_validate(result)
            return any(
                d.destination == "table"
                and d.result is not None
                and d.result.get("inserted") is False
                for p in status.pipelines
                for d in p.deliveries
            )

        return sum(await asyncio.gather(*(one(i) for i in sorted(ids))))


async def crash_run(
    stack: ChaosStack,
    events: int,
    *,
    worker_kills: int,
    server_restarts: int = 0,
    concurrency: int = 16,
    rate: float | None = None,
    settle_within: float = 600.0,
) -> Report:
    """Drive `events` through the stack and, while they flow, SIGKILL the worker each time
    another 1/(kills+1) of them has been delivered (so it dies busy delivering) and restart
    the Temporal server each time another 1/(restarts+1) has been accepted (so the API is
    mid-stream). Then wait for every accepted event's workflow to complete, and count."""
    async with stack.http() as http:
        driver = Driver(http, concurrency=concurrency, rate=rate)
        started = time.monotonic()
        deadline = started + settle_within
        baseline = stack.delivered()

        async def at_shares(
            times: int, progress: Callable[[], int], action: Callable[[], Awaitable[None]]
        ) -> None:
            for index in range(1, times + 1):
                threshold = events * index / (times + 1)
                while progress() < threshold and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                await action()

        async def kill() -> None:
            await stack.kill_worker(in_flight=stack.in_flight(driver))

        async def restart() -> None:
            await stack.restart_server(accepted=driver.accepted)

        await asyncio.gather(
            driver.drive(events),
            at_shares(worker_kills, lambda: stack.delivered() - baseline, kill),
            at_shares(server_restarts, lambda: driver.accepted, restart),
        )
        accepted = [p.id for p in driver.posts if p.id is not None]
        await stack.wait_completed(accepted, within=max(0.0, deadline - time.monotonic()))
        wall = time.monotonic() - started
    return await stack.verify(driver, wall)


def child_env(values: Mapping[str, str]) -> dict[str, str]:
    """One environment for every child: ours, never the caller's own `INGESTLAYER_*` values."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGESTLAYER_")}
    env.update(values)
    return env


async def _create_schema(schema: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute(TABLE_DDL.format(schema=f'"{schema}"', table=TABLE))
    finally:
        await conn.close()


async def _drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@contextlib.contextmanager
def _workdir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ingestlayer-chaos-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


@contextlib.asynccontextmanager
async def chaos_stack(
    *, hook_delay: float = 0.0, keep_logs: bool = False
) -> AsyncIterator[ChaosStack]:
    """Start everything; on the way out stop the children, the server and drop the schema."""
    receiver = Receiver()
    schema = f"chaos_{secrets.token_hex(4)}"
    with _workdir(keep_logs) as tmp:
        await _create_schema(schema)
        try:
            async with serve(receiver.app()) as receiver_url:
                stack = ChaosStack(tmp, receiver, receiver_url, schema, hook_delay)
                try:
                    await stack.start()
                    yield stack
                finally:
                    await stack.close()
        finally:
            await _drop_schema(schema)
