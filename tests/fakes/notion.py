"""A fake Notion API on 127.0.0.1, from Notion's documented behaviour (version 2025-09-03).

Routes: `GET /v1/databases/{id}` (lists `data_sources`, no `properties`), `GET
/v1/data_sources/{id}` (the schema), `POST /v1/data_sources/{id}/query`, `POST /v1/pages`
(parent `data_source_id`), `PATCH /v1/blocks/{id}/children` and `GET /v1/blocks/{id}/children`.
Errors have Notion's shape `{"object": "error", "status", "code", "message"}`: 401
`unauthorized` for an unknown or revoked token, 404 `object_not_found` for anything not shared
with the integration, 400 `validation_error` naming the property or limit, 400
`missing_version` without `Notion-Version`, 429 `rate_limited` with an integer `Retry-After`
(token bucket per token, three requests per second on average by default).
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.ratelimit import TokenBucket

READ_ONLY = {
    "formula",
    "rollup",
    "created_time",
    "created_by",
    "last_edited_time",
    "last_edited_by",
    "unique_id",
    "verification",
    "button",
}
LIMITS = {"url": 2000, "email": 200, "phone_number": 200}


class NotionFail(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


@dataclass
class Scripted:
    route: str
    status: int
    code: str
    after: bool = False
    skip: int = 0


@dataclass
class DataSource:
    id: str
    properties: dict[str, dict[str, Any]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    shared: bool = True


@dataclass
class Database:
    id: str
    data_sources: list[str]
    shared: bool = True


@dataclass
class Page:
    id: str
    children: list[dict[str, Any]] = field(default_factory=list)
    shared: bool = True


def _id() -> str:
    return str(uuid.uuid4())


def schema(**types: str | dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`schema(Name="title", Plan={"type": "select", "options": ["pro"]})`."""
    properties: dict[str, dict[str, Any]] = {}
    for n, (name, spec) in enumerate(types.items()):
        spec = {"type": spec} if isinstance(spec, str) else dict(spec)
        kind = spec.pop("type")
        options = [{"id": _id(), "name": o, "color": "default"} for o in spec.pop("options", [])]
        body: dict[str, Any] = (
            {"options": options} if kind in ("select", "multi_select", "status") else {}
        )
        properties[name.replace("_", " ")] = {
            "id": "title" if kind == "title" else f"p{n}",
            "name": name.replace("_", " "),
            "type": kind,
            kind: body,
        }
    return properties


@dataclass
class FakeNotion:
    rate: float = 3.0
    burst: float = 3.0
    tokens: dict[str, str] = field(default_factory=dict)
    databases: dict[str, Database] = field(default_factory=dict)
    data_sources: dict[str, DataSource] = field(default_factory=dict)
    pages: dict[str, Page] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    fail_plan: list[Scripted] = field(default_factory=list)
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def add_token(self, token: str, state: str = "ok") -> str:
        self.tokens[token] = state
        return token

    def add_database(self, properties: dict[str, dict[str, Any]], shared: bool = True) -> Database:
        source = DataSource(id=_id(), properties=properties, shared=shared)
        self.data_sources[source.id] = source
        database = Database(id=_id(), data_sources=[source.id], shared=shared)
        self.databases[database.id] = database
        return database

    def rows(self, database: Database) -> list[dict[str, Any]]:
        return self.data_sources[database.data_sources[0]].rows

    def add_page(self, shared: bool = True) -> Page:
        page = Page(id=_id(), shared=shared)
        self.pages[page.id] = page
        return page

    def fail_next(
        self, route: str, status: int, code: str, *, after: bool = False, skip: int = 0
    ) -> None:
        """A later request to `route` ("pages", "append", "schema", ...) fails: the next one, or
        the one after `skip` more; with `after`, its effect is applied and the answer is lost."""
        self.fail_plan.append(Scripted(route, status, code, after, skip))

    def _scripted(self, route: str, after: bool) -> NotionFail | None:
        for i, plan in enumerate(self.fail_plan):
            if plan.route != route or plan.after != after:
                continue
            if plan.skip:
                plan.skip -= 1
                return None
            del self.fail_plan[i]
            headers = {"Retry-After": "1"} if plan.status == 429 else None
            return NotionFail(plan.status, plan.code, f"scripted {plan.code}", headers)
        return None

    def app(self) -> Starlette:
        routes = [
            Route("/v1/databases/{id}", self._database, methods=["GET"]),
            Route("/v1/data_sources/{id}", self._data_source, methods=["GET"]),
            Route("/v1/data_sources/{id}/query", self._query, methods=["POST"]),
            Route("/v1/pages", self._create_page, methods=["POST"]),
            Route("/v1/blocks/{id}/children", self._children, methods=["GET", "PATCH"]),
        ]
        return Starlette(routes=routes)

    async def _guard(self, request: Request, route: str) -> None:
        self.requests[route] += 1
        if not request.headers.get("notion-version"):
            raise NotionFail(400, "missing_version", "Notion-Version header failed validation")
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if self.tokens.get(token) != "ok":
            raise NotionFail(401, "unauthorized", "API token is invalid.")
        now = time.time()
        bucket = self._buckets.setdefault(token, TokenBucket.full(self.rate, self.burst, now))
        wait = bucket.take(now)
        if wait > 0:
            self.rate_limited += 1
            raise NotionFail(
                429,
                "rate_limited",
                "You have been rate limited. Please try again in a few minutes.",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        scripted = self._scripted(route, after=False)
        if scripted is not None:
            raise scripted

    async def _handle(self, request: Request, route: str, fn: Any) -> JSONResponse:
        try:
            await self._guard(request, route)
            body = await fn(request)
            lost = self._scripted(route, after=True)
            if lost is not None:
                raise lost
            return JSONResponse(body)
        except NotionFail as fail:
            return JSONResponse(
                {
                    "object": "error",
                    "status": fail.status,
                    "code": fail.code,
                    "message": fail.message,
                    "request_id": _id(),
                },
                status_code=fail.status,
                headers=fail.headers,
            )

    async def _database(self, request: Request) -> JSONResponse:
        async def run(request: Request) -> dict[str, Any]:
            db = self.databases.get(request.path_params["id"])
            if db is None or not db.shared:
                raise _not_found("database", request.path_params["id"])
            return {
                "object": "database",
                "id": db.id,
                "title": [{"type": "text", "text": {"content": "Signups"}}],
                "data_sources": [{"id": ds, "name": "Signups"} for ds in db.data_sources],
            }

        return await self._handle(request, "database", run)

    def _source(self, source_id: str) -> DataSource:
        source = self.data_sources.get(source_id)
        if source is None or not source.shared:
            raise _not_found("data source", source_id)
        return source

    async def _data_source(self, request: Request) -> JSONResponse:
        async def run(request: Request) -> dict[str, Any]:
            source = self._source(request.path_params["id"])
            return {"object": "data_source", "id": source.id, "properties": source.properties}

        return await self._handle(request, "schema", run)

    async def _query(self, request: Request) -> JSONResponse:
        async def run(request: Request) -> dict[str, Any]:
            source = self._source(request.path_params["id"])
            body = await request.json()
            wanted = body.get("filter") or {}
            name = wanted.get("property")
            results = []
            for row in source.rows:
                value = row["properties"].get(name)
                for kind in ("rich_text", "title"):
                    if kind in wanted and value and kind in value:
                        text = "".join(o["text"]["content"] for o in value[kind])
                        if text == wanted[kind].get("equals"):
                            results.append(row)
            size = int(body.get("page_size") or 100)
            return {
                "object": "list",
                "results": results[:size],
                "has_more": False,
                "next_cursor": None,
            }

        return await self._handle(request, "query", run)

    async def _create_page(self, request: Request) -> JSONResponse:
        async def run(request: Request) -> dict[str, Any]:
            body = await request.json()
            parent = body.get("parent") or {}
            source_id = parent.get("data_source_id")
            if not source_id:
                raise NotionFail(
                    400, "validation_error", "body.parent.data_source_id should be defined"
                )
            source = self._source(source_id)
            properties = body.get("properties") or {}
            for name, value in properties.items():
                _check_property(source, name, value)
            row = {
                "object": "page",
                "id": _id(),
                "url": f"https://www.notion.so/{uuid.uuid4().hex}",
                "parent": {"type": "data_source_id", "data_source_id": source.id},
                "properties": properties,
            }
            source.rows.append(row)
            return row

        return await self._handle(request, "pages", run)

    async def _children(self, request: Request) -> JSONResponse:
        if request.method == "GET":
            return await self._handle(request, "list", self._list_children)
        return await self._handle(request, "append", self._append_children)

    def _page(self, page_id: str) -> Page:
        page = self.pages.get(page_id)
        if page is None or not page.shared:
            raise _not_found("block", page_id)
        return page

    async def _list_children(self, request: Request) -> dict[str, Any]:
        page = self._page(request.path_params["id"])
        size = min(100, int(request.query_params.get("page_size", "100")))
        cursor = request.query_params.get("start_cursor")
        start = 0
        if cursor:
            start = next(
                (i for i, b in enumerate(page.children) if b["id"] == cursor), len(page.children)
            )
        chunk = page.children[start : start + size]
        more = start + size < len(page.children)
        return {
            "object": "list",
            "results": chunk,
            "has_more": more,
            "next_cursor": page.children[start + size]["id"] if more else None,
        }

    async def _append_children(self, request: Request) -> dict[str, Any]:
        page = self._page(request.path_params["id"])
        raw = await request.body()
        if len(raw) > 500_000:
            raise NotionFail(400, "validation_error", "Request body is larger than 500 KB.")
        body = json.loads(raw)
        children = body.get("children") or []
        if len(children) > 100:
            raise NotionFail(
                400,
                "validation_error",
                f"body.children.length should be ≤ `100`, instead was `{len(children)}`.",
            )
        for i, child in enumerate(children):
            kind = child.get("type")
            content = child.get(kind, {}) if isinstance(kind, str) else {}
            _check_rich_text(f"body.children[{i}].{kind}.rich_text", content.get("rich_text", []))
            if content.get("children"):
                for grandchild in content["children"]:
                    if (grandchild.get(grandchild.get("type"), {}) or {}).get("children"):
                        raise NotionFail(400, "validation_error", "too many levels of nesting")
        created = [{**child, "object": "block", "id": _id()} for child in children]
        after = body.get("after")
        if after:
            at = next((i for i, b in enumerate(page.children) if b["id"] == after), None)
            if at is None:
                raise NotionFail(400, "validation_error", "body.after is not a child of the block")
            page.children[at + 1 : at + 1] = created
        else:
            page.children.extend(created)
        return {"object": "list", "results": created, "has_more": False, "next_cursor": None}


def _not_found(what: str, object_id: str) -> NotionFail:
    return NotionFail(
        404,
        "object_not_found",
        f"Could not find {what} with ID: {object_id}. Make sure the relevant pages and "
        "databases are shared with your integration.",
    )


def _js_length(text: str) -> int:
    """Notion validates lengths as JavaScript counts them: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _check_rich_text(where: str, objects: list[dict[str, Any]]) -> None:
    if len(objects) > 100:
        raise NotionFail(400, "validation_error", f"{where}.length should be ≤ `100`")
    for i, obj in enumerate(objects):
        content = (obj.get("text") or {}).get("content", "")
        length = _js_length(content)
        if length > 2000:
            raise NotionFail(
                400,
                "validation_error",
                f"{where}[{i}].text.content.length should be ≤ `2000`, instead was `{length}`.",
            )


def _check_property(source: DataSource, name: str, value: dict[str, Any]) -> None:
    prop = source.properties.get(name)
    if prop is None:
        raise NotionFail(400, "validation_error", f"{name} is not a property that exists.")
    kind = prop["type"]
    if kind in READ_ONLY:
        raise NotionFail(400, "validation_error", f"{name} is a {kind} property and cannot be set")
    if kind not in value:
        raise NotionFail(400, "validation_error", f"{name} is expected to be {kind}.")
    given = value[kind]
    if kind in ("title", "rich_text"):
        _check_rich_text(f"body.properties.{name}.{kind}", given)
    elif kind in LIMITS and given is not None and _js_length(given) > LIMITS[kind]:
        raise NotionFail(
            400,
            "validation_error",
            f"body.properties.{name}.{kind}.length should be ≤ `{LIMITS[kind]}`",
        )
    elif kind == "number" and not isinstance(given, int | float):
        raise NotionFail(
            400, "validation_error", f"body.properties.{name}.number should be a number"
        )
    elif kind == "checkbox" and not isinstance(given, bool):
        raise NotionFail(
            400, "validation_error", f"body.properties.{name}.checkbox should be a boolean"
        )
    elif kind in ("select", "status"):
        options = prop[kind]["options"]
        option = given.get("name", "")
        if "," in option:
            raise NotionFail(
                400, "validation_error", f"Invalid select option, commas not allowed: {option}"
            )
        if not any(o["name"] == option for o in options):
            if kind == "status":
                raise NotionFail(
                    400,
                    "validation_error",
                    f'Invalid status option. Status option "{option}" does not exist".',
                )
            options.append({"id": _id(), "name": option, "color": "default"})
    elif kind == "multi_select":
        if len(given) > 100:
            raise NotionFail(
                400,
                "validation_error",
                f"body.properties.{name}.multi_select.length should be ≤ `100`",
            )
        for item in given:
            if not any(o["name"] == item["name"] for o in prop[kind]["options"]):
                prop[kind]["options"].append(
                    {"id": _id(), "name": item["name"], "color": "default"}
                )
    elif kind == "date" and not (isinstance(given, dict) and given.get("start")):
        raise NotionFail(
            400, "validation_error", f"body.properties.{name}.date.start should be defined"
        )
