"""`ingestlayer dev | worker | emit | events | redeliver [--all]`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn
from pydantic import ValidationError

from ingestlayer.config import ConfigError

DEV_OUTBOUND_ALLOW = "127.0.0.1/32,::1/128"


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside a loop that owns the signals: `dev` decides when everything stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _read_or_create(path: Path, make: str) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(make + "\n")
    path.chmod(0o600)
    return make


async def _dev(args: argparse.Namespace) -> int:
    from api.app import create_app
    from ingestlayer import config
    from ingestlayer.demo_receiver import create_receiver
    from ingestlayer.devserver import DevServer
    from ingestlayer.settings import Settings
    from ingestlayer.temporal import connect, ensure_search_attributes
    from ingestlayer.workers import running_workers

    data = Path(args.data_dir)
    api_key = args.api_key
    base_url = f"http://127.0.0.1:{args.port}"
    codec_endpoint = f"{base_url}/codec/ui/{args.codec_ui_token}"

    server: DevServer | None = None
    address = args.temporal_address
    if address is None:
        server = DevServer(
            db_file=data / "temporal.db",
            port=args.temporal_port,
            ui_port=args.ui_port,
            log_file=data / "temporal.log",
            ui_codec_endpoint=codec_endpoint,
        )
        address = server.address
    try:
        settings = Settings(
            temporal_address=address,
            pipelines_path=args.pipelines,
            api_keys=api_key,
            codec_keys=args.codec_keys,
            codec_ui_token=args.codec_ui_token,
            public_base_url=base_url,
            temporal_ui_url=f"http://127.0.0.1:{args.ui_port}",
            outbound_allow=os.environ.get("INGESTLAYER_OUTBOUND_ALLOW", DEV_OUTBOUND_ALLOW).split(
                ","
            ),
        )
    except ValidationError as exc:
        for error in exc.errors():
            name = "INGESTLAYER_" + "_".join(str(part) for part in error["loc"]).upper()
            print(f"error: {name}: {error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    if server:
        server.start()
    try:
        pipelines = config.load(settings.pipelines_path)
        client = await connect(settings, wait_seconds=60)
        await ensure_search_attributes(client, settings.temporal_namespace)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if server:
            server.stop()
        return 2
    except Exception as exc:
        print(f"error: could not reach Temporal at {address}: {exc}", file=sys.stderr)
        if server:
            server.stop()
        return 1

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    app = create_app(settings, client=client, pipelines=pipelines)
    servers = [
        EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning"))
    ]
    if args.receiver:
        receiver = create_receiver(os.environ["INGESTLAYER_DEMO_WEBHOOK_SECRET"])
        servers.append(
            EmbeddedServer(
                uvicorn.Config(
                    receiver, host="127.0.0.1", port=args.receiver_port, log_level="warning"
                )
            )
        )
    async with running_workers(client, settings):
        tasks = [asyncio.create_task(s.serve()) for s in servers]
        while not all(s.started for s in servers):
            if any(t.done() for t in tasks):
                stop.set()
                break
            await asyncio.sleep(0.05)
        if not stop.is_set():
            names = ", ".join(p.name for p in pipelines.pipelines) or "none"
            lines = [
                "ingestlayer is running",
                f"  API            {base_url}",
                f"  OpenAPI page   {base_url}/docs",
                f"  Temporal UI    {settings.temporal_ui_url}"
                + ("" if server else "  (attached to " + address + ")"),
                f"  Temporal gRPC  {address}",
                f"  pipelines      {names}  (from {settings.pipelines_path})",
                f"  API key        {api_key}",
                f"  payloads       encrypted at rest, key id {settings.codec_key_material()[0][0]}"
                + (
                    "; the UI decodes them through the API"
                    if server
                    else f"; set the UI's codec endpoint to {base_url}/codec/ui/<token in "
                    f"{data / 'codec-ui-token'}>"
                ),
            ]
            if args.receiver:
                lines.append(
                    f"  demo receiver  http://127.0.0.1:{args.receiver_port}/ (prints what it gets)"
                )
            lines.append("Press Ctrl-C to stop.")
            print("\n".join(lines), flush=True)
            await stop.wait()
        print("stopping…", flush=True)
        for s in servers:
            s.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
    if server:
        server.stop()
    print("stopped", flush=True)
    return 0


def _run_dev(args: argparse.Namespace) -> int:
    """Keys are generated once and kept in the data folder, so a restart keeps working with them
    (the codec key above all: losing it makes the stored history unreadable)."""
    from ingestlayer.codec import new_codec_key

    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    args.api_key = os.environ.get("INGESTLAYER_API_KEYS") or _read_or_create(
        data / "api-key", "il_" + secrets.token_urlsafe(24)
    )
    args.codec_keys = os.environ.get("INGESTLAYER_CODEC_KEYS") or _read_or_create(
        data / "codec-key",
        new_codec_key(f"dev-{secrets.token_hex(3)}"),
    )
    args.codec_ui_token = os.environ.get("INGESTLAYER_CODEC_UI_TOKEN") or _read_or_create(
        data / "codec-ui-token", secrets.token_urlsafe(24)
    )
    os.environ.setdefault(
        "INGESTLAYER_DEMO_WEBHOOK_SECRET",
        _read_or_create(data / "demo-webhook-secret", "whsec_" + secrets.token_hex(16)),
    )
    os.environ.setdefault("INGESTLAYER_DEMO_RECEIVER_URL", f"http://127.0.0.1:{args.receiver_port}")
    return asyncio.run(_dev(args))


def _api(args: argparse.Namespace) -> httpx.Client:
    key = args.api_key or os.environ.get("INGESTLAYER_API_KEY")
    if not key and Path(".ingestlayer/api-key").exists():
        key = Path(".ingestlayer/api-key").read_text().strip()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=args.url, headers=headers, timeout=30)


def _print_response(response: httpx.Response) -> int:
    try:
        print(json.dumps(response.json(), indent=2))
    except ValueError:
        print(response.text)
    return 0 if response.is_success else 1


def _emit(args: argparse.Namespace) -> int:
    payload = json.loads(args.payload)
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
    with _api(args) as api:
        return _print_response(
            api.post("/v1/events", json={"type": args.type, "payload": payload}, headers=headers)
        )


def _events(args: argparse.Namespace) -> int:
    with _api(args) as api:
        return _print_response(api.get(f"/v1/events/{args.id}"))


def _redeliver(args: argparse.Namespace) -> int:
    if args.all:
        return _redeliver_all(args)
    if args.id is None:
        print("error: give an event id, or --all --destination PIPELINE/DEST", file=sys.stderr)
        return 2
    body = {k: v for k, v in (("pipeline", args.pipeline), ("destination", args.destination)) if v}
    with _api(args) as api:
        return _print_response(api.post(f"/v1/events/{args.id}/redeliver", json=body))


def _redeliver_all(args: argparse.Namespace) -> int:
    """One bulk run by destination; with --wait, follow it until it is done."""
    destination = args.destination or ""
    if args.pipeline and "/" not in destination:
        destination = f"{args.pipeline}/{destination}"
    if args.id is not None or "/" not in destination:
        print(
            "error: --all takes no event id and needs --destination PIPELINE/DEST "
            "(or --pipeline P --destination D)",
            file=sys.stderr,
        )
        return 2
    body: dict[str, object] = {"destination": destination}
    for key, value in (("event_type", args.type), ("since", args.since), ("until", args.until)):
        if value:
            body[key] = value
    if args.rate is not None:
        body["rate_per_second"] = args.rate
    with _api(args) as api:
        response = api.post("/v1/dead-letters/redeliver", json=body)
        if not args.wait or response.status_code != 202:
            return _print_response(response)
        status_path = f"/v1/dead-letters/redeliveries/{response.json()['id']}"
        while True:
            status = api.get(status_path)
            if not status.is_success or status.json().get("done"):
                break
            time.sleep(1.0)
        code = _print_response(status)
        return code if status.is_success and status.json().get("state") == "completed" else 1


def _migrate(args: argparse.Namespace) -> int:
    from ingestlayer.migrations import migrate
    from ingestlayer.settings import Settings

    configured = Settings().database_url
    dsn = args.database_url or (configured.get_secret_value() if configured else None)
    if not dsn:
        print("error: set INGESTLAYER_DATABASE_URL or pass --database-url", file=sys.stderr)
        return 2
    applied = asyncio.run(migrate(dsn))
    print("applied: " + (", ".join(applied) if applied else "nothing, the schema is current"))
    return 0


def _worker(args: argparse.Namespace) -> int:
    import worker

    return worker.main(["--processes", str(args.processes)])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ingestlayer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser(
        "dev", help="Temporal dev server + API + worker + demo pipeline, one command"
    )
    dev.add_argument(
        "--temporal-address", help="attach to this Temporal server instead of starting one"
    )
    dev.add_argument("--port", type=int, default=8000, help="API port")
    dev.add_argument("--temporal-port", type=int, default=7233)
    dev.add_argument("--ui-port", type=int, default=8233)
    dev.add_argument("--pipelines", default="examples/pipelines", help="pipeline file or folder")
    dev.add_argument(
        "--data-dir", default=".ingestlayer", help="Temporal's database file, key files"
    )
    dev.add_argument("--receiver-port", type=int, default=8787)
    dev.add_argument(
        "--no-receiver", dest="receiver", action="store_false", help="no demo receiver"
    )
    dev.set_defaults(func=_run_dev)

    wk = sub.add_parser("worker", help="run worker processes (settings from INGESTLAYER_* env)")
    wk.add_argument("--processes", type=int, default=1)
    wk.set_defaults(func=_worker)

    mg = sub.add_parser("migrate", help="create or update the service's own tables")
    mg.add_argument("--database-url", help="default: INGESTLAYER_DATABASE_URL")
    mg.set_defaults(func=_migrate)

    for name, func, help_text in (
        ("emit", _emit, "send one event"),
        ("events", _events, "show an event's status"),
        ("redeliver", _redeliver, "retry an event's dead-lettered deliveries"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--url", default="http://127.0.0.1:8000")
        cmd.add_argument("--api-key")
        cmd.set_defaults(func=func)
        if name == "emit":
            cmd.add_argument("type")
            cmd.add_argument("payload", help="the payload as a JSON object")
            cmd.add_argument("--idempotency-key")
        elif name == "events":
            cmd.add_argument("id")
        if name == "redeliver":
            cmd.add_argument("id", nargs="?", help="one event's id (or --all)")
            cmd.add_argument("--pipeline")
            cmd.add_argument("--destination", help="a destination name; with --all, PIPELINE/DEST")
            cmd.add_argument(
                "--all", action="store_true", help="every dead letter of --destination, paced"
            )
            cmd.add_argument("--type", help="with --all: only events of this type")
            cmd.add_argument("--since", help="with --all: events accepted at or after (ISO 8601)")
            cmd.add_argument("--until", help="with --all: events accepted at or before (ISO 8601)")
            cmd.add_argument("--rate", type=float, help="with --all: events per second (default 5)")
            cmd.add_argument("--wait", action="store_true", help="with --all: follow until done")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
