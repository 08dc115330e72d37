"""Session-wide servers: one Temporal dev server (file-backed, as in `make dev`), one worker,
one Postgres schema, one webhook receiver. Each test module starts its own API with its own
pipelines over real HTTP."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from ingestlayer import config
from ingestlayer.codec import new_codec_key
from ingestlayer.devserver import start_environment
from ingestlayer.settings import Settings
from ingestlayer.temporal import data_converter
from ingestlayer.workers import running_workers
from tests.fakes.receiver import Receiver
from tests.fakes.serving import serve

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
API_KEY = "il_test_" + secrets.token_hex(8)
# The whole suite runs with payload encryption on, as `make dev` and docker-compose do. Child
# processes (worker pools, APIs) get it as INGESTLAYER_CODEC_KEYS=CODEC_KEYS.
CODEC_KEY_ID = "test-" + secrets.token_hex(3)
CODEC_KEYS = new_codec_key(CODEC_KEY_ID)

ApiFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture(scope="session")
def run_id() -> str:
    return secrets.token_hex(4)


@pytest.fixture(scope="session")
async def temporal_env(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[WorkflowEnvironment]:
    env = await start_environment(
        tmp_path_factory.mktemp("temporal") / "temporal.db",
        converter=data_converter(Settings(codec_keys=CODEC_KEYS)),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture(scope="session")
def settings(temporal_env: WorkflowEnvironment, run_id: str) -> Settings:
    config_ = temporal_env.client.config()
    return Settings(
        temporal_address=config_["service_client"].config.target_host,
        task_queue=f"ilt-{run_id}-pipeline",
        delivery_queue_prefix=f"ilt-{run_id}-delivery",
        api_keys=API_KEY,
        codec_keys=CODEC_KEYS,
        public_base_url="http://testserver",
        outbound_allow=["127.0.0.1/32", "::1/128"],
    )


@pytest.fixture(scope="session")
async def worker(temporal_client: Client, settings: Settings) -> AsyncIterator[None]:
    async with running_workers(temporal_client, settings):
        yield


@pytest.fixture(scope="session")
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    fake = Receiver()
    async with serve(fake.app()) as url:
        yield fake, url


@pytest.fixture(scope="session")
async def pg_schema(run_id: str) -> AsyncIterator[str]:
    schema = f"ilt_{run_id}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


@pytest.fixture(scope="session")
async def start_api(
    temporal_client: Client,
    settings: Settings,
    worker: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ApiFactory]:
    """Start the real API over HTTP with the given pipeline YAML (or file or folder of them);
    returns an authed client."""
    stack: list[tuple[AsyncIterator[str], httpx.AsyncClient]] = []

    async def factory(pipelines_yaml: str | Path, **overrides: object) -> httpx.AsyncClient:
        if isinstance(pipelines_yaml, Path):
            path = pipelines_yaml
        else:
            path = tmp_path_factory.mktemp("pipelines") / "pipelines.yml"
            path.write_text(pipelines_yaml)
        app_settings = settings.model_copy(update={"pipelines_path": str(path), **overrides})
        app = create_app(app_settings, client=temporal_client, pipelines=config.load(path))
        served = serve(app)
        url = await served.__aenter__()
        client = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
        )
        stack.append((served, client))
        return client

    yield factory
    for served, client in reversed(stack):
        await client.aclose()
        await served.__aexit__(None, None, None)  # type: ignore[attr-defined]
