"""The load a crash run offers: tickets posted with one Idempotency-Key each, retried with the
same key until the API answers 202."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from ingestlayer.ingest import event_id

EVENT_TYPE = "support.ticket.created"

SUBJECTS = [
    "Checkout is down for every customer",
    "Outage: nobody can log in",
    "Export is slow on big projects",
    "Error when uploading a CSV",
    "How do I change my billing address?",
    "Feature request: dark mode",
]


def ticket(n: int) -> dict[str, Any]:
    subject = SUBJECTS[n % len(SUBJECTS)]
    return {
        "ticket_id": f"T-{n}",
        "subject": subject,
        "body": f"{subject}. Reported by Dana Whitfield (dana.whitfield@example.com).",
        "customer_tier": ["free", "pro", "enterprise"][n % 3],
        "channel": "email",
    }


@dataclass
class Post:
    """What the driver saw for one event: every attempt with the same Idempotency-Key."""

    n: int
    key: str
    expected_id: str
    id: str | None = None
    duplicate: bool = False
    attempts: int = 0
    unanswered: int = 0
    unavailable: int = 0
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Driver:
    """Posts events with one Idempotency-Key each and retries a 503 or a connection error with
    the same key until the API answers 202, so a retry can never make a second event."""

    http: httpx.AsyncClient
    concurrency: int = 16
    rate: float | None = None
    give_up_after: float = 180.0
    posts: list[Post] = field(default_factory=list)
    run: str = field(default_factory=lambda: secrets.token_hex(4))

    @property
    def accepted(self) -> int:
        return sum(1 for p in self.posts if p.id is not None)

    async def wait_accepted(self, count: int, within: float) -> int:
        deadline = time.monotonic() + within
        while self.accepted < count and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return self.accepted

    def new_post(self, n: int) -> Post:
        key = f"chaos-{self.run}-{n}"
        post = Post(n=n, key=key, expected_id=event_id(EVENT_TYPE, key))
        self.posts.append(post)
        return post

    async def send(self, post: Post, max_attempts: int | None = None) -> Post:
        body = {"type": EVENT_TYPE, "payload": ticket(post.n)}
        deadline = time.monotonic() + self.give_up_after
        pause = 0.1
        post.error = None
        tries = 0
        began = time.monotonic()
        while time.monotonic() < deadline and (max_attempts is None or tries < max_attempts):
            tries += 1
            post.attempts += 1
            try:
                response = await self.http.post(
                    "/v1/events", json=body, headers={"Idempotency-Key": post.key}
                )
            except httpx.TransportError:
                post.unanswered += 1
            else:
                if response.status_code == 202:
                    answer = response.json()
                    post.id, post.duplicate = answer["id"], answer["duplicate"]
                    post.seconds = time.monotonic() - began
                    return post
                if response.status_code != 503:
                    post.error = f"{response.status_code} {response.text[:300]}"
                    return post
                post.unavailable += 1
            if max_attempts is None or tries < max_attempts:
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)
        post.error = f"no 202 after {tries} attempts"
        return post

    async def drive(self, count: int, max_attempts: int | None = None) -> list[Post]:
        limit = asyncio.Semaphore(self.concurrency)
        started = time.monotonic()
        posts = [self.new_post(n) for n in range(len(self.posts), len(self.posts) + count)]

        async def one(index: int, post: Post) -> Post:
            if self.rate:
                delay = started + index / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            async with limit:
                return await self.send(post, max_attempts)

        return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(posts))))
