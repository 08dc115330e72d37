"""One outbox per rate-limited target: deliveries queue in arrival order and go one at a time,
paced, so a burst is delivered in full instead of being answered with 429s.

Arrival is when Temporal accepted the event. An event reaches its outbox a few milliseconds
after that, so near-simultaneous events can reach it out of order; the queue is kept sorted by
arrival, and an item is sent only once it arrived long enough ago that anything that arrived
before it has had time to join the queue: twice the recent enqueue lag (how long events take from
acceptance to their outbox; it grows under load), at least 0.5 s. A backlog never waits for this:
its head arrived long ago.
"""

from __future__ import annotations

import bisect
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from ingestlayer.outbox import (
        DISCONNECTED_HOLD_SECONDS,
        RECENT_REPLIES,
        OutboxItem,
        OutboxReply,
        OutboxState,
        OutboxView,
    )
    from ingestlayer.status import DeliveryOutput, ErrorInfo
    from workflows.failures import error_info

WORKFLOW_NAME = "Outbox"
REPLY_SIGNAL = "delivery_result"
IDLE = timedelta(minutes=5)
MIN_ORDER_WINDOW = 0.5
MAX_ORDER_WINDOW = 10.0
LAG_DECAY = 0.95


@workflow.defn(name=WORKFLOW_NAME)
class OutboxWorkflow:
    @workflow.init
    def __init__(self, state: OutboxState) -> None:
        self._s = state
        self._keys = {item.key for item in state.queue}
        self._sending: OutboxItem | None = None
        self._resend: list[OutboxReply] = []
        self._sends_this_run = 0

    @workflow.signal
    def enqueue(self, item: OutboxItem) -> None:
        key = item.key
        if key in self._keys:
            return
        done = self._s.recent.get(key)
        if done is not None:
            self._resend.append(done)
            return
        self._keys.add(key)
        if item.round == 0:
            lag = (workflow.now() - item.arrived_at).total_seconds()
            self._s.enqueue_lag = max(lag, self._s.enqueue_lag * LAG_DECAY)
        order = [(q.arrived_at, q.key) for q in self._s.queue]
        self._s.queue.insert(bisect.bisect_right(order, (item.arrived_at, key)), item)

    @workflow.query
    def state(self) -> OutboxView:
        return OutboxView(
            label=self._s.label,
            runs=self._s.runs,
            queued=[item.key for item in self._s.queue],
            sending=self._sending.key if self._sending else None,
            sent=self._s.sent,
            disconnected=self._s.disconnected,
        )

    @workflow.run
    async def run(self, state: OutboxState) -> int:
        while True:
            while self._resend:
                await self._reply(self._resend.pop(0))
            if not self._s.queue:
                try:
                    await workflow.wait_condition(
                        lambda: bool(self._s.queue or self._resend), timeout=IDLE
                    )
                except TimeoutError:
                    if not self._s.queue and not self._resend:
                        return self._s.sent
                continue
            if (
                self._sends_this_run >= self._s.sends_per_run
                or workflow.info().is_continue_as_new_suggested()
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                self._s.runs += 1
                workflow.continue_as_new(self._s)
            settle = self._s.queue[0].arrived_at + self._order_window() - workflow.now()
            if settle > timedelta(0):
                await workflow.sleep(settle)
                continue
            item = self._s.queue.pop(0)
            self._sending = item
            reply = await self._send(item)
            self._sending = None
            self._keys.discard(item.key)
            self._remember(reply)
            await self._reply(reply)

    def _order_window(self) -> timedelta:
        seconds = min(MAX_ORDER_WINDOW, max(MIN_ORDER_WINDOW, 2 * self._s.enqueue_lag))
        return timedelta(seconds=seconds)

    async def _send(self, item: OutboxItem) -> OutboxReply:
        held = self._held_error(item)
        if held is not None:
            return OutboxReply(
                key=item.key, reply_to=item.reply_to, ok=False, attempts=0, error=held
            )
        retry = item.retry
        args = item.delivery.model_copy(
            update={"not_before": self._s.next_slot, "first_try": item.round == 0}
        )
        self._sends_this_run += 1
        try:
            out = await workflow.execute_activity(
                "deliver",
                args,
                result_type=DeliveryOutput,
                task_queue=self._s.delivery_queue,
                activity_id=f"send/{item.key}",
                start_to_close_timeout=timedelta(
                    seconds=retry.attempt_timeout + 2 * self._s.interval
                ),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=retry.initial_interval),
                    backoff_coefficient=retry.backoff,
                    maximum_interval=timedelta(seconds=retry.max_interval),
                    maximum_attempts=retry.max_attempts,
                ),
            )
        except FailureError as err:
            info, attempt = error_info(err)
            self._after_attempt(None)
            if info.code in self._s.disconnect_codes:
                self._s.disconnected = info
                self._s.disconnected_at = workflow.now()
            return OutboxReply(
                key=item.key,
                reply_to=item.reply_to,
                ok=False,
                attempts=attempt if attempt is not None else retry.max_attempts,
                error=info,
            )
        self._after_attempt(out.next_slot)
        self._s.sent += 1
        self._s.disconnected = None
        self._s.disconnected_at = None
        return OutboxReply(
            key=item.key, reply_to=item.reply_to, ok=True, attempts=out.attempt, result=out.result
        )

    def _held_error(self, item: OutboxItem) -> ErrorInfo | None:
        """While the target is disconnected (a revoked token), new items dead-letter at once
        without a call; a redelivery (the user says it is fixed) or the first item after the
        hold goes through for real and clears the state if it succeeds."""
        since, error = self._s.disconnected_at, self._s.disconnected
        if since is None or error is None or item.round > 0:
            return None
        if (workflow.now() - since).total_seconds() >= DISCONNECTED_HOLD_SECONDS:
            return None
        return ErrorInfo(
            code=error.code,
            message=f"not sent: {self._s.label} is disconnected ({error.message})",
            retryable=False,
            hint=error.hint,
        )

    def _after_attempt(self, next_slot: float | None) -> None:
        floor = workflow.now().timestamp() + self._s.interval
        self._s.next_slot = next_slot if next_slot is not None else floor

    def _remember(self, reply: OutboxReply) -> None:
        self._s.recent[reply.key] = reply
        while len(self._s.recent) > RECENT_REPLIES:
            del self._s.recent[next(iter(self._s.recent))]

    async def _reply(self, reply: OutboxReply) -> None:
        try:
            await workflow.get_external_workflow_handle(reply.reply_to).signal(REPLY_SIGNAL, reply)
        except FailureError:
            workflow.logger.warning("event workflow %s is gone; reply dropped", reply.reply_to)
