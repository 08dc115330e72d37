"""The small crash run of `make chaos`: 100 events through the support pipeline, the worker
process SIGKILLed once while it delivers, nothing lost and nothing doubled."""

from __future__ import annotations

import pytest

from bench.chaos.harness import chaos_stack, crash_run

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_worker_killed_mid_delivery_loses_and_doubles_nothing() -> None:
    # The receiver answers after 0.3 s, so at the kill most in-flight events have their row
    # inserted but their workflow not yet done: the restarted worker repeats those deliveries.
    async with chaos_stack(hook_delay=0.3) as stack:
        report = await crash_run(
            stack, 100, worker_kills=1, concurrency=16, rate=40, settle_within=90
        )
    print(report.table())

    assert report.problems() == []
    assert report.worker_kills == 1
    assert report.in_flight_at_kills[0] > 0
    assert report.sent == report.accepted == report.temporal_events == report.completed == 100
    assert report.rows_total == report.in_table == 100
    assert report.duplicate_rows == 0
    assert report.missing_rows == []
    assert report.receiver_unique == 100
    assert report.receiver_missing == []
    assert report.header_mismatches == 0
    # the kill did interrupt deliveries: some were sent again, and the repeated inserts found
    # their row (ON CONFLICT DO NOTHING) instead of failing on the unique key or doubling it
    assert report.redeliveries > 0
    assert report.inserts_found_row > 0
