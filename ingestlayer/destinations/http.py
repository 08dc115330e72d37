"""HTTP plumbing shared by the HTTP-based destinations: one client per process and loop,
Retry-After, and request log lines that name only the origin."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Iterable

import httpx

from ingestlayer import secrets
from ingestlayer.destinations.errors import RateLimitedError, RetryableError

USER_AGENT = "ingestlayer/0.1 (+https://github.com/ingestlayer/ingestlayer)"

_clients: dict[int, httpx.AsyncClient] = {}


def origin(url: httpx.URL) -> str:
    """scheme://host[:port]/… of a URL: its user info, path and query may hold a token."""
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}/…"


class OriginOnlyFilter(logging.Filter):
    """httpx logs every request's full URL at INFO; webhook URLs are user input and often carry
    their token in the path or query (Slack and Discord hooks, `?token=`), so the line keeps
    only the origin."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 2 and isinstance(args[1], httpx.URL):
            record.args = (args[0], origin(args[1]), *args[2:])
        return True


_ORIGIN_ONLY = OriginOnlyFilter()
logging.getLogger("httpx").addFilter(_ORIGIN_ONLY)


def shared_client() -> httpx.AsyncClient:
    """Connection pooling across deliveries; keyed by loop because a client is bound to one."""
    loop_id = id(asyncio.get_running_loop())
    client = _clients.get(loop_id)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )
        _clients[loop_id] = client
    return client


async def close_clients() -> None:
    clients = list(_clients.values())
    _clients.clear()
    for client in clients:
        await client.aclose()


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait, from either form RFC 9110 allows (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def error_for_status(
    response: httpx.Response, who: str, hidden: Iterable[str] = ()
) -> RetryableError:
    """The retryable error a non-2xx answer maps to (a 429 keeps the server's Retry-After).
    The answer's first 200 characters are quoted, without the `hidden` values: a receiver may
    quote the credentials it rejected."""
    snippet = secrets.scrub(response.text, hidden)[:200].strip() if response.content else ""
    detail = f": {snippet}" if snippet else ""
    if response.status_code == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimitedError(
            f"{who} answered 429 Too Many Requests{detail}", retry_after=retry_after
        )
    return RetryableError(
        f"{who} answered {response.status_code}{detail}", code=f"http_{response.status_code}"
    )
