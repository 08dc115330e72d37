"""Dependencies shared by the routes, declared once."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from api.errors import ApiError, temporal_unavailable
from ingestlayer.config import PipelineSet
from ingestlayer.settings import Settings
from ingestlayer.temporal import connect


class TemporalConnection:
    """Connects on first use and again after a failure, so the API starts before Temporal does."""

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    async def get(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await connect(self._settings)
                except RuntimeError as exc:
                    raise temporal_unavailable() from exc
        return self._client


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_pipelines(request: Request) -> PipelineSet:
    pipelines: PipelineSet = request.app.state.pipelines
    return pipelines


async def get_client(request: Request) -> Client:
    connection: TemporalConnection = request.app.state.temporal
    return await connection.get()


SettingsDep = Annotated[Settings, Depends(get_settings)]
PipelinesDep = Annotated[PipelineSet, Depends(get_pipelines)]
TemporalClientDep = Annotated[Client, Depends(get_client)]


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from INGESTLAYER_API_KEYS, as `Authorization: Bearer <api key>`",
)


def require_api_key(
    request: Request,
    settings: SettingsDep,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> None:
    """The header is read here rather than from `_declared` so a wrong scheme gets its own
    message; `_declared` puts the bearer scheme in the OpenAPI document."""
    header = request.headers.get("authorization")
    challenge = {"WWW-Authenticate": 'Bearer realm="ingestlayer"'}
    if not header:
        raise ApiError(
            401, "missing_api_key", "send Authorization: Bearer <api key>", headers=challenge
        )
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            401,
            "invalid_api_key",
            "the Authorization header must be Bearer <api key>",
            headers=challenge,
        )
    if not settings.api_key_valid(key.strip()):
        raise ApiError(401, "invalid_api_key", "the API key is not valid", headers=challenge)
    reject_unknown_query(request)


def _query_names(root: Dependant) -> set[str]:
    names: set[str] = set()
    pending = [root]
    while pending:
        dependant = pending.pop()
        names.update(param.alias for param in dependant.query_params)
        pending.extend(dependant.dependencies)
    return names


def reject_unknown_query(request: Request) -> None:
    """A misspelt filter (`?destnation=`) would otherwise silently match everything. Runs
    after the key check so an unauthenticated caller learns nothing about the route."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise ApiError(
            422,
            "unknown_parameter",
            f"unknown query parameter(s): {', '.join(unknown)[:200]}",
        )


ApiKeyDep = Annotated[None, Depends(require_api_key)]
