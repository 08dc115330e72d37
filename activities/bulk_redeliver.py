"""The bulk redelivery's two steps, run as local activities on the pipeline worker: list a page
of dead letters, signal about a second's worth of events. A visibility query the server rejects is not retried."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from ingestlayer import bulk_redelivery
from ingestlayer.bulk_redelivery import BatchResult, Page, PageRequest, SignalBatch


@activity.defn(name="redeliver.list_page")
async def list_page(request: PageRequest) -> Page:
    try:
        return await bulk_redelivery.list_page(activity.client(), request)
    except RPCError as exc:
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            raise ApplicationError(
                exc.message, {"code": "invalid_query"}, type="InvalidQuery", non_retryable=True
            ) from None
        raise


@activity.defn(name="redeliver.signal_batch")
async def signal_batch(batch: SignalBatch) -> BatchResult:
    return await bulk_redelivery.signal_batch(activity.client(), batch)
