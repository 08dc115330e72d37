"""The worker pool: `python worker.py --processes N` runs N worker processes against one Temporal."""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import signal
import sys

from ingestlayer.settings import Settings
from ingestlayer.workers import serve


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(processName)s %(levelname)s %(message)s"
    )


def run_one() -> None:
    configure_logging()
    settings = Settings()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run ingestlayer worker processes.")
    parser.add_argument("--processes", type=int, default=1, help="worker processes to run")
    args = parser.parse_args(argv)
    if args.processes <= 1:
        run_one()
        return 0
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=run_one, name=f"worker-{i + 1}") for i in range(args.processes)
    ]
    for process in processes:
        process.start()

    def forward_sigterm(_signum: int, _frame: object) -> None:
        for process in processes:
            if process.is_alive():
                process.terminate()

    signal.signal(signal.SIGTERM, forward_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for process in processes:
        process.join()
    return max((p.exitcode or 0) for p in processes)


if __name__ == "__main__":
    sys.exit(main())
