"""The floor: a workflow with one no-op activity, run by a worker with the pipeline worker's
settings (concurrency and sandbox pass-through, its own module included, so the floor is as
cheap as a workflow gets). `python -m bench.floor` runs that worker until SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.worker import Worker

FLOOR_QUEUE = "bench-floor"
FLOOR_WORKFLOW = "BenchFloor"


@activity.defn(name="bench.noop")
async def noop() -> None:
    return None


@workflow.defn(name=FLOOR_WORKFLOW)
class FloorWorkflow:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=30))


async def main() -> None:
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

    from ingestlayer.settings import Settings
    from ingestlayer.temporal import connect
    from ingestlayer.workers import workflow_runner

    settings = Settings()
    client = await connect(settings, wait_seconds=30)
    worker = Worker(
        client,
        task_queue=FLOOR_QUEUE,
        workflows=[FloorWorkflow],
        activities=[noop],
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=workflow_runner().restrictions.with_passthrough_modules("bench")
        ),
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_concurrent_local_activities=settings.max_concurrent_local_activities,
        max_concurrent_activities=settings.max_concurrent_local_activities,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        print("floor worker polling", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
