"""AES-GCM encryption of every Temporal payload, so Temporal's database holds only ciphertext.

Each encrypted payload names the key that sealed it (`encryption-key-id` in its metadata). The
first key of the ring encrypts; every key of the ring decrypts. Rotating is: put the new key
first and keep the old one listed until no open workflow's history needs it."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
TAG_BYTES = 16


class CodecError(Exception):
    """A payload that cannot be decrypted. Messages name key ids, never key material."""

    code = "codec_error"


def _shown(key_id: str) -> str:
    """A key id read from a payload is untrusted text: quoted and bounded in messages."""
    return repr(key_id if len(key_id) <= 64 else key_id[:64] + "…")


class UnknownKeyError(CodecError):
    code = "unknown_codec_key"

    def __init__(self, key_id: str, known: Iterable[str]) -> None:
        listed = ", ".join(known) or "none"
        super().__init__(
            f"the payload was encrypted with key id {_shown(key_id)}, which is not in "
            f"INGESTLAYER_CODEC_KEYS (key ids configured: {listed})"
        )
        self.key_id = key_id


class DecryptionError(CodecError):
    code = "payload_decryption_failed"

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"the payload sealed with key id {_shown(key_id)} failed authentication: it was altered, "
            "or a different key was configured under that id"
        )
        self.key_id = key_id


class MalformedPayloadError(CodecError):
    code = "malformed_encrypted_payload"


@dataclass(frozen=True)
class CodecKey:
    key_id: str
    material: bytes

    def __repr__(self) -> str:
        return f"CodecKey(key_id={self.key_id!r})"


class KeyRing:
    def __init__(self, keys: Sequence[CodecKey]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self._ciphers = {key.key_id: AESGCM(key.material) for key in keys}
        if len(self._ciphers) != len(keys):
            raise ValueError("codec key ids must be unique")
        self.encrypting_id = keys[0].key_id

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    def seal(self, plaintext: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        key_id = self.encrypting_id
        return key_id, nonce + self._ciphers[key_id].encrypt(nonce, plaintext, key_id.encode())

    def open(self, key_id: str, sealed: bytes) -> bytes:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyError(key_id, self._ciphers)
        if len(sealed) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError(key_id)
        try:
            return cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise DecryptionError(key_id) from None


def new_codec_key(key_id: str) -> str:
    """A fresh `keyid:base64` entry for INGESTLAYER_CODEC_KEYS (an AES-256 key)."""
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def b64decode_any(text: str) -> bytes:
    """Standard or URL-safe base64, padding optional: keys and protobuf JSON bytes come in both.
    Raises ValueError (binascii.Error is one) on anything else."""
    normal = text.strip().replace("-", "+").replace("_", "/")
    return base64.b64decode(normal + "=" * (-len(normal) % 4), validate=True)


def is_encrypted(payload: Payload) -> bool:
    return payload.metadata.get("encoding") == ENCODING


class EncryptionCodec(PayloadCodec):
    """The whole serialized payload (metadata and data) is sealed, so even the original
    encoding (`json/pydantic`, …) is hidden; the key id is bound as associated data."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id, sealed = self.ring.seal(payload.SerializeToString())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()}, data=sealed
        )

    def decrypt(self, payload: Payload) -> Payload:
        """Payloads that are not ours (written before encryption was on) pass through."""
        if not is_encrypted(payload):
            return payload
        raw_id = payload.metadata.get(KEY_ID_METADATA)
        if raw_id is None:
            raise MalformedPayloadError(f"an encrypted payload has no {KEY_ID_METADATA!r}")
        try:
            key_id = raw_id.decode()
        except UnicodeDecodeError:
            raise MalformedPayloadError(f"{KEY_ID_METADATA!r} is not text") from None
        plaintext = self.ring.open(key_id, payload.data)
        try:
            return Payload.FromString(plaintext)
        except DecodeError:
            raise MalformedPayloadError(
                f"the payload sealed with key id {_shown(key_id)} does not hold a payload"
            ) from None
