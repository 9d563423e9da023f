"""The migrate agent: a loop over batches of `customer` events. Rules live elsewhere."""

from __future__ import annotations

import asyncio
import logging

import faust
from faust.types import StreamT, TableT, TopicT

from migration_app.compat import faust_internals
from migration_app.settings import Settings
from migration_app.worker.fault_points import FaultPoints
from migration_app.worker.in_flight import InFlightBatches
from migration_app.worker.processor import BatchProcessor
from migration_app.worker.runtime import Runtime
from migration_app.worker.state_counts import StateCounts

log = logging.getLogger(__name__)

#: The agent's name, as it was when the agent was a module-level function (logs, `faust agents`).
AGENT_NAME = "migration_app.worker.agents.migrate"


def register(
    app: faust.App,
    settings: Settings,
    runtime: Runtime,
    *,
    source: TopicT,
    table: TableT,
    dlq_topic: TopicT,
    result_topic: TopicT,
    counts: StateCounts,
) -> BatchProcessor:
    """Add the migrate agent to ``app``; returns the processor all its actors share."""
    # One processor for all actors (MIGRATION_CONCURRENCY > 1): it keeps the set of customers in
    # flight, so two batches never migrate the same customer at once.
    processor = BatchProcessor(
        runtime,
        table,
        dlq_topic,
        result_topic,
        counts=counts,
        table_durable=lambda: changelog_acked(app, settings.broker_request_timeout),
        faults=FaultPoints(settings.fault_kill_at),
    )

    async def migrate(stream: StreamT) -> None:
        """Batches share Salesforce calls across customers; up to MIGRATION_PIPELINE_DEPTH run
        at once, each acked once handled (``in_flight``)."""
        await runtime.wait_ready()
        async with InFlightBatches(processor, settings.pipeline_depth) as in_flight:
            async for events in stream.take_events(
                settings.batch_size, within=settings.batch_within
            ):
                await in_flight.submit(events)

    app.agent(source, name=AGENT_NAME, concurrency=settings.concurrency)(migrate)

    @app.on_partitions_revoked.connect
    async def forget_revoked(sender: faust.App, revoked: set, **kwargs: object) -> None:
        processor.forget_partitions()

    return processor


async def changelog_acked(app: faust.App, limit_s: float) -> None:
    """The batch's table writes acknowledged by the broker before its events are acked; past
    ``limit_s`` the batch goes on (its result and audit are durable; only a kill in that
    window could show the state of before on a memory:// restart)."""
    try:
        await asyncio.wait_for(faust_internals.flush_producer(app), limit_s)
    except TimeoutError:
        log.warning("table changelog not acknowledged within %.0fs; acking the batch", limit_s)
