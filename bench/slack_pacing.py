"""Slack pacing: a burst to one channel against a fake that enforces one message per second.

    .venv/bin/python -m bench.slack_pacing [--events 100] [--channels 3] [--per-channel 20]

Target (issue 4): 100 events to one channel → all delivered, in order of arrival, in at most
115 s, with fewer than 10 % of calls answered 429; several channels proceed in parallel. Both
runs go at the same time against one local stack (Temporal dev server, worker, API over HTTP)
and one fake Slack Web API (`tests/fakes/slack.py`, token bucket of 1 msg/s and no burst).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from dataclasses import dataclass

import httpx

from bench.stack import local_stack
from tests.fakes.serving import serve
from tests.fakes.slack import FakeSlack

TARGET_SECONDS = 115.0
TARGET_429_RATIO = 0.10


def pipelines(url: str, channels: list[str]) -> str:
    destinations = "\n".join(
        f"""      - name: {name}
        when: target = "{name}"
        slack: {{channel: "#{name}", token: "${{BENCH_SLACK_TOKEN}}", base_url: "{url}/api/"}}
        retry: {{max_attempts: 20, initial_interval: 1, backoff: 1.5, max_interval: 10}}"""
        for name in channels
    )
    return f"""
pipelines:
  - name: bench
    on: bench.slack
    destinations:
{destinations}
"""


@dataclass
class Run:
    channel: str
    events: int
    seconds: float
    in_order: bool
    calls: int
    rate_limited: int


async def burst(
    api: httpx.AsyncClient, fake: FakeSlack, channel: str, events: int, within: float
) -> Run:
    started = time.monotonic()
    for seq in range(events):
        response = await api.post(
            "/v1/events", json={"type": "bench.slack", "payload": {"target": channel, "seq": seq}}
        )
        response.raise_for_status()
    deadline = started + within
    while len(fake.posted_to(channel)) < events and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    elapsed = time.monotonic() - started
    posted = fake.posted_to(channel)
    seqs = [_seq(m.blocks) for m in posted]
    if seqs != list(range(events)):
        print(f"{channel}: delivered out of order: {seqs[:30]}")
    found = fake._find(channel)
    channel_id = found.id if found else ""
    return Run(
        channel=channel,
        events=len(posted),
        seconds=elapsed,
        in_order=seqs == list(range(events)),
        calls=fake.calls[channel_id],
        rate_limited=fake.rate_limited[channel_id],
    )


def _seq(blocks: list[dict[str, object]]) -> int:
    for block in blocks:
        for item in block.get("fields", []) or []:  # type: ignore[attr-defined]
            text = str(item.get("text", ""))
            if text.startswith("*seq*\n"):
                return int(text.split("\n", 1)[1])
    return -1


async def main(events: int, channels: int, per_channel: int) -> int:
    token = "xoxb-bench-" + secrets.token_hex(8)
    os.environ["BENCH_SLACK_TOKEN"] = token
    fake = FakeSlack(rate=1.0, burst=1.0)
    fake.add_token(token)
    names = ["burst", *(f"team-{n}" for n in range(1, channels + 1))]
    for name in names:
        fake.add_channel(name)
    async with serve(fake.app()) as url, local_stack(pipelines(url, names)) as stack:
        runs = await asyncio.gather(
            burst(stack.api, fake, "burst", events, within=events * 2.0 + 30),
            *(
                burst(stack.api, fake, name, per_channel, within=per_channel * 2.0 + 30)
                for name in names[1:]
            ),
        )
    single, parallel = runs[0], runs[1:]
    ratio = single.rate_limited / max(1, single.calls)
    met = (
        single.events == events
        and single.in_order
        and single.seconds <= TARGET_SECONDS
        and ratio < TARGET_429_RATIO
    )
    print(
        f"\nSlack pacing against a fake enforcing 1 msg/s per channel (no burst), {os.cpu_count()} cores"
    )
    print(
        f"{'channel':<10} {'events':>7} {'seconds':>8} {'msg/s':>6} {'in order':>9} {'calls':>6} {'429s':>5}"
    )
    for run in runs:
        print(
            f"{run.channel:<10} {run.events:>7} {run.seconds:>8.1f} {run.events / run.seconds:>6.2f} "
            f"{'yes' if run.in_order else 'NO':>9} {run.calls:>6} {run.rate_limited:>5}"
        )
    parallel_seconds = max(r.seconds for r in parallel) if parallel else 0.0
    print(
        f"\n{events} events to one channel: {single.seconds:.1f} s (target ≤ {TARGET_SECONDS:.0f} s), "
        f"429 ratio {ratio:.1%} (target < {TARGET_429_RATIO:.0%}), "
        f"in order: {'yes' if single.in_order else 'no'} → {'met' if met else 'MISSED'}"
    )
    if parallel:
        print(
            f"{len(parallel)} more channels x {per_channel} events, at the same time: the slowest took "
            f"{parallel_seconds:.1f} s (one after another would take ≥ {len(parallel) * per_channel} s)"
        )
    return 0 if met else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--per-channel", type=int, default=20)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.events, args.channels, args.per_channel)))
