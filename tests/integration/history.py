"""Reading a workflow's history as Temporal stores it (no data converter, no codec), and the
protobuf-JSON payload form the codec endpoint speaks."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client


def walk(message: Message, path: str = "") -> Iterator[tuple[str, Message]]:
    """Every nested message with a dotted path; payloads are leaves."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        name = f"{path}.{field.name}" if path else field.name
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is None:
                continue
            items: Any = [(f"{name}[{k}]", v) for k, v in value.items()]
        elif field.is_repeated:
            items = [(f"{name}[{i}]", v) for i, v in enumerate(value)]
        else:
            items = [(name, value)]
        for child_path, child in items:
            yield child_path, child
            if not isinstance(child, Payload):
                yield from walk(child, child_path)


async def raw_history(client: Client, workflow_id: str) -> list[HistoryEvent]:
    """Straight from the workflow service: no data converter, no codec."""
    events: list[HistoryEvent] = []
    token = b""
    for _ in range(100):
        page = await client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id),
                next_page_token=token,
            )
        )
        events.extend(page.history.events)
        token = page.next_page_token
        if not token:
            break
    return events


def payloads_of(events: list[HistoryEvent]) -> list[tuple[str, Payload]]:
    """Search attributes are excluded: Temporal must index them, so they are never encrypted
    (and they hold no payload data: names, states and hashes)."""
    return [
        (path, node)
        for event in events
        for path, node in walk(event)
        if isinstance(node, Payload) and ".search_attributes." not in path + "."
    ]


def failures_of(events: list[HistoryEvent]) -> list[Failure]:
    return [node for event in events for _, node in walk(event) if isinstance(node, Failure)]


def to_json(payload: Payload) -> dict[str, Any]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


def from_json(item: dict[str, Any]) -> Payload:
    return Payload(
        metadata={k: base64.b64decode(v) for k, v in item.get("metadata", {}).items()},
        data=base64.b64decode(item.get("data", "")),
    )
