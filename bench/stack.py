"""The local stack a benchmark runs against: a file-backed Temporal dev server (the same binary and
pragmas as `make dev`), an in-process worker and the real API over HTTP on 127.0.0.1."""

from __future__ import annotations

import contextlib
import secrets
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio.client import Client

from api.app import create_app
from ingestlayer import config
from ingestlayer.codec import new_codec_key
from ingestlayer.devserver import start_environment
from ingestlayer.settings import Settings
from ingestlayer.temporal import data_converter
from ingestlayer.workers import running_workers
from tests.fakes.serving import serve


@dataclass
class Stack:
    client: Client
    settings: Settings
    api: httpx.AsyncClient


@contextlib.asynccontextmanager
async def local_stack(pipelines_yaml: str, **overrides: object) -> AsyncIterator[Stack]:
    """Payloads are encrypted, as in `make dev`: the figures include the codec's cost."""
    api_key = "il_bench_" + secrets.token_hex(8)
    codec_keys = new_codec_key("bench")
    with tempfile.TemporaryDirectory(prefix="ingestlayer-bench-") as tmp:
        env = await start_environment(
            Path(tmp) / "temporal.db",
            converter=data_converter(Settings(codec_keys=codec_keys)),
        )
        try:
            pipelines_path = Path(tmp) / "pipelines.yml"
            pipelines_path.write_text(pipelines_yaml)
            target = env.client.config()["service_client"].config.target_host
            settings = Settings(
                temporal_address=target,
                api_keys=api_key,
                codec_keys=codec_keys,
                pipelines_path=str(pipelines_path),
                outbound_allow=["127.0.0.1/32"],
                **overrides,  # type: ignore[arg-type]
            )
            app = create_app(settings, client=env.client, pipelines=config.load(pipelines_path))
            async with (
                running_workers(env.client, settings),
                serve(app) as url,
                httpx.AsyncClient(
                    base_url=url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
                ) as api,
            ):
                yield Stack(client=env.client, settings=settings, api=api)
        finally:
            await env.shutdown()
