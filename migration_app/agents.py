"""The migrate agent: a loop over batches of `customer` events. Rules live elsewhere."""

from __future__ import annotations

from migration_app.app import (
    app,
    customer_topic,
    dlq_topic,
    migration_state,
    result_topic,
    runtime,
    settings,
)
from migration_app.processor import BatchProcessor

# One processor for all actors (MIGRATION_CONCURRENCY > 1): it keeps the set of customers in
# flight, so two batches never migrate the same customer at once.
processor = BatchProcessor(runtime, migration_state, dlq_topic, result_topic)


@app.agent(customer_topic, concurrency=settings.concurrency)
async def migrate(stream):  # type: ignore[no-untyped-def]
    """Batches share Salesforce calls across customers; Faust acks a batch after it is handled."""
    await runtime.wait_ready()
    async for events in stream.take_events(settings.batch_size, within=settings.batch_within):
        await processor.handle(events)
