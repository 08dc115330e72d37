"""Outbound signatures and API-key handling."""

from __future__ import annotations

import hashlib
import hmac

from ingestlayer.settings import Settings, hash_api_key
from ingestlayer.signing import signature_header, verify


def test_signature_header_is_t_and_v1_over_timestamp_dot_body() -> None:
    header = signature_header(["s3cret"], b'{"a":1}', timestamp=1717000000)
    expected = hmac.new(b"s3cret", b'1717000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1717000000,v1={expected}"


def test_rotation_carries_one_v1_per_secret_and_each_verifies() -> None:
    header = signature_header(["old", "new"], b"body", timestamp=100)
    assert header.count("v1=") == 2
    assert verify(header, b"body", "old", now=100)
    assert verify(header, b"body", "new", now=100)
    assert not verify(header, b"body", "other", now=100)


def test_verify_rejects_stale_timestamps_and_tampered_bodies() -> None:
    header = signature_header(["k"], b"body", timestamp=1000)
    assert verify(header, b"body", "k", now=1200)
    assert not verify(header, b"body", "k", now=1000 + 301)
    assert not verify(header, b"body!", "k", now=1000)
    assert not verify("garbage", b"body", "k", now=1000)


def test_api_keys_are_kept_only_as_hashes() -> None:
    settings = Settings(api_keys="key-one, key-two")
    assert settings.api_keys == []
    assert settings.api_key_hashes == [hash_api_key("key-one"), hash_api_key("key-two")]
    assert "key-one" not in settings.model_dump_json()
    assert settings.api_key_valid("key-two")
    assert not settings.api_key_valid("key-three")
    assert not settings.api_key_valid("")


def test_api_key_hashes_can_be_configured_directly() -> None:
    settings = Settings(api_key_hashes=hash_api_key("from-a-vault"))
    assert settings.api_key_valid("from-a-vault")


def test_settings_read_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("INGESTLAYER_API_KEYS", "env-key")
    monkeypatch.setenv("INGESTLAYER_MAX_BODY_BYTES", "1024")
    settings = Settings()
    assert settings.api_key_valid("env-key")
    assert settings.max_body_bytes == 1024
