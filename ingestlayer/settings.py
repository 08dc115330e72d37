"""Service settings, read once from the environment (prefix `INGESTLAYER_`)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def hash_api_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INGESTLAYER_", extra="ignore")

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

    max_concurrent_workflow_tasks: int = 100
    max_concurrent_local_activities: int = 100
    default_delivery_concurrency: int = 50
    delivery_concurrency: dict[str, int] = Field(default_factory=dict)

    max_body_bytes: int = 256 * 1024
    max_batch_events: int = 500
    max_batch_bytes: int = 8 * 1024 * 1024
    batch_concurrency: int = 64
    dead_letter_retention_seconds: float = 14 * 24 * 3600
    outbox_sends_per_run: int = Field(default=500, ge=1, le=10_000)
    start_timeout_seconds: float = 10.0

    @field_validator("api_keys", "api_key_hashes", "outbound_allow", mode="before")
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

    def delivery_queue(self, kind: str) -> str:
        return f"{self.delivery_queue_prefix}-{kind}"

    def api_key_valid(self, presented: str) -> bool:
        """Constant-time compare of the presented key's hash against every stored hash."""
        candidate = hash_api_key(presented)
        matched = False
        for stored in self.api_key_hashes:
            matched |= hmac.compare_digest(candidate, stored)
        return matched
