"""HTTP plumbing shared by the HTTP-based destinations: one client per process and loop, Retry-After."""

from __future__ import annotations

import asyncio
import email.utils
import time

import httpx

from ingestlayer.destinations.errors import RateLimitedError, RetryableError

USER_AGENT = "ingestlayer/0.1 (+https://github.com/ingestlayer/ingestlayer)"

_clients: dict[int, httpx.AsyncClient] = {}


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


def error_for_status(response: httpx.Response, who: str) -> RetryableError:
    """The retryable error a non-2xx answer maps to (a 429 keeps the server's Retry-After)."""
    snippet = response.text[:200].strip() if response.content else ""
    detail = f": {snippet}" if snippet else ""
    if response.status_code == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimitedError(
            f"{who} answered 429 Too Many Requests{detail}", retry_after=retry_after
        )
    return RetryableError(
        f"{who} answered {response.status_code}{detail}", code=f"http_{response.status_code}"
    )
