"""`/codec/encode` and `/codec/decode`: the Temporal codec-server protocol over our payload codec,
so the Temporal UI and `temporal` CLI show decrypted events while Temporal stores ciphertext.

The Temporal UI calls `<codec endpoint>/decode` from the browser with only `Content-Type` and
`X-Namespace`; it sends `Authorization` only when its own login passes an access token (never our
API key, and never with `temporal server start-dev`). So besides the API-key routes there is a
capability URL, `/codec/ui/<INGESTLAYER_CODEC_UI_TOKEN>/…`, given to the UI as its codec
endpoint. The token grants what the UI shows anyway: decrypting history payloads. Those two
routes stay out of the OpenAPI document, which lists only what an API key opens."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payload

from api.deps import ApiKeyDep, SettingsDep
from api.errors import ApiError
from api.models import ErrorBody
from api.parsing import json_body, load_json, read_body
from ingestlayer.codec import CodecError, EncryptionCodec, b64decode_any, is_encrypted
from ingestlayer.settings import Settings
from ingestlayer.temporal import payload_codec

PREFIX = "/codec"
UI_TOKEN_PATH = re.compile(r"^/codec/ui/[^/?#]*")
# A history event's payloads; Temporal itself refuses payloads over 2 MB.
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_PAYLOADS = 1000

router = APIRouter(prefix=PREFIX, tags=["codec"])


class HideUiTokenFilter(logging.Filter):
    """uvicorn's access line quotes the request path, and the UI's codec path holds the UI
    token: the line shows `/codec/ui/***/…` instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = UI_TOKEN_PATH.sub("/codec/ui/***", args[2])
            if path != args[2]:
                record.args = (*args[:2], path, *args[3:])
        return True


logging.getLogger("uvicorn.access").addFilter(HideUiTokenFilter())


class CodecPayload(BaseModel):
    """A Temporal `Payload` in protobuf JSON: bytes are base64 (standard or URL-safe)."""

    model_config = ConfigDict(extra="ignore")

    metadata: dict[str, str] = Field(
        default_factory=dict,
        description="metadata values, base64",
        examples=[{"encoding": "anNvbi9wbGFpbg=="}],
    )
    data: str = Field(
        default="", description="the payload bytes, base64", examples=["eyJhIjoxfQ=="]
    )


class CodecPayloads(BaseModel):
    model_config = ConfigDict(extra="ignore")

    payloads: list[CodecPayload] = Field(default_factory=list, max_length=MAX_PAYLOADS)


def _b64(text: str, where: str) -> bytes:
    try:
        return b64decode_any(text)
    except ValueError:
        raise ApiError(400, "invalid_base64", f"{where} is not base64") from None


def _to_protos(body: CodecPayloads) -> list[Payload]:
    return [
        Payload(
            metadata={
                key: _b64(value, f"payloads[{i}].metadata[{key!r}]")
                for key, value in item.metadata.items()
            },
            data=_b64(item.data, f"payloads[{i}].data"),
        )
        for i, item in enumerate(body.payloads)
    ]


def _from_protos(payloads: Sequence[Payload]) -> CodecPayloads:
    return CodecPayloads(
        payloads=[
            CodecPayload(
                metadata={k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                data=base64.b64encode(p.data).decode(),
            )
            for p in payloads
        ]
    )


async def _read(request: Request) -> list[Payload]:
    data = load_json(await read_body(request, MAX_BODY_BYTES))
    try:
        body = CodecPayloads.model_validate(data)
    except ValidationError as exc:
        details = [{"loc": list(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        raise ApiError(
            422,
            "invalid_payloads",
            'the body is {"payloads": [{"metadata", "data"}]}',
            details=details,
        ) from None
    return _to_protos(body)


def _codec(request: Request, settings: Settings) -> EncryptionCodec | None:
    """Built once per app from its settings: the same key ring as the workers."""
    state = request.app.state
    if not hasattr(state, "codec"):
        state.codec = payload_codec(settings)
    codec: EncryptionCodec | None = state.codec
    return codec


async def _encode(request: Request, settings: Settings) -> CodecPayloads:
    payloads = await _read(request)
    codec = _codec(request, settings)
    return _from_protos(payloads if codec is None else [codec.encrypt(p) for p in payloads])


async def _decode(request: Request, settings: Settings) -> CodecPayloads:
    payloads = await _read(request)
    codec = _codec(request, settings)
    decoded = []
    for i, payload in enumerate(payloads):
        if codec is None:
            if is_encrypted(payload):
                raise ApiError(
                    400,
                    "unknown_codec_key",
                    f"payloads[{i}] is encrypted, but no codec keys are configured "
                    "(INGESTLAYER_CODEC_KEYS)",
                )
            decoded.append(payload)
            continue
        try:
            decoded.append(codec.decrypt(payload))
        except CodecError as exc:
            raise ApiError(400, exc.code, f"payloads[{i}]: {exc}") from None
    return _from_protos(decoded)


def _ui_token(settings: Settings, token: str) -> None:
    if not settings.codec_ui_token_valid(token):
        raise ApiError(404, "not_found", "Not Found")


_common: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": "body over the size limit"},
    422: {"model": ErrorBody, "description": "not JSON, or not a list of payloads"},
}
_decode_errors: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorBody,
        "description": "malformed base64, an unknown key id (`unknown_codec_key`), or a payload "
        "that fails authentication (`payload_decryption_failed`)",
    },
}
_api_key: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or invalid API key"}
}
_ui: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no such UI codec token"}
}
NamespaceHeader = Annotated[
    str | None, Header(alias="X-Namespace", description="sent by the Temporal UI; not used")
]


@router.post(
    "/encode",
    response_model=CodecPayloads,
    summary="Encrypt payloads with the current codec key",
    responses={**_common, **_decode_errors, **_api_key},
    openapi_extra=json_body(CodecPayloads),
)
async def encode(
    request: Request, _auth: ApiKeyDep, settings: SettingsDep, _ns: NamespaceHeader = None
) -> CodecPayloads:
    return await _encode(request, settings)


@router.post(
    "/decode",
    response_model=CodecPayloads,
    summary="Decrypt payloads (unencrypted payloads pass through)",
    responses={**_common, **_decode_errors, **_api_key},
    openapi_extra=json_body(CodecPayloads),
)
async def decode(
    request: Request, _auth: ApiKeyDep, settings: SettingsDep, _ns: NamespaceHeader = None
) -> CodecPayloads:
    return await _decode(request, settings)


@router.post(
    "/ui/{token}/encode",
    response_model=CodecPayloads,
    include_in_schema=False,
    summary="`/codec/encode` for the Temporal UI, authorized by the UI codec token in the path",
    responses={**_common, **_decode_errors, **_ui},
    openapi_extra=json_body(CodecPayloads),
)
async def ui_encode(
    request: Request, token: str, settings: SettingsDep, _ns: NamespaceHeader = None
) -> CodecPayloads:
    _ui_token(settings, token)
    return await _encode(request, settings)


@router.post(
    "/ui/{token}/decode",
    response_model=CodecPayloads,
    include_in_schema=False,
    summary="`/codec/decode` for the Temporal UI, authorized by the UI codec token in the path",
    responses={**_common, **_decode_errors, **_ui},
    openapi_extra=json_body(CodecPayloads),
)
async def ui_decode(
    request: Request, token: str, settings: SettingsDep, _ns: NamespaceHeader = None
) -> CodecPayloads:
    _ui_token(settings, token)
    return await _decode(request, settings)


def ui_origins(settings: Settings) -> list[str]:
    """The Temporal UI's origin; on loopback both spellings, since either may be typed."""
    parts = urlsplit(settings.temporal_ui_url)
    if not parts.scheme or not parts.netloc:
        return []
    origins = [f"{parts.scheme}://{parts.netloc}"]
    twins = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}
    if parts.hostname in twins:
        port = f":{parts.port}" if parts.port else ""
        origins.append(f"{parts.scheme}://{twins[parts.hostname]}{port}")
    return origins


class CodecCORS:
    """CORS for the codec routes only: the rest of the API is not for browsers."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["POST"],
            allow_headers=["Content-Type", "X-Namespace", "Authorization"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX + "/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
