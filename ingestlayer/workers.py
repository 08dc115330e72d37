"""The worker process: the pipeline queue (workflows, local activities) and one delivery queue per
destination kind, each with its own concurrency limit so a slow destination never starves others."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import bulk_redeliver, outbox
from activities.deliver import DeliveryActivities
from activities.steps import StepActivities
from ingestlayer import redaction
from ingestlayer.classify import close_caches
from ingestlayer.destinations import REGISTRY
from ingestlayer.destinations.http import close_clients
from ingestlayer.destinations.notion import close_clients as close_notion_clients
from ingestlayer.destinations.postgres import close_pools
from ingestlayer.destinations.slack import close_sessions
from ingestlayer.destinations.ssrf import OutboundPolicy
from ingestlayer.settings import Settings
from ingestlayer.temporal import connect
from workflows.bulk_redeliver import BulkRedeliverWorkflow
from workflows.event_pipeline import EventPipelineWorkflow
from workflows.outbox import OutboxWorkflow

log = logging.getLogger("ingestlayer.worker")

# Our workflow code and the models it reads are deterministic and hold no module state, so the
# sandbox may share them instead of re-importing (and, without bytecode caches, recompiling)
# them for every workflow run: that re-import was most of a worker's CPU per event.
PASSTHROUGH_MODULES = ("workflows", "activities", "ingestlayer", "pydantic", "yaml", "jsonschema")


def workflow_runner() -> SandboxedWorkflowRunner:
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def build_workers(client: Client, settings: Settings) -> list[Worker]:
    activities = DeliveryActivities(
        public_base_url=settings.public_base_url,
        outbound=OutboundPolicy.from_strings(settings.outbound_allow),
    )
    dsn = settings.database_url.get_secret_value() if settings.database_url else None
    steps = StepActivities(cache_dsn=dsn)
    workers = [
        Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[EventPipelineWorkflow, OutboxWorkflow, BulkRedeliverWorkflow],
            workflow_runner=workflow_runner(),
            activities=[
                activities.deliver,
                steps.classify,
                steps.redact,
                outbox.enqueue,
                bulk_redeliver.list_page,
                bulk_redeliver.signal_batch,
            ],
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
            max_concurrent_local_activities=settings.max_concurrent_local_activities,
            max_concurrent_activities=settings.max_concurrent_local_activities,
        )
    ]
    for kind in REGISTRY:
        workers.append(
            Worker(
                client,
                task_queue=settings.delivery_queue(kind),
                activities=[activities.deliver],
                max_concurrent_activities=settings.delivery_concurrency.get(
                    kind, settings.default_delivery_concurrency
                ),
            )
        )
    return workers


@contextlib.asynccontextmanager
async def running_workers(client: Client, settings: Settings) -> AsyncIterator[list[Worker]]:
    """Run every worker of this process until the block exits, then shut down gracefully."""
    workers = build_workers(client, settings)
    warm = asyncio.create_task(asyncio.to_thread(redaction.warm_up))
    tasks = [asyncio.create_task(worker.run()) for worker in workers]
    try:
        yield workers
    finally:
        await asyncio.gather(*(worker.shutdown() for worker in workers), return_exceptions=True)
        await asyncio.gather(*tasks, warm, return_exceptions=True)
        await close_clients()
        await close_pools()
        await close_sessions()
        await close_notion_clients()
        await close_caches()


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    client = await connect(settings, wait_seconds=30)
    async with running_workers(client, settings) as workers:
        log.info("worker polling %s", ", ".join(w.task_queue for w in workers))
        await stop.wait()
    log.info("worker stopped")
