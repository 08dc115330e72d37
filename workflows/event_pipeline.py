"""One workflow per event: run each subscribed pipeline's steps, fan out, dead-letter, redeliver."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.deliver import DeliveryActivities
    from ingestlayer import search_attributes as sa
    from ingestlayer.config import DestinationSpec, PipelineSpec
    from ingestlayer.destinations import REGISTRY
    from ingestlayer.events import Event
    from ingestlayer.outbox import EnqueueRequest, OutboxItem, OutboxReply
    from ingestlayer.status import (
        DeliveryInput,
        DeliveryStatus,
        EventInput,
        EventStatus,
        PipelineStatus,
        RedeliverRequest,
        StepInput,
        StepOutcome,
        StepOutput,
    )
    from workflows.failures import error_info, retry_after
    from workflows.outbox import REPLY_SIGNAL
    from workflows.steps import PURE_STEPS, apply_pure_step, when_holds

WORKFLOW_NAME = "EventPipeline"
STEPS_KEY = "*steps"
STEP_ACTIVITIES = {"classify": "classify", "redact.pii": "redact.pii"}
STEP_TIMEOUT = timedelta(seconds=60)
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)
ENQUEUE_TIMEOUT = timedelta(seconds=10)
OUTBOX_WATCHDOG = timedelta(hours=1)


@workflow.defn(name=WORKFLOW_NAME)
class EventPipelineWorkflow:
    @workflow.init
    def __init__(self, input: EventInput) -> None:
        self._input = input
        self._status = EventStatus(
            id=input.event.id, type=input.event.type, received_at=input.event.timestamp
        )
        self._redeliver: dict[tuple[str, str], RedeliverRequest] = {}
        self._published: tuple[str, tuple[str, ...]] = ("running", ())
        self._replies: dict[str, OutboxReply] = {}

    @workflow.query
    def status(self) -> EventStatus:
        return self._status

    @workflow.signal
    def redeliver(self, request: RedeliverRequest) -> None:
        for pipeline, delivery in self._status.dead_letters():
            if request.applies_to(pipeline, delivery):
                self._redeliver[(pipeline, delivery.destination)] = request
        if request.destination is None:
            for failed in self._status.failed_pipelines():
                if request.pipeline in (None, failed.name):
                    self._redeliver[(failed.name, STEPS_KEY)] = request

    @workflow.signal(name=REPLY_SIGNAL)
    def delivery_result(self, reply: OutboxReply) -> None:
        self._replies[reply.key] = reply

    @workflow.run
    async def run(self, input: EventInput) -> EventStatus:
        await asyncio.gather(*(self._pipeline(pipeline) for pipeline in input.pipelines))
        self._refresh()
        return self._status

    async def _pipeline(self, pipeline: PipelineSpec) -> None:
        ps = PipelineStatus(name=pipeline.name)
        self._status.pipelines.append(ps)
        event: Event | None = self._input.event
        index = 0
        while index < len(pipeline.steps) and event is not None:
            step = pipeline.steps[index]
            if step.kind in PURE_STEPS:
                after, outcome = apply_pure_step(step, event)
                ps.steps.append(outcome)
                if outcome.outcome == "failed":
                    if not await self._held_until_redelivered(ps, pipeline.name):
                        return
                    continue
                event = after
            else:
                try:
                    out = await workflow.execute_local_activity(
                        STEP_ACTIVITIES[step.kind],
                        StepInput(event=event, pipeline=pipeline.name, args=step.args),
                        result_type=StepOutput,
                        start_to_close_timeout=STEP_TIMEOUT,
                        retry_policy=STEP_RETRY,
                    )
                except FailureError as err:
                    info, _ = error_info(err)
                    ps.steps.append(
                        StepOutcome(
                            step=step.kind, outcome="failed", detail={"error": info.model_dump()}
                        )
                    )
                    if not await self._held_until_redelivered(ps, pipeline.name):
                        return
                    continue
                event = out.event
                ps.steps.append(StepOutcome(step=step.kind, outcome="applied", detail=out.detail))
            index += 1
        if event is None:
            ps.state = "filtered"
            return
        ps.labels = event.labels
        deliveries = []
        for destination in pipeline.destinations:
            dstatus = DeliveryStatus(destination=destination.name, kind=destination.kind)
            ps.deliveries.append(dstatus)
            if not when_holds(destination.when, event):
                dstatus.state = "skipped"
                continue
            deliveries.append(self._deliver(pipeline, destination, event, dstatus))
        await asyncio.gather(*deliveries)

    async def _held_until_redelivered(self, ps: PipelineStatus, pipeline: str) -> bool:
        """A failed step holds its pipeline as a dead letter: True once a redeliver asks for
        the step again, False when the retention ran out first."""
        ps.state = "failed"
        self._refresh()
        if not await self._wait_for_redelivery((pipeline, STEPS_KEY)):
            ps.state = "expired"
            return False
        ps.steps.pop()
        ps.state = "running"
        return True

    async def _wait_for_redelivery(self, key: tuple[str, str]) -> RedeliverRequest | None:
        try:
            await workflow.wait_condition(
                lambda: key in self._redeliver,
                timeout=timedelta(seconds=self._input.dead_letter_retention_seconds),
            )
        except TimeoutError:
            return None
        return self._redeliver.pop(key)

    async def _deliver(
        self, pipeline: PipelineSpec, dest: DestinationSpec, event: Event, ds: DeliveryStatus
    ) -> None:
        options = dest.options
        first_round = True
        paced = REGISTRY[dest.kind].paced if dest.kind in REGISTRY else False
        while True:
            if paced:
                sent = await self._queued_round(pipeline, dest, options, event, ds)
            else:
                sent = await self._round(pipeline, dest, options, event, ds, first_round)
            if sent:
                break
            ds.state = "dead_lettered"
            ds.dead_lettered_at = workflow.now()
            self._refresh()
            request = await self._wait_for_redelivery((pipeline.name, dest.name))
            if request is None:
                ds.state = "expired"
                break
            if request.options:
                options = {**options, **request.options}
            ds.redeliveries += 1
            ds.state = "retrying"
            self._refresh()
            first_round = False
        self._refresh()

    async def _round(
        self,
        pipeline: PipelineSpec,
        dest: DestinationSpec,
        options: dict[str, Any],
        event: Event,
        ds: DeliveryStatus,
        first_round: bool,
    ) -> bool:
        """One round of attempts. The first round tries once as a local activity (no extra round
        trip when the destination is healthy), then falls back to a regular activity on the
        destination kind's delivery queue for durable backoff."""
        retry = dest.retry
        args = DeliveryInput(
            event=event,
            pipeline=pipeline.name,
            destination=dest.name,
            kind=dest.kind,
            options=options,
        )
        remaining = retry.max_attempts
        first_delay = retry.initial_interval
        if first_round:
            ds.state = "delivering"
            ds.attempts += 1
            try:
                out = await workflow.execute_local_activity_method(
                    DeliveryActivities.deliver,
                    args,
                    start_to_close_timeout=timedelta(seconds=retry.attempt_timeout),
                    retry_policy=RetryPolicy(maximum_attempts=1),
                )
                self._delivered(ds, out.result)
                return True
            except FailureError as err:
                info, _ = error_info(err)
                ds.last_error = info
                remaining -= 1
                if not info.retryable or remaining <= 0:
                    return False
                delay = retry_after(err)
                first_delay = delay if delay is not None else retry.initial_interval
        ds.state = "retrying"
        if first_round:
            await workflow.sleep(timedelta(seconds=first_delay))
            initial = min(retry.initial_interval * retry.backoff, retry.max_interval)
        else:
            initial = retry.initial_interval
        try:
            out = await workflow.execute_activity_method(
                DeliveryActivities.deliver,
                args,
                task_queue=f"{self._input.delivery_queue_prefix}-{dest.kind}",
                activity_id=f"deliver/{pipeline.name}/{dest.name}/{ds.redeliveries}",
                start_to_close_timeout=timedelta(seconds=retry.attempt_timeout),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=initial),
                    backoff_coefficient=retry.backoff,
                    maximum_interval=timedelta(seconds=retry.max_interval),
                    maximum_attempts=remaining,
                ),
            )
            ds.attempts += out.attempt
            self._delivered(ds, out.result)
            return True
        except FailureError as err:
            info, attempt = error_info(err)
            ds.last_error = info
            ds.attempts += attempt if attempt is not None else remaining
            return False

    async def _queued_round(
        self,
        pipeline: PipelineSpec,
        dest: DestinationSpec,
        options: dict[str, Any],
        event: Event,
        ds: DeliveryStatus,
    ) -> bool:
        """A paced destination's round: join the target's outbox and wait for its reply. The
        outbox keeps arrival order, spacing and retries; re-joining after a long silence is
        harmless because the outbox recognises the item's key."""
        info = workflow.info()
        item = OutboxItem(
            reply_to=info.workflow_id,
            pipeline=pipeline.name,
            destination=dest.name,
            round=ds.redeliveries,
            arrived_at=info.workflow_start_time if ds.redeliveries == 0 else workflow.now(),
            delivery=DeliveryInput(
                event=event,
                pipeline=pipeline.name,
                destination=dest.name,
                kind=dest.kind,
                options=options,
            ),
            retry=dest.retry,
        )
        request = EnqueueRequest(
            item=item,
            delivery_queue_prefix=self._input.delivery_queue_prefix,
            sends_per_run=self._input.outbox_sends_per_run,
        )
        while item.key not in self._replies:
            try:
                ds.outbox = await workflow.execute_local_activity(
                    "outbox.enqueue",
                    request,
                    result_type=str,
                    start_to_close_timeout=ENQUEUE_TIMEOUT,
                    retry_policy=STEP_RETRY,
                )
            except FailureError as err:
                ds.last_error, _ = error_info(err)
                return False
            ds.state = "queued"
            self._refresh()
            try:
                await workflow.wait_condition(
                    lambda: item.key in self._replies, timeout=OUTBOX_WATCHDOG
                )
            except TimeoutError:
                continue
        reply = self._replies.pop(item.key)
        ds.attempts += reply.attempts
        if reply.ok:
            self._delivered(ds, reply.result or {})
            return True
        ds.last_error = reply.error
        return False

    def _delivered(self, ds: DeliveryStatus, result: dict[str, Any]) -> None:
        ds.state = "delivered"
        ds.result = result
        ds.delivered_at = workflow.now()

    def _refresh(self) -> None:
        """Derive pipeline and event states from steps and deliveries; mirror them in search
        attributes (only when they change, so a quiet workflow adds no commands)."""
        active = {"pending", "queued", "delivering", "retrying"}
        for p in self._status.pipelines:
            if p.state in ("filtered", "failed", "expired"):
                continue
            states = {d.state for d in p.deliveries}
            if "dead_lettered" in states:
                p.state = "dead_lettered"
            elif states & active:
                p.state = "running"
            elif "expired" in states:
                p.state = "expired"
            else:
                p.state = "completed"
        pipelines = self._status.pipelines
        pipeline_states = {p.state for p in pipelines}
        if not self._input.pipelines:
            self._status.state = "unrouted"
        elif "failed" in pipeline_states:
            self._status.state = "failed"
        elif "dead_lettered" in pipeline_states:
            self._status.state = "dead_lettered"
        elif "running" in pipeline_states or len(pipelines) < len(self._input.pipelines):
            self._status.state = "running"
        elif "expired" in pipeline_states:
            self._status.state = "expired"
        elif pipeline_states == {"filtered"}:
            self._status.state = "filtered"
        else:
            self._status.state = "completed"
        dead = [f"{p}/{d.destination}" for p, d in self._status.dead_letters()]
        dead += [f"{p.name}/{STEPS_KEY}" for p in self._status.failed_pipelines()]
        published = (self._status.state, tuple(dead))
        if published != self._published:
            self._published = published
            workflow.upsert_search_attributes(
                [
                    sa.STATUS.value_set(self._status.state),
                    sa.DEAD_LETTER.value_set(bool(dead)),
                    sa.DEAD_LETTER_DESTINATIONS.value_set(dead),
                ]
            )
