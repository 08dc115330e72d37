"""Looking for planted secrets: sentinel values, and the places they must never reach (Temporal
history decoded and raw, what Temporal lists in the clear, every log record, any text)."""

from __future__ import annotations

import base64
import contextvars
import logging
import secrets
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import text_format
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WorkflowExecution
from temporalio.converter import DataConverter

SENTINEL_PREFIX = "SENTINEL"
_IN_FAKE: contextvars.ContextVar[bool] = contextvars.ContextVar("in_fake", default=False)


def fake_side(app: Any) -> Any:
    """Wrap a fake's ASGI app: what is logged while it handles a request (uvicorn's access line
    quoting the URL the product called, tokens included) is the fake's, not the product's."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        _IN_FAKE.set(True)
        await app(scope, receive, send)

    return wrapped


@dataclass
class Sentinels:
    """Distinct secret values, one per credential; each is looked for whole and by its random
    tail (so a message that cut the front off still counts)."""

    values: dict[str, str] = field(default_factory=dict)
    extra_needles: dict[str, list[str]] = field(default_factory=dict)

    def make(self, kind: str) -> str:
        value = f"{SENTINEL_PREFIX}-{kind}-{secrets.token_hex(10)}"
        self.values[kind] = value
        return value

    def whsec(self, kind: str) -> str:
        """A Standard Webhooks secret whose key bytes are themselves a sentinel."""
        key = self.make(kind + "-key")
        secret = "whsec_" + base64.b64encode(key.encode()).decode()
        self.values[kind] = secret
        return secret

    def needles(self) -> Iterator[tuple[str, str]]:
        for kind, value in self.values.items():
            yield kind, value
            tail = value.rsplit("-", 1)[-1]
            if len(tail) >= 16:
                yield kind, tail
            for extra in self.extra_needles.get(kind, []):
                yield kind, extra

    def found_in(self, text: str | bytes) -> list[str]:
        haystack = text if isinstance(text, str) else text.decode("utf-8", "backslashreplace")
        return sorted({kind for kind, needle in self.needles() if needle in haystack})


@dataclass
class Findings:
    """Where each sentinel turned up; empty when nothing leaked."""

    sentinels: Sentinels
    places: list[str] = field(default_factory=list)
    scanned: int = 0

    def scan(self, where: str, text: str | bytes) -> None:
        self.scanned += 1
        found = self.sentinels.found_in(text)
        if found:
            snippet = text if isinstance(text, str) else text.decode("utf-8", "backslashreplace")
            self.places.append(f"{where}: {', '.join(found)} in {snippet[:600]!r}")

    def scan_error(self, where: str, exc: BaseException) -> None:
        """The message, the repr, every attribute and the whole chained traceback."""
        self.scan(f"{where} str", str(exc))
        self.scan(f"{where} repr", repr(exc))
        self.scan(f"{where} attributes", repr(vars(exc)))
        self.scan(f"{where} traceback", "".join(traceback.format_exception(exc)))


# --- logs -----------------------------------------------------------------------------------


class LogCapture(logging.Handler):
    """Every record of every logger at DEBUG, formatted with its arguments, extras and
    traceback. Attached to the root and to each logger that does not propagate (uvicorn's)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []
        self.skipped = 0
        self.seen: set[tuple[str, int]] = set()
        self._levels: dict[logging.Logger, int] = {}
        self._attached: list[logging.Logger] = []
        self._formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        if _IN_FAKE.get():
            self.skipped += 1
            return
        try:
            text = self._formatter.format(record)
        except Exception as exc:  # a record that cannot format is still scanned raw
            text = f"{record.name} unformattable ({exc!r}): {record.msg!r} {record.args!r}"
        self.records.append(f"{text}\n{record.__dict__!r}")
        self.seen.add((record.name, record.levelno))

    def loggers(self) -> list[logging.Logger]:
        found = [logging.getLogger()]
        found += [
            logger
            for logger in logging.Logger.manager.loggerDict.values()
            if isinstance(logger, logging.Logger)
        ]
        return found

    def start(self) -> None:
        """Call once every server of the test runs: starting uvicorn resets its loggers."""
        for logger in self.loggers():
            self._levels[logger] = logger.level
            logger.setLevel(logging.DEBUG)
            if logger.name == "root" or not logger.propagate:
                logger.addHandler(self)
                self._attached.append(logger)
            if logger.disabled:
                raise AssertionError(f"logger {logger.name} is disabled; its records are lost")

    def stop(self) -> None:
        for logger in self._attached:
            logger.removeHandler(self)
        for logger, level in self._levels.items():
            logger.setLevel(level)
        self._attached.clear()
        self._levels.clear()

    def names(self, below: int = logging.CRITICAL + 1) -> set[str]:
        """Loggers that emitted records, or only records under the level `below`."""
        return {name for name, level in self.seen if level < below}


# --- Temporal -------------------------------------------------------------------------------


async def _decoded(converter: DataConverter, payload: Payload) -> Payload:
    codec = converter.payload_codec
    if codec is None:
        return payload
    [decoded] = await codec.decode([payload])
    return decoded


async def _decode_in_place(converter: DataConverter, message: Message, texts: list[str]) -> None:
    """Decode every payload and failure inside `message` (a history event, a description) and
    collect the failures' converted exceptions as text too."""
    if isinstance(message, Payload):
        message.CopyFrom(await _decoded(converter, message))
        return
    if isinstance(message, Failure):
        copy = Failure()
        copy.CopyFrom(message)
        exc = await converter.decode_failure(copy)
        texts.append("".join(traceback.format_exception(exc)) + repr(exc))
        codec = converter.payload_codec
        if codec is not None:
            await codec.decode_failure(message)
        return
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        if descriptor.message_type.GetOptions().map_entry:
            if descriptor.message_type.fields_by_name["value"].message_type is not None:
                for item in value.values():
                    await _decode_in_place(converter, item, texts)
        elif descriptor.is_repeated:
            for item in value:
                await _decode_in_place(converter, item, texts)
        else:
            await _decode_in_place(converter, value, texts)


async def workflow_texts(
    client: Client, execution: WorkflowExecution
) -> list[tuple[str, str | bytes]]:
    """(what, text) for one run: its history decoded and raw, its description decoded, and what
    any list shows (id, memo, search attributes)."""
    converter = client.data_converter
    where = f"{execution.id} ({execution.run_id})"
    out: list[tuple[str, str | bytes]] = [
        (f"{where} listed", repr(execution)),
        (f"{where} listed raw", execution.raw_info.SerializeToString()),
        (f"{where} memo", repr(await execution.memo())),
    ]
    handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
    history = await handle.fetch_history()
    for event in history.events:
        name = f"{where} event {event.event_id}"
        out.append((f"{name} raw", event.SerializeToString()))
        texts: list[str] = []
        await _decode_in_place(converter, event, texts)
        out.append((f"{name} decoded", text_format.MessageToString(event, as_utf8=True)))
        out.extend((f"{name} failure", text) for text in texts)
    description = await handle.describe()
    raw = description.raw_description
    texts = []
    await _decode_in_place(converter, raw, texts)
    out.append((f"{where} description", text_format.MessageToString(raw, as_utf8=True)))
    out.extend((f"{where} description failure", text) for text in texts)
    return out
