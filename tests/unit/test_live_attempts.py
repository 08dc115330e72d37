"""Live attempts in a status: the server's pending-activity record is merged into a delivery
only while the workflow itself has not yet counted that activity."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse

from ingestlayer.status import DeliveryState, DeliveryStatus, EventStatus, PipelineStatus
from ingestlayer.tracking import _merge_pending


def _status(state: DeliveryState, attempts: int, redeliveries: int = 0) -> EventStatus:
    delivery = DeliveryStatus(
        destination="hook",
        kind="webhook",
        state=state,
        attempts=attempts,
        redeliveries=redeliveries,
    )
    return EventStatus(
        id="evt_" + "0" * 32,
        type="test.x",
        received_at=datetime(2026, 12, 1, tzinfo=UTC),
        pipelines=[PipelineStatus(name="p", deliveries=[delivery])],
    )


def _described(activity_id: str, attempt: int) -> Any:
    raw = DescribeWorkflowExecutionResponse(
        pending_activities=[
            PendingActivityInfo(
                activity_id=activity_id,
                attempt=attempt,
                state=PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
            )
        ]
    )
    return SimpleNamespace(raw_description=raw)


async def _attempts(status: EventStatus, activity_id: str, attempt: int) -> int:
    await _merge_pending(cast(Any, None), status, _described(activity_id, attempt))
    return status.pipelines[0].deliveries[0].attempts


async def test_a_retrying_delivery_shows_the_running_attempt() -> None:
    assert await _attempts(_status("retrying", 1), "deliver/p/hook/0", 2) == 3


@pytest.mark.parametrize("state", ["dead_lettered", "delivered"])
async def test_an_activity_the_workflow_already_counted_is_not_counted_again(
    state: DeliveryState,
) -> None:
    assert await _attempts(_status(state, 2), "deliver/p/hook/0", 1) == 2


async def test_an_earlier_rounds_activity_is_not_counted_in_a_redelivery() -> None:
    assert await _attempts(_status("retrying", 3, redeliveries=1), "deliver/p/hook/0", 2) == 3
