"""Outbound webhook signatures.

Ours: `X-Ingestlayer-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` (the shape
of Stripe's). Standard Webhooks: `webhook-id`, `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">` with a
`whsec_<base64>` secret. Both carry one signature per active secret while a secret rotates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Ingestlayer-Signature"
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
STANDARD_SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 300
MAX_STAMP_DIGITS = 20


def hmac_hex(secret: str, timestamp: int | str, body: bytes) -> str:
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
    """False, never an exception, for any header: the MAC covers the timestamp exactly as
    received (only ASCII digits count), and candidates compare as bytes."""
    stamp: str | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit() and len(value) <= MAX_STAMP_DIGITS:
            stamp = value
        elif key == "v1":
            candidates.append(value)
    if stamp is None or not candidates:
        return False
    current = int(time.time()) if now is None else now
    if abs(current - int(stamp)) > tolerance:
        return False
    expected = hmac_hex(secret, stamp, body).encode()
    return any(hmac.compare_digest(expected, c.encode("utf-8", "replace")) for c in candidates)


def standard_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret; ValueError when it is not one."""
    encoded = secret.removeprefix(STANDARD_SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a Standard Webhooks secret is whsec_ followed by base64") from None
    if len(key) < 16:
        raise ValueError("a Standard Webhooks secret holds at least 16 bytes")
    return key


def standard_headers(
    secrets: list[str], message_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{message_id}.{t}.".encode() + body
    signatures = [
        "v1,"
        + base64.b64encode(hmac.new(standard_key(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets
    ]
    return {
        STANDARD_ID_HEADER: message_id,
        STANDARD_TIMESTAMP_HEADER: str(t),
        STANDARD_SIGNATURE_HEADER: " ".join(signatures),
    }
