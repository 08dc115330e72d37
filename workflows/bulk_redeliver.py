"""One bulk redelivery: list a destination's dead letters page by page and signal each event to
redeliver, paced, continuing as new after a bounded number so the history stays small.

Signals go in batches of about a second's worth; the activity spaces them, because a workflow
timer here fires on whole seconds. Waits of a second or more (slow rates) are durable timers."""

from __future__ import annotations

import math
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from ingestlayer.bulk_redelivery import (
        PROGRESS_QUERY,
        WORKFLOW_NAME,
        BatchResult,
        BulkRedeliveryProgress,
        BulkRedeliveryState,
        Page,
        PageRequest,
        SignalBatch,
    )
    from workflows.failures import error_info

LIST_TIMEOUT = timedelta(seconds=30)
LIST_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
)
SIGNAL_TIMEOUT = timedelta(seconds=60)
SIGNAL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=0.5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
)


@workflow.defn(name=WORKFLOW_NAME)
class BulkRedeliverWorkflow:
    @workflow.init
    def __init__(self, state: BulkRedeliveryState) -> None:
        self._s = state
        self._handled_this_run = 0

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> BulkRedeliveryProgress:
        return self._s.progress

    @workflow.run
    async def run(self, state: BulkRedeliveryState) -> BulkRedeliveryProgress:
        s = self._s
        p = s.progress
        if p.started_at is None:
            p.started_at = workflow.now()
        rate = p.request.rate_per_second
        batch_size = max(1, math.ceil(rate))
        while True:
            if not s.pending:
                try:
                    page = await self._next_page()
                except FailureError as err:
                    info, _ = error_info(err)
                    p.state, p.error = "failed", f"listing dead letters failed: {info.message}"
                    break
                if not page.items:
                    p.state = "completed"
                    break
                continue
            if self._handled_this_run > 0 and (
                self._handled_this_run >= s.signals_per_run
                or workflow.info().is_continue_as_new_suggested()
            ):
                p.runs += 1
                workflow.continue_as_new(s)
            if s.not_before is not None:
                wait = s.not_before - workflow.now().timestamp()
                if wait >= 1.0:
                    await workflow.sleep(wait)
            batch = s.pending[:batch_size]
            try:
                result = await workflow.execute_local_activity(
                    "redeliver.signal_batch",
                    SignalBatch(
                        event_ids=batch,
                        destination=p.request.destination,
                        interval=1 / rate,
                        not_before=s.not_before,
                    ),
                    result_type=BatchResult,
                    start_to_close_timeout=SIGNAL_TIMEOUT,
                    retry_policy=SIGNAL_RETRY,
                )
                outcomes: list[str] = list(result.outcomes)
                s.not_before = result.not_before
            except FailureError:
                outcomes = ["failed"] * len(batch)
            del s.pending[: len(batch)]
            self._handled_this_run += len(batch)
            for outcome in outcomes:
                if outcome == "signalled":
                    p.signalled += 1
                elif outcome == "skipped":
                    p.skipped += 1
                elif outcome == "missing":
                    p.missing += 1
                else:
                    p.failed += 1
        p.finished_at = workflow.now()
        return p

    async def _next_page(self) -> Page:
        """Advance the cursor past the page, so nothing listed here is listed again this run."""
        s = self._s
        page = await workflow.execute_local_activity(
            "redeliver.list_page",
            PageRequest(
                request=s.progress.request,
                cursor=s.cursor,
                exclude=s.exclude,
                page_size=s.page_size,
            ),
            result_type=Page,
            start_to_close_timeout=LIST_TIMEOUT,
            retry_policy=LIST_RETRY,
        )
        if page.items:
            oldest = page.items[-1].started
            at_oldest = [item.id for item in page.items if item.started == oldest]
            s.exclude = s.exclude + at_oldest if oldest == s.cursor else at_oldest
            s.cursor = oldest
            s.pending = [item.id for item in page.items]
            s.progress.matched += len(page.items)
        return page
