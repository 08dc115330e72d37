"""Liveness for load balancers and the compose healthcheck."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    pipelines: int


@router.get("/healthz", response_model=Health, summary="The API process is up")
async def healthz(request: Request) -> Health:
    return Health(status="ok", pipelines=len(request.app.state.pipelines.pipelines))
