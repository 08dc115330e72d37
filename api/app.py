"""The app factory: `uvicorn api.app:create_app --factory`."""

from __future__ import annotations

from fastapi import FastAPI
from temporalio.client import Client

from api import errors
from api.deps import TemporalConnection
from api.routes import codec, dead_letters, events, health, outboxes
from ingestlayer import config
from ingestlayer.config import PipelineSet
from ingestlayer.settings import Settings


def create_app(
    settings: Settings | None = None,
    client: Client | None = None,
    pipelines: PipelineSet | None = None,
) -> FastAPI:
    """Pipelines load (and fail on a bad file) here, at start, not on the first event."""
    settings = settings or Settings()
    app = FastAPI(
        title="ingestlayer",
        version="0.1.0",
        summary="Ingest product events; pipelines classify, filter, redact and deliver them.",
    )
    app.state.settings = settings
    app.state.pipelines = (
        pipelines if pipelines is not None else config.load(settings.pipelines_path)
    )
    app.state.temporal = TemporalConnection(settings, client)
    errors.install(app)
    app.include_router(events.router)
    app.include_router(dead_letters.router)
    app.include_router(outboxes.router)
    app.include_router(health.router)
    app.include_router(codec.router)
    app.add_middleware(codec.CodecCORS, origins=codec.ui_origins(settings))
    return app
