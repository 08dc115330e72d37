"""Service settings, read once from the environment (prefix `INGESTLAYER_`)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ingestlayer.codec import b64decode_any

CODEC_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
CODEC_UI_TOKEN = re.compile(r"[A-Za-z0-9_-]{22,128}")


def parse_codec_key(entry: str) -> tuple[str, bytes]:
    """`keyid:base64` (standard or URL-safe alphabet) of exactly 32 bytes, an AES-256 key.
    Errors name the key id and never the key."""
    key_id, sep, encoded = entry.strip().partition(":")
    if not sep or not CODEC_KEY_ID.fullmatch(key_id):
        raise ValueError(
            "each codec key is <key id>:<base64 of 32 bytes>; key ids are 1-64 letters, "
            "digits, '.', '_' or '-'"
        )
    try:
        material = b64decode_any(encoded)
    except ValueError:
        raise ValueError(f"codec key {key_id!r} is not valid base64") from None
    if len(material) != 32:
        raise ValueError(
            f"codec key {key_id!r} decodes to {len(material)} bytes; AES-256 needs 32 "
            "(make one with: python -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())')"
        )
    return key_id, material


def hash_api_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class Settings(BaseSettings):
    # Inputs stay out of validation errors: several settings are secrets.
    model_config = SettingsConfigDict(
        env_prefix="INGESTLAYER_", extra="ignore", hide_input_in_errors=True
    )

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "ingestlayer-pipeline"
    delivery_queue_prefix: str = "ingestlayer-delivery"

    pipelines_path: str = "examples/pipelines"
    database_url: SecretStr | None = None
    public_base_url: str = "http://127.0.0.1:8000"
    temporal_ui_url: str = "http://127.0.0.1:8233"

    outbound_allow: Annotated[list[str], NoDecode] = Field(default_factory=list)
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    api_key_hashes: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Payload encryption: `keyid:base64,...`; the first key encrypts, all of them decrypt.
    codec_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # The Temporal UI cannot send an API key: it reaches /codec/ui/<token>/decode instead.
    codec_ui_token: SecretStr | None = None

    max_concurrent_workflow_tasks: int = 100
    max_concurrent_local_activities: int = 100
    default_delivery_concurrency: int = 50
    delivery_concurrency: dict[str, int] = Field(default_factory=dict)

    max_body_bytes: int = 256 * 1024
    max_batch_events: int = 500
    max_batch_bytes: int = 8 * 1024 * 1024
    max_payload_depth: int = Field(default=32, ge=1, le=512)
    max_payload_keys: int = Field(default=10_000, ge=1)
    batch_concurrency: int = 64
    dead_letter_retention_seconds: float = 14 * 24 * 3600
    outbox_sends_per_run: int = Field(default=500, ge=1, le=10_000)
    redeliver_page_size: int = Field(default=100, ge=1, le=1000)
    redeliver_signals_per_run: int = Field(default=500, ge=1, le=10_000)
    start_timeout_seconds: float = 10.0

    @field_validator("api_keys", "api_key_hashes", "outbound_allow", "codec_keys", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("outbound_allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)
        return value

    @field_validator("codec_keys")
    @classmethod
    def _check_codec_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        ids = [parse_codec_key(key.get_secret_value())[0] for key in value]
        if len(set(ids)) != len(ids):
            raise ValueError("codec key ids must be unique")
        return value

    @field_validator("codec_ui_token")
    @classmethod
    def _check_ui_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not CODEC_UI_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError("the codec UI token is 22-128 URL-safe characters (A-Z a-z 0-9 _ -)")
        return value

    @field_validator("api_key_hashes")
    @classmethod
    def _check_hashes(cls, value: list[str]) -> list[str]:
        for item in value:
            prefix, _, digest = item.partition(":")
            if prefix != "sha256" or len(digest) != 64:
                raise ValueError("API key hashes look like sha256:<64 hex digits>")
        return value

    def model_post_init(self, __context: object) -> None:
        hashes = [
            *self.api_key_hashes,
            *(hash_api_key(k.get_secret_value()) for k in self.api_keys),
        ]
        object.__setattr__(self, "api_key_hashes", hashes)
        object.__setattr__(self, "api_keys", [])

    def codec_key_material(self) -> list[tuple[str, bytes]]:
        return [parse_codec_key(key.get_secret_value()) for key in self.codec_keys]

    def codec_ui_token_valid(self, presented: str) -> bool:
        token = self.codec_ui_token
        return token is not None and hmac.compare_digest(
            presented.encode(), token.get_secret_value().encode()
        )

    def delivery_queue(self, kind: str) -> str:
        return f"{self.delivery_queue_prefix}-{kind}"

    def api_key_valid(self, presented: str) -> bool:
        """Constant-time compare of the presented key's hash against every stored hash."""
        candidate = hash_api_key(presented)
        matched = False
        for stored in self.api_key_hashes:
            matched |= hmac.compare_digest(candidate, stored)
        return matched
