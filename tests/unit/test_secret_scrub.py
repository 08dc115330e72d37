"""Resolved secrets stay out of text that comes from outside (error bodies) and out of the
library log lines that quote URLs; the end-to-end sentinel test is
tests/integration/test_secret_leaks.py."""

from __future__ import annotations

import logging

import httpx
import pytest

from api.routes.codec import HideUiTokenFilter
from ingestlayer import secrets
from ingestlayer.classify.providers.transport import Endpoint, error_for_response
from ingestlayer.destinations.http import OriginOnlyFilter, error_for_status
from ingestlayer.destinations.ssrf import BlockedDestination, OutboundPolicy

TOKEN = "tok-" + "a1b2c3d4e5f6" * 2


def test_scrub_hides_every_value_longest_first() -> None:
    text = f"key={TOKEN} short={TOKEN[:10]} none="
    assert secrets.scrub(text, [TOKEN[:10], TOKEN, ""]) == "key=*** short=*** none="


def test_values_are_what_set_references_stand_for() -> None:
    env = {"A": "alpha-secret", "EMPTY": ""}
    assert secrets.values("https://x/${A}?k=${B}&e=${EMPTY}", env) == ["alpha-secret"]


def test_a_receiver_quoting_the_token_it_rejected_is_quoted_without_it() -> None:
    response = httpx.Response(401, text=f'{{"error": "bad token Bearer {TOKEN}"}}')
    err = error_for_status(response, "receiver", [TOKEN])
    assert TOKEN not in err.message
    assert "bad token Bearer ***" in err.message
    assert err.code == "http_401"


def test_a_provider_quoting_the_key_it_rejected_is_quoted_without_it() -> None:
    response = httpx.Response(401, json={"error": {"message": f"Incorrect API key: {TOKEN}"}})
    endpoint = Endpoint("openai", "m", "https://api.example", "${KEY}", hidden=(TOKEN,))
    err = error_for_response(response, endpoint)
    assert TOKEN not in str(err)
    assert TOKEN not in repr(endpoint)
    assert err.code == "unauthorized"


async def test_a_url_without_a_host_is_refused_without_being_quoted() -> None:
    with pytest.raises(BlockedDestination) as raised:
        await OutboundPolicy().targets(f"https:///hooks?token={TOKEN}")
    assert TOKEN not in str(raised.value)


def _formatted(filter_: logging.Filter, msg: str, *args: object) -> str:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, msg, args, None)
    assert filter_.filter(record)
    return record.getMessage()


def test_httpx_request_lines_name_only_the_origin() -> None:
    url = httpx.URL(f"https://user:{TOKEN}@hooks.example:8443/services/{TOKEN}?token={TOKEN}")
    line = _formatted(
        OriginOnlyFilter(), 'HTTP Request: %s %s "%s %d %s"', "POST", url, "HTTP/1.1", 200, "OK"
    )
    assert line == 'HTTP Request: POST https://hooks.example:8443/… "HTTP/1.1 200 OK"'


def test_access_lines_hide_the_codec_ui_token() -> None:
    line = _formatted(
        HideUiTokenFilter(),
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5",
        "POST",
        f"/codec/ui/{TOKEN}/decode",
        "1.1",
        200,
    )
    assert line == '127.0.0.1:5 - "POST /codec/ui/***/decode HTTP/1.1" 200'
    other = _formatted(HideUiTokenFilter(), '%s - "%s %s"', "c", "GET", "/v1/events/evt_1")
    assert other == 'c - "GET /v1/events/evt_1"'
