"""Enqueueing into an outbox: signal-with-start the outbox workflow of the delivery's target."""

from __future__ import annotations

from temporalio import activity

from activities.deliver import build_adapter
from activities.errors import to_application_error
from ingestlayer.destinations import DeliveryError
from ingestlayer.outbox import EnqueueRequest, OutboxState, outbox_id
from workflows.outbox import OutboxWorkflow


@activity.defn(name="outbox.enqueue")
async def enqueue(request: EnqueueRequest) -> str:
    """Returns the outbox's workflow id. Enqueueing the same item twice is harmless: the outbox
    recognises its key."""
    item = request.item
    try:
        adapter = build_adapter(item.delivery.kind, item.delivery.options)
    except DeliveryError as err:
        raise to_application_error(err, activity.info().attempt) from None
    label = adapter.pace_label()
    workflow_id = outbox_id(label, adapter.pace_key())
    state = OutboxState(
        kind=item.delivery.kind,
        label=label,
        interval=adapter.pace_interval(),
        delivery_queue=f"{request.delivery_queue_prefix}-{item.delivery.kind}",
        disconnect_codes=sorted(adapter.disconnect_codes),
        sends_per_run=request.sends_per_run,
    )
    await activity.client().start_workflow(
        OutboxWorkflow.run,
        state,
        id=workflow_id,
        task_queue=activity.info().task_queue,
        start_signal="enqueue",
        start_signal_args=[item],
    )
    return workflow_id
