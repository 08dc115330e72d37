"""Child processes a crash run starts, kills with a signal of its choosing and starts again."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class ChaosError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Child:
    """One OS process the harness can SIGKILL and start again with the same command and env."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.logs = logs
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = logs / f"{name}.log"

    def start(self) -> None:
        self.starts += 1
        self.log_path = self.logs / f"{self.name}-{self.starts}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    async def stop(self, sig: signal.Signals = signal.SIGTERM, within: float = 30.0) -> int:
        process = self.process
        if process is None or process.poll() is not None:
            return process.returncode if process else 0
        process.send_signal(sig)
        deadline = time.monotonic() + within
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                break
            await asyncio.sleep(0.05)
        return process.returncode

    async def wait_ready(self, ready: Callable[[], Awaitable[bool]], within: float) -> None:
        deadline = time.monotonic() + within
        while not await ready():
            if not self.running():
                raise ChaosError(f"{self.name} exited while starting:\n{self.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise ChaosError(f"{self.name} not ready in {within:.0f} s; see {self.log_path}")
            await asyncio.sleep(0.1)
