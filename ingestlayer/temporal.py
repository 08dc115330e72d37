"""Connecting to Temporal and preparing a namespace (search attributes) the same way everywhere."""

from __future__ import annotations

import asyncio
import time

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from ingestlayer.codec import CodecKey, EncryptionCodec, KeyRing
from ingestlayer.search_attributes import SEARCH_ATTRIBUTES
from ingestlayer.settings import Settings

_INDEXED_TYPES = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    "Text": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}


def payload_codec(settings: Settings) -> EncryptionCodec | None:
    """None when no codec key is configured: payloads are then stored as plain JSON."""
    keys = [CodecKey(key_id, material) for key_id, material in settings.codec_key_material()]
    return EncryptionCodec(KeyRing(keys)) if keys else None


def data_converter(settings: Settings) -> DataConverter:
    """The one converter every client, worker, test and bench uses: pydantic models, and with a
    codec key AES-GCM on every payload, failure messages and stack traces included (they can
    carry ticket text; the encoded-attributes failure converter moves them into a payload)."""
    codec = payload_codec(settings)
    if codec is None:
        return DataConverter(payload_converter_class=PydanticPayloadConverter)
    return DataConverter(
        payload_converter_class=PydanticPayloadConverter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings, *, wait_seconds: float = 0.0) -> Client:
    """Connect with the project's data converter; optionally keep trying while a server starts."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return await Client.connect(
                settings.temporal_address,
                namespace=settings.temporal_namespace,
                data_converter=data_converter(settings),
            )
        except RuntimeError:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.5)


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register whichever of the project's search attributes the namespace lacks; returns those."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    known = set(existing.custom_attributes) | set(existing.system_attributes)
    missing = {name: kind for name, kind in SEARCH_ATTRIBUTES.items() if name not in known}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes={name: _INDEXED_TYPES[kind] for name, kind in missing.items()},
            )
        )
    return sorted(missing)
