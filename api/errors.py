"""Every error answer has one shape, `{"error": {"code", "message"}}`, with a stable code."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.models import ErrorBody

log = logging.getLogger("ingestlayer.api")

_FASTAPI_422 = "#/components/schemas/HTTPValidationError"

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def temporal_unavailable(consequence: str = "") -> ApiError:
    """503 with Retry-After: Temporal is unreachable, so nothing was started or changed."""
    return ApiError(
        503,
        "temporal_unavailable",
        f"the workflow service is not reachable; {consequence}retry shortly",
        headers={"Retry-After": "1"},
    )


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _document_errors(app: FastAPI) -> None:
    """FastAPI documents its own `{"detail": [...]}` shape for 422, but every 422 this app
    sends is the error body above: the document says so, for routes added later too."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = generate()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        body_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, schema in body_schema.pop("$defs", {}).items():
            schemas.setdefault(name, schema)
        schemas.setdefault("ErrorBody", body_schema)
        error_body = {"$ref": "#/components/schemas/ErrorBody"}
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses", {})
                if _FASTAPI_422 in json.dumps(responses.get("422", {})):
                    responses["422"] = {
                        "description": "the request is not valid",
                        "content": {"application/json": {"schema": error_body}},
                    }
        if _FASTAPI_422 not in json.dumps(document.get("paths", {})):
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    _document_errors(app)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()
        ]
        return error_response(422, "invalid_request", "the request is not valid", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "an unexpected error occurred")
