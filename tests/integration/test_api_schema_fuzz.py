"""schemathesis against the API's own OpenAPI document, over real HTTP, against real Temporal.

Every operation in the document is fuzzed with valid and with invalid input, authenticated and
not: no answer is a 5xx, and every answer (status, content type, body) is one the document
declares. The examples are bounded so the file stays well under two minutes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import API_KEY, ApiFactory

pytestmark = pytest.mark.asyncio(loop_scope="session")

PIPELINES = """
pipelines:
  - name: fuzz
    on: fuzz.never.matched
    steps:
      - filter.match: "false"
"""

CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
VALID_EXAMPLES = 25
INVALID_EXAMPLES = 15
UNAUTHENTICATED_EXAMPLES = 5
OPEN_OPERATIONS = {"GET /healthz"}


@pytest.fixture(scope="module")
async def api(start_api: ApiFactory) -> httpx.AsyncClient:
    return await start_api(PIPELINES)


@pytest.fixture(scope="module")
async def schema(api: httpx.AsyncClient) -> Any:
    document = (await api.get("/openapi.json")).json()
    return schemathesis.openapi.from_dict(document)


def _operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def _declared(schema: Any, operation: Any) -> dict[str, Any]:
    declared: dict[str, Any] = schema.raw_schema["paths"][operation.path][operation.method.lower()]
    return declared


def _has_input(schema: Any, operation: Any) -> bool:
    """Only an operation with parameters or a body has input that can be made invalid."""
    declared = _declared(schema, operation)
    return bool(declared.get("parameters") or declared.get("requestBody"))


def _protected(schema: Any) -> list[Any]:
    return [op for op in _operations(schema) if _declared(schema, op).get("security")]


def _fuzz(
    operation: Any,
    mode: GenerationMode,
    examples: int,
    base_url: str,
    headers: dict[str, str],
    check: Callable[[Any, requests.Response], None],
) -> None:
    """One bounded, derandomized hypothesis run for one operation (the same examples every
    run, so the suite is stable); no example database is written."""
    session = requests.Session()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        if not headers and case.headers:
            case.headers.pop("Authorization", None)
        sent = dict(headers)
        response = case.call(base_url=base_url, session=session, headers=sent, timeout=30)
        check(case, response)

    try:
        run()
    finally:
        session.close()


def _conforms(headers: dict[str, str]) -> Callable[[Any, requests.Response], None]:
    def check(case: Any, response: requests.Response) -> None:
        case.validate_response(response, checks=CONFORMANCE, headers=headers)

    return check


def _rejects_invalid(headers: dict[str, str]) -> Callable[[Any, requests.Response], None]:
    def check(case: Any, response: requests.Response) -> None:
        case.validate_response(
            response, checks=[*CONFORMANCE, negative_data_rejection], headers=headers
        )

    return check


def _unauthorized(case: Any, response: Any) -> None:
    assert response.status_code == 401, (case.path, response.status_code, response.text)
    assert response.json()["error"]["code"] in {"missing_api_key", "invalid_api_key"}
    assert response.headers["www-authenticate"] == ['Bearer realm="ingestlayer"']
    case.validate_response(response, checks=CONFORMANCE)


async def _run(operation: Any, *args: Any) -> None:
    await asyncio.to_thread(_fuzz, operation, *args)


async def test_document_declares_every_route_and_the_bearer_scheme(schema: Any) -> None:
    labels = {f"{op.method.upper()} {op.path}" for op in _operations(schema)}
    assert {
        "POST /v1/events",
        "POST /v1/events/batch",
        "GET /v1/events/{event_id}",
        "POST /v1/events/{event_id}/redeliver",
        "GET /v1/dead-letters",
        "GET /v1/outboxes",
        "GET /healthz",
    } <= labels
    document = schema.raw_schema
    assert document["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    open_ = {f"{op.method.upper()} {op.path}" for op in _operations(schema)} - {
        f"{op.method.upper()} {op.path}" for op in _protected(schema)
    }
    assert open_ == OPEN_OPERATIONS


async def test_valid_input_is_answered_as_documented(api: httpx.AsyncClient, schema: Any) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    for operation in _operations(schema):
        await _run(
            operation,
            GenerationMode.POSITIVE,
            VALID_EXAMPLES,
            str(api.base_url),
            auth,
            _conforms(auth),
        )


async def test_invalid_input_is_a_documented_4xx(api: httpx.AsyncClient, schema: Any) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    with_input = [op for op in _operations(schema) if _has_input(schema, op)]
    assert with_input
    for operation in with_input:
        await _run(
            operation,
            GenerationMode.NEGATIVE,
            INVALID_EXAMPLES,
            str(api.base_url),
            auth,
            _rejects_invalid(auth),
        )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer il_wrong_key"}, {"Authorization": f"Basic {API_KEY}"}],
    ids=["no-key", "wrong-key", "wrong-scheme"],
)
async def test_without_a_valid_key_every_protected_operation_is_401(
    api: httpx.AsyncClient, schema: Any, headers: dict[str, str]
) -> None:
    protected = _protected(schema)
    assert len(protected) >= 6
    for operation in protected:
        await _run(
            operation,
            GenerationMode.POSITIVE,
            UNAUTHENTICATED_EXAMPLES,
            str(api.base_url),
            headers,
            _unauthorized,
        )


async def test_every_error_answer_is_documented_as_the_error_body(schema: Any) -> None:
    document = schema.raw_schema
    assert "HTTPValidationError" not in str(document)
    for operation in _operations(schema):
        for status, answer in _declared(schema, operation)["responses"].items():
            if int(status) < 400:
                continue
            content = answer["content"]["application/json"]["schema"]
            assert content == {"$ref": "#/components/schemas/ErrorBody"}, (operation.path, status)


async def test_an_undocumented_method_is_405_with_the_error_body_and_allow(
    api: httpx.AsyncClient, schema: Any
) -> None:
    documented: dict[str, set[str]] = {}
    checked = 0
    for operation in _operations(schema):
        documented.setdefault(operation.path, set()).add(operation.method.upper())
    routes = {re.compile(re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"): m for p, m in documented.items()}
    for path, methods in documented.items():
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        served = set().union(*(m for r, m in routes.items() if r.match(concrete)))
        for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - served):
            response = await api.request(method, concrete)
            assert response.status_code == 405, (method, path, response.text)
            assert response.json()["error"]["code"] == "method_not_allowed"
            assert set(response.headers["allow"].replace(" ", "").split(",")) >= methods
            checked += 1
    assert checked >= 10
