"""Outbound webhook signatures: `X-Ingestlayer-Signature: t=<unix>,v1=<hex>` over "<t>.<raw body>"."""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Ingestlayer-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def hmac_hex(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets: list[str], body: bytes, timestamp: int | None = None) -> str:
    """One `v1=` per active secret, so receivers keep verifying while a secret rotates."""
    t = int(time.time()) if timestamp is None else timestamp
    parts = [f"t={t}"] + [f"v1={hmac_hex(secret, t, body)}" for secret in secrets]
    return ",".join(parts)


def verify(
    header: str,
    body: bytes,
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: int | None = None,
) -> bool:
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = hmac_hex(secret, timestamp, body)
    return any(hmac.compare_digest(expected, c) for c in candidates)
