"""Notion: a typed row in a database (a page whose parent is the database's data source), or
content appended to a page as blocks.

notion-client's own retries are off (Temporal owns retries). Every request awaits the outbox's
pacer: Notion allows about three requests per second per integration.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, ClassVar

import httpx
from notion_client import AsyncClient
from notion_client.errors import APIResponseError, HTTPResponseError, RequestTimeoutError
from pydantic import Field, field_validator, model_validator

from ingestlayer import secrets, templates
from ingestlayer.destinations import notion_values as nv
from ingestlayer.destinations.base import DeliveryContext, Destination, digest
from ingestlayer.destinations.errors import (
    DeliveryError,
    PermanentError,
    RateLimitedError,
    RetryableError,
)
from ingestlayer.destinations.http import parse_retry_after
from ingestlayer.events import Event

NOTION_API = "https://api.notion.com"
API_URL_ENV = "INGESTLAYER_NOTION_API_URL"
SCHEMA_TTL_SECONDS = 60.0
HINTS = {
    "object_not_found": (
        "share the {target} with the integration in Notion (••• → Connections → add it), "
        "then redeliver"
    ),
    "unauthorized": "the integration's token was revoked or is invalid: reconnect Notion",
    "restricted_resource": "the integration lacks the capability for this: check its settings",
    "validation_error": "check the column mapping against the database's properties",
}

# notion-client would add its own stderr handler and pin the level at WARNING for every client;
# through the standard hierarchy its records follow the service's logging setup instead.
_LOGGER = logging.getLogger("notion_client")
_clients: dict[tuple[int, str, float], AsyncClient] = {}
_schemas: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
_data_sources: dict[tuple[str, str], str] = {}


def _client(base_url: str, timeout: float) -> AsyncClient:
    """One client per loop and endpoint; the token goes with each request, never in it."""
    key = (id(asyncio.get_running_loop()), base_url, timeout)
    client = _clients.get(key)
    if client is None or client.client.is_closed:
        client = AsyncClient(
            client=httpx.AsyncClient(follow_redirects=False),
            base_url=base_url.rstrip("/"),
            timeout_ms=int(timeout * 1000),
            retry=False,
            logger=_LOGGER,
            log_level=logging.NOTSET,
        )
        _clients[key] = client
    return client


async def close_clients() -> None:
    clients = list(_clients.values())
    _clients.clear()
    for client in clients:
        await client.aclose()


def forget_schemas() -> None:
    _schemas.clear()
    _data_sources.clear()


class NotionDestination(Destination):
    kind: ClassVar[str] = "notion"
    paced: ClassVar[bool] = True
    disconnect_codes: ClassVar[frozenset[str]] = frozenset({"unauthorized"})

    token: str = Field(min_length=1)
    database: str | None = None
    data_source: str | None = None
    page: str | None = None
    columns: dict[str, Any] = Field(default_factory=dict)
    title: str | None = None
    template: str | None = None
    base_url: str = Field(default_factory=lambda: os.environ.get(API_URL_ENV, NOTION_API))
    timeout: float = Field(default=15.0, gt=0, le=60)
    requests_per_second: float = Field(default=3.0, gt=0, le=50)

    @model_validator(mode="after")
    def _one_target(self) -> NotionDestination:
        if (self.database or self.data_source) and self.page:
            raise ValueError("give `database` (rows) or `page` (content), not both")
        if not (self.database or self.data_source or self.page):
            raise ValueError("give `database` to append rows or `page` to append content")
        if self.page and self.columns:
            raise ValueError("`columns` maps database properties; a page takes `template`")
        return self

    @field_validator("template", "title")
    @classmethod
    def _templates_parse(cls, value: str | None) -> str | None:
        return templates.validated(value)

    def pace_interval(self) -> float:
        return 1.0 / self.requests_per_second

    def pace_key(self) -> str:
        return digest(self.kind, self.token, self.base_url)

    def pace_label(self) -> str:
        return f"notion:{self.pace_key()[:8]}"

    async def deliver(self, event: Event, ctx: DeliveryContext) -> dict[str, Any]:
        token = secrets.resolve(self.token)
        target = self.model_copy(
            update={
                name: secrets.resolve(value)
                for name in ("database", "data_source", "page")
                if isinstance(value := getattr(self, name), str)
            }
        )
        session = _Session(target, token, ctx)
        if target.page:
            return await session.append_to_page(target.page, event)
        return await session.add_row(event)


class _Session:
    """One delivery's requests: paced, typed errors, the token only in the header."""

    def __init__(self, dest: NotionDestination, token: str, ctx: DeliveryContext) -> None:
        self.dest = dest
        self.token = token
        self.token_key = digest(token, dest.base_url)
        self.ctx = ctx
        self.client = _client(dest.base_url, dest.timeout)
        self.requests = 0

    async def call(self, target: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        await self.ctx.pace()
        self.requests += 1
        try:
            return await fn(*args, auth=self.token, **kwargs)
        except APIResponseError as exc:
            raise self._error(exc, target) from None
        except HTTPResponseError as exc:
            raise RetryableError(
                f"Notion answered {exc.status}", code=f"http_{exc.status}"
            ) from None
        except RequestTimeoutError:
            raise RetryableError(
                f"Notion did not answer within {self.dest.timeout:g} s", code="timeout"
            ) from None
        except httpx.TransportError as exc:
            raise RetryableError(
                f"could not reach Notion: {type(exc).__name__}", code="connection_error"
            ) from None

    def _error(self, exc: APIResponseError, target: str) -> DeliveryError:
        code = str(getattr(exc.code, "value", exc.code))
        message = _message(exc)
        if code == "rate_limited" or exc.status == 429:
            retry_after = parse_retry_after(exc.headers.get("retry-after"))
            return RateLimitedError(
                "Notion rate-limited the integration", code="rate_limited", retry_after=retry_after
            )
        if code in HINTS or exc.status in (400, 401, 403, 404):
            hint = HINTS.get(code, "see Notion's error reference").format(target=target)
            return PermanentError(f"Notion {code}: {message}", code=code, hint=hint)
        return RetryableError(f"Notion {code}: {message}", code=code)

    async def data_source_id(self) -> str:
        if self.dest.data_source:
            return self.dest.data_source
        database = self.dest.database or ""
        key = (self.token_key, database)
        cached = _data_sources.get(key)
        if cached:
            return cached
        found = await self.call("database", self.client.databases.retrieve, database_id=database)
        sources = found.get("data_sources") or []
        if not sources:
            raise PermanentError(
                f"Notion database {database} has no data source", code="no_data_source"
            )
        _data_sources[key] = str(sources[0]["id"])
        return _data_sources[key]

    async def schema(self, data_source: str) -> dict[str, Any]:
        key = (self.token_key, data_source)
        cached = _schemas.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        found = await self.call(
            "database", self.client.data_sources.retrieve, data_source_id=data_source
        )
        properties: dict[str, Any] = found.get("properties") or {}
        _schemas[key] = (time.monotonic() + SCHEMA_TTL_SECONDS, properties)
        return properties

    async def add_row(self, event: Event) -> dict[str, Any]:
        data_source = await self.data_source_id()
        schema = await self.schema(data_source)
        properties, written, skipped, marker = self._row(event, schema)
        if marker and not self.ctx.first_try:
            existing = await self._find_row(data_source, marker, schema[marker]["type"], event.id)
            if existing is not None:
                return self._row_result(existing, written, skipped, reused=True)
        try:
            page = await self.call(
                "database",
                self.client.pages.create,
                parent={"type": "data_source_id", "data_source_id": data_source},
                properties=properties,
            )
        except PermanentError as err:
            if err.code == "validation_error":
                _schemas.pop((self.token_key, data_source), None)
            raise
        return self._row_result(page, written, skipped, reused=False)

    def _row_result(
        self, page: dict[str, Any], written: list[str], skipped: list[dict[str, str]], reused: bool
    ) -> dict[str, Any]:
        return {
            "page_id": page.get("id"),
            "url": page.get("url"),
            "written": written,
            "skipped": skipped,
            "already_created": reused,
            "requests": self.requests,
        }

    def _row(
        self, event: Event, schema: dict[str, Any]
    ) -> tuple[dict[str, Any], list[str], list[dict[str, str]], str | None]:
        fields = event.fields()
        by_norm = {nv.normalise(name): value for name, value in fields.items()}
        explicit = {nv.normalise(name): tpl for name, tpl in self.dest.columns.items()}
        properties: dict[str, Any] = {}
        written: list[str] = []
        skipped: list[dict[str, str]] = []
        marker: str | None = None
        title_name: str | None = None
        for name, prop in schema.items():
            norm = nv.normalise(name)
            kind = prop.get("type")
            if kind == "title":
                title_name = name
            if norm in explicit:
                value = (
                    templates.render(explicit[norm], fields, field=f"columns.{name}")
                    if isinstance(explicit[norm], str)
                    else explicit[norm]
                )
            elif kind == "title" and self.dest.title is not None:
                value = templates.render(self.dest.title, fields, field="title")
            elif norm in nv.MARKER_NAMES and kind in ("rich_text", "title"):
                value, marker = event.id, name
            elif norm in by_norm:
                value = by_norm[norm]
            else:
                continue
            coerced = nv.coerce(prop, value)
            if coerced.value is None:
                if kind != "title":
                    skipped.append({"property": name, "reason": coerced.skipped or "not written"})
                continue
            properties[name] = coerced.value
            written.append(name)
            if coerced.truncated:
                skipped.append({"property": name, "reason": "cut to Notion's length limit (…)"})
        if title_name is not None and title_name not in properties:
            properties[title_name] = {"title": nv.rich_text(event.type)[0]}
            written.append(title_name)
        for name in nv.fit_row(properties, keep=frozenset({marker} if marker else ())):
            skipped.append({"property": name, "reason": "cut to fit Notion's 500 KB request (…)"})
        unknown = set(explicit) - {nv.normalise(name) for name in schema}
        for name, _ in sorted(self.dest.columns.items()):
            if nv.normalise(name) in unknown:
                skipped.append({"property": name, "reason": "no such property in the database"})
        return properties, written, skipped, marker

    async def _find_row(
        self, data_source: str, prop: str, kind: str, event_id: str
    ) -> dict[str, Any] | None:
        found = await self.call(
            "database",
            self.client.data_sources.query,
            data_source_id=data_source,
            filter={"property": prop, kind: {"equals": event_id}},
            page_size=1,
        )
        results = found.get("results") or []
        return results[0] if results else None

    async def append_to_page(self, page_id: str, event: Event) -> dict[str, Any]:
        template_text = None
        if self.dest.template is not None:
            template_text = templates.as_text(
                templates.render(self.dest.template, event.fields(), field="template")
            )
        fields = list(event.payload.items()) + [
            (n, v) for n, v in event.labels.items() if n not in event.payload
        ]
        blocks = nv.page_blocks(event.type, event.id, fields, template_text)
        done, after = 0, None
        if not self.ctx.first_try:
            done, after = await self._already_appended(page_id, event, blocks)
        resumed_from = done
        requests = 0
        for batch in nv.append_batches(blocks[done:]):
            kwargs: dict[str, Any] = {"block_id": page_id, "children": batch}
            if after:
                kwargs["after"] = after
            answer = await self.call("page", self.client.blocks.children.append, **kwargs)
            requests += 1
            results = answer.get("results") or []
            if after and results:
                after = str(results[-1].get("id") or after)
        return {
            "page_id": page_id,
            "blocks": len(blocks),
            "append_requests": requests,
            "already_appended": resumed_from,
            "requests": self.requests,
        }

    async def _already_appended(
        self, page_id: str, event: Event, blocks: list[dict[str, Any]]
    ) -> tuple[int, str | None]:
        """How many of this event's blocks an earlier attempt appended, and the id of the last
        one: the marker block names the event id, ours follow it in order."""
        marker = nv.marker_text(event.type, event.id)
        children: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            kwargs: dict[str, Any] = {"block_id": page_id, "page_size": 100}
            if cursor:
                kwargs["start_cursor"] = cursor
            answer = await self.call("page", self.client.blocks.children.list, **kwargs)
            children.extend(answer.get("results") or [])
            cursor = answer.get("next_cursor")
            if not answer.get("has_more") or not cursor:
                break
        start = next(
            (i for i, child in enumerate(children) if nv.block_text(child) == marker), None
        )
        if start is None:
            return 0, None
        matched = 0
        for ours, theirs in zip(blocks, children[start:], strict=False):
            if ours["type"] != theirs.get("type") or nv.block_text(ours) != nv.block_text(theirs):
                break
            matched += 1
        last = children[start + matched - 1].get("id") if matched else None
        return matched, str(last) if last else None


def _message(exc: APIResponseError) -> str:
    text = str(exc).strip() or exc.code
    return text[:300]
