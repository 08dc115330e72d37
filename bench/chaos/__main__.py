"""The crash run: events through the support pipeline while the worker is SIGKILLed and the
Temporal dev server restarted; prints what was lost or doubled (nothing, when it holds).

    .venv/bin/python -m bench.chaos [--events 1000] [--kills 2] [--restarts 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from bench.chaos.harness import Report, chaos_stack, crash_run


async def main(args: argparse.Namespace) -> Report:
    async with chaos_stack(hook_delay=args.hook_delay, keep_logs=args.keep_logs) as stack:
        report = await crash_run(
            stack,
            args.events,
            worker_kills=args.kills,
            server_restarts=args.restarts,
            concurrency=args.concurrency,
            rate=args.rate or None,
            settle_within=args.settle,
        )
        if args.keep_logs:
            print(f"logs in {stack.tmp}")
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=2, help="worker SIGKILLs during the run")
    parser.add_argument("--restarts", type=int, default=1, help="Temporal server restarts")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--rate", type=float, default=50.0, help="events/s offered, 0: no cap")
    parser.add_argument(
        "--hook-delay", type=float, default=0.2, help="seconds the receiver takes to answer"
    )
    parser.add_argument("--settle", type=float, default=600.0, help="seconds to wait at the end")
    parser.add_argument("--keep-logs", action="store_true", help="keep the children's logs")
    arguments = parser.parse_args()
    result = asyncio.run(main(arguments))
    print(
        f"\nCrash run, {os.cpu_count()} cores: {arguments.events} events, support pipeline "
        "(rules classify, redact.pii, set) to a webhook and a Postgres table (unique event id)"
    )
    print(result.table())
    sys.exit(1 if result.problems() else 0)
