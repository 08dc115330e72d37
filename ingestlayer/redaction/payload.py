"""Redact an event payload: find its strings, analyze them in one pass, rewrite a copy."""

from __future__ import annotations

import asyncio
import copy
import hashlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ingestlayer.events import split_path
from ingestlayer.redaction.engine import Finding, get_engine
from ingestlayer.redaction.models import Operator, RedactionReport, RedactStep

__all__ = ["apply_operator", "redact_payload", "redact_payload_async", "redact_text"]

# CPU-bound work never runs on the event loop; two threads are plenty since analyses take turns.
_EXECUTOR = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ingestlayer-redact")


@dataclass
class _Target:
    """A string in the copied payload: where it lives and how the report names it."""

    container: dict[str, Any] | list[Any]
    key: Any
    name: str
    text: str


def apply_operator(operator: Operator, entity: str, value: str) -> str:
    if operator == "replace":
        return f"<{entity}>"
    if operator == "mask":
        return "*" * len(value)
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _merge(findings: list[Finding]) -> list[Finding]:
    """Overlapping detections become one span (their union) typed by the strongest of them."""
    merged: list[Finding] = []
    for f in sorted(findings, key=lambda f: (f.start, -f.end)):
        if merged and f.start < merged[-1].end:
            last = merged[-1]
            strongest = (
                last if (last.score, last.end - last.start) >= (f.score, f.end - f.start) else f
            )
            merged[-1] = Finding(
                last.start, max(last.end, f.end), strongest.entity, strongest.score
            )
        else:
            merged.append(f)
    return merged


def redact_text(text: str, findings: list[Finding], step: RedactStep) -> tuple[str, Counter[str]]:
    """`text` with each detection replaced by the step's operator, and counts per entity type."""
    allow = {value.strip().casefold() for value in step.allow}
    kept = [f for f in findings if text[f.start : f.end].strip().casefold() not in allow]
    counts: Counter[str] = Counter()
    pieces: list[str] = []
    pos = 0
    for f in _merge(kept):
        pieces.append(text[pos : f.start])
        pieces.append(apply_operator(step.operator, f.entity, text[f.start : f.end]))
        counts[f.entity] += 1
        pos = f.end
    pieces.append(text[pos:])
    return "".join(pieces), counts


def _strings(value: Any, container: Any, key: Any, name: str) -> Iterator[_Target]:
    if isinstance(value, str):
        yield _Target(container, key, name, value)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, value, k, f"{name}.{k}" if name else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, value, i, f"{name}.{i}" if name else str(i))


def _resolve(
    container: Any, parts: list[str], name: str
) -> Iterator[tuple[dict[str, Any] | list[Any], Any, str]]:
    """(parent, key, dotted name) for every value a path reaches; lists fan out unless indexed."""
    if not parts:
        return
    head, rest = parts[0], parts[1:]
    if isinstance(container, dict):
        if head not in container:
            return
        child_name = f"{name}.{head}" if name else head
        if rest:
            yield from _resolve(container[head], rest, child_name)
        else:
            yield container, head, child_name
    elif isinstance(container, list):
        if head.isdigit():
            index = int(head)
            if index < len(container):
                child_name = f"{name}.{index}" if name else str(index)
                if rest:
                    yield from _resolve(container[index], rest, child_name)
                else:
                    yield container, index, child_name
        else:
            for i, item in enumerate(container):
                yield from _resolve(item, parts, f"{name}.{i}" if name else str(i))


def _targets(payload: dict[str, Any], step: RedactStep) -> list[_Target]:
    if step.fields is None:
        return list(_strings(payload, None, None, ""))
    targets: dict[tuple[int, Any], _Target] = {}
    for path in step.fields:
        for parent, key, name in _resolve(payload, split_path(path), ""):
            for target in _strings(parent[key], parent, key, name):
                targets.setdefault((id(target.container), target.key), target)
    return list(targets.values())


def redact_payload(
    payload: dict[str, Any], step: RedactStep
) -> tuple[dict[str, Any], RedactionReport]:
    """A redacted copy of `payload` (the input is left untouched) and what was redacted where.

    Synchronous and CPU-bound (a few ms per ticket): from async code use
    `redact_payload_async`.
    """
    result = copy.deepcopy(payload)
    targets = [t for t in _targets(result, step) if t.text]
    findings = get_engine().find([t.text for t in targets], step) if targets else []
    fields: dict[str, dict[str, int]] = {}
    total = 0
    for target, found in zip(targets, findings, strict=True):
        if not found:
            continue
        new_text, counts = redact_text(target.text, found, step)
        if not counts:
            continue
        target.container[target.key] = new_text
        per_field = fields.setdefault(target.name, {})
        for entity, count in counts.items():
            per_field[entity] = per_field.get(entity, 0) + count
        total += sum(counts.values())
    return result, RedactionReport(fields=fields, total=total)


async def redact_payload_async(
    payload: dict[str, Any], step: RedactStep
) -> tuple[dict[str, Any], RedactionReport]:
    """`redact_payload` on the redaction thread pool, so the event loop keeps serving."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_EXECUTOR, redact_payload, payload, step)
