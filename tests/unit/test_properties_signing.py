"""Property tests for outbound signatures: every active secret verifies with code that is not
ours, any changed byte fails, and the inbound verifier never raises on whatever a header holds."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from ingestlayer.signing import (
    DEFAULT_TOLERANCE_SECONDS,
    STANDARD_ID_HEADER,
    STANDARD_SIGNATURE_HEADER,
    STANDARD_TIMESTAMP_HEADER,
    signature_header,
    standard_headers,
    standard_key,
    verify,
)

bodies = st.binary(max_size=300)
secret_lists = st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=3)
timestamps = st.integers(0, 2**40)


def independent_check(header: str, body: bytes, secret: str) -> bool:
    """Written from the documented shape `t=<unix>,v1=<hex>[,v1=<hex>...]`."""
    fields = [part.split("=", 1) for part in header.split(",")]
    if len(fields) < 2 or fields[0][0] != "t" or any(len(f) != 2 for f in fields):
        return False
    stamp = fields[0][1]
    mac = hmac.new(secret.encode("utf-8"), stamp.encode("ascii") + b"." + body, hashlib.sha256)
    wanted = mac.hexdigest()
    return any(name == "v1" and value == wanted for name, value in fields[1:])


def flip(data: bytes, index: int, mask: int) -> bytes:
    index %= len(data)
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


@given(bodies, secret_lists, timestamps)
@example(b"", ["k"], 0)
@example(b"\x00\xff", ["\u00e9", "\U0001f600"], 2**40)
def test_every_active_secret_verifies_with_an_independent_verifier(
    body: bytes, secrets: list[str], timestamp: int
) -> None:
    header = signature_header(secrets, body, timestamp=timestamp)
    assert header.count("v1=") == len(secrets)
    assert header.startswith(f"t={timestamp},")
    for secret in secrets:
        assert independent_check(header, body, secret)
        assert verify(header, body, secret, now=timestamp)


@given(bodies.filter(bool), secret_lists, timestamps, st.integers(0, 10**6), st.integers(1, 255))
def test_a_changed_body_byte_fails_for_every_secret(
    body: bytes, secrets: list[str], timestamp: int, index: int, mask: int
) -> None:
    header = signature_header(secrets, body, timestamp=timestamp)
    tampered = flip(body, index, mask)
    for secret in secrets:
        assert not independent_check(header, tampered, secret)
        assert not verify(header, tampered, secret, now=timestamp)


@given(bodies, st.text(min_size=1, max_size=20), timestamps, st.integers(0, 10**6), st.data())
def test_a_changed_timestamp_or_signature_byte_fails(
    body: bytes, secret: str, timestamp: int, index: int, data: st.DataObject
) -> None:
    header = signature_header([secret], body, timestamp=timestamp)
    stamp_end = header.index(",")
    raw = header.encode("latin-1")
    for start, end in ((2, stamp_end), (stamp_end + 4, len(raw))):
        position = start + index % (end - start)
        mask = data.draw(st.integers(1, 255))
        tampered = flip(raw, position, mask).decode("latin-1")
        assert not verify(tampered, body, secret, now=timestamp), tampered
        assert not verify(tampered, body, secret), tampered


@given(secret_lists, bodies, timestamps, st.integers(0, 2))
def test_a_changed_signature_fails_only_for_its_own_secret(
    secrets: list[str], body: bytes, timestamp: int, which: int
) -> None:
    if len(set(secrets)) != len(secrets):
        secrets = [f"{i}:{s}" for i, s in enumerate(secrets)]
    header = signature_header(secrets, body, timestamp=timestamp)
    which %= len(secrets)
    parts = header.split(",")
    signature = parts[1 + which]
    parts[1 + which] = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    tampered = ",".join(parts)
    for i, secret in enumerate(secrets):
        assert verify(tampered, body, secret, now=timestamp) is (i != which)


@given(bodies, st.text(min_size=1, max_size=20), timestamps, st.integers(-1000, 1000))
@example(b"x", "k", 10_000, DEFAULT_TOLERANCE_SECONDS)
@example(b"x", "k", 10_000, DEFAULT_TOLERANCE_SECONDS + 1)
@example(b"x", "k", 10_000, -DEFAULT_TOLERANCE_SECONDS - 1)
def test_the_tolerance_window_holds_both_ways(
    body: bytes, secret: str, timestamp: int, skew: int
) -> None:
    header = signature_header([secret], body, timestamp=timestamp)
    within = abs(skew) <= DEFAULT_TOLERANCE_SECONDS
    assert verify(header, body, secret, now=timestamp + skew) is within
    assert verify(header, body, secret, now=timestamp + skew, tolerance=abs(skew)) is True
    if skew:
        assert verify(header, body, secret, now=timestamp + skew, tolerance=abs(skew) - 1) is False


@given(st.text(max_size=200), bodies, st.text(max_size=20))
@example("t=1,v1=\u00e9", b"", "k")
@example("t=1\u00b2,v1=00", b"", "k")
@example("t=\u0661,v1=00", b"", "k")
@example("t=,v1=", b"", "k")
@example("t=" + "1" * 5000 + ",v1=00", b"", "k")
def test_verify_answers_false_instead_of_raising_on_any_header(
    header: str, body: bytes, secret: str
) -> None:
    assert verify(header, body, secret, now=1) in (True, False)


@given(st.one_of(st.from_regex(r"[0-9]{1,12}", fullmatch=True), st.text(max_size=5)), bodies)
@example("0017", b"x")
@example("\u0661", b"")
@example("\u00b2", b"")
def test_only_ascii_digit_timestamps_count(stamp: str, body: bytes) -> None:
    """A timestamp in other digits would be signed as one string and checked as another."""
    signed = hmac.new(b"k", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    accepted = verify(f"t={stamp},v1={signed}", body, "k", now=int(stamp) if _ascii(stamp) else 0)
    assert accepted is _ascii(stamp)


def _ascii(stamp: str) -> bool:
    return stamp.isascii() and stamp.isdigit()


standard_secrets = st.lists(
    st.binary(min_size=16, max_size=64).map(lambda k: "whsec_" + base64.b64encode(k).decode()),
    min_size=1,
    max_size=3,
)
message_ids = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=" ,"),
    min_size=1,
    max_size=40,
)
text_bodies = st.text(max_size=200).map(str.encode)


@given(standard_secrets, message_ids, text_bodies, st.integers(-200, 200))
@example(["whsec_" + base64.b64encode(b"k" * 16).decode()], "evt_1", b"{}", 0)
def test_standard_webhooks_library_verifies_every_active_secret(
    secrets: list[str], message_id: str, body: bytes, skew: int
) -> None:
    timestamp = int(time.time()) + skew
    headers = standard_headers(secrets, message_id, body, timestamp=timestamp)
    assert headers[STANDARD_ID_HEADER] == message_id
    assert headers[STANDARD_TIMESTAMP_HEADER] == str(timestamp)
    assert len(headers[STANDARD_SIGNATURE_HEADER].split(" ")) == len(secrets)
    for secret in secrets:
        Webhook(secret).verify(body, headers, json_parse=False)
    stranger = "whsec_" + base64.b64encode(b"\x01" * 32).decode()
    if stranger not in secrets:
        with pytest.raises(WebhookVerificationError):
            Webhook(stranger).verify(body, headers, json_parse=False)


@given(
    standard_secrets,
    message_ids,
    text_bodies.filter(bool),
    st.integers(0, 10**6),
    st.integers(1, 127),
)
def test_standard_webhooks_rejects_a_changed_body_byte(
    secrets: list[str], message_id: str, body: bytes, index: int, mask: int
) -> None:
    headers = standard_headers(secrets, message_id, body, timestamp=int(time.time()))
    tampered = flip(body, index, mask)
    if not _utf8(tampered):
        tampered = body + b"!"
    for secret in secrets:
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(tampered, headers, json_parse=False)


@given(st.text(max_size=60))
@example("whsec_")
@example("whsec_" + base64.b64encode(b"k" * 15).decode())
@example("whsec_\u00e9\u00e9\u00e9\u00e9")
def test_a_standard_secret_is_at_least_16_bytes_of_base64_or_a_value_error(secret: str) -> None:
    try:
        key = standard_key(secret)
    except ValueError:
        return
    assert len(key) >= 16
    assert base64.b64decode(secret.removeprefix("whsec_")) == key


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
