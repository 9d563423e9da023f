"""Put table entries straight into the ``migration_state`` changelog, as the worker writes them.

Why: measuring (and testing) table recovery at 100,000 customers must not mean migrating
100,000 customers through Salesforce first. A changelog record is exactly what the worker's
table write produces: key = the customer id as raw UTF-8 bytes (the table's ``key_type=bytes``),
value = the ``MigrationState`` record in Faust's JSON (``Record.dumps()``, with its ``__faust``
namespace), on the partition aiokafka's default partitioner (murmur2 of the key) picks, which
is the partition of the customer's own ``customer`` event. A worker replays these like any
other entry.
"""

from __future__ import annotations

import time

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from migration_app.app import APP_ID, TABLE_NAME
from migration_app.contracts.customer_status import CustomerStatus
from migration_app.settings import Settings
from migration_app.worker.migration_state import MigrationState

CHANGELOG_TOPIC = f"{APP_ID}-{TABLE_NAME}-changelog"


def entry(customer_id: str) -> tuple[bytes, bytes]:
    """(key, value) bytes of one COMPLETED customer, as the table writes them."""
    now = time.time()
    state = MigrationState(
        customer_id=customer_id,
        status=CustomerStatus.COMPLETED.value,
        attempt=1,
        correlation_id=f"fill-{customer_id}",
        updated_at=now,
        started_at=now,
        finished_at=now,
        v2_account_id="001FILL" + customer_id[-11:],
        counts={"Account": 1, "Contact": 2, "Case": 1, "Meter_Point__c": 1},
    )
    return customer_id.encode(), state.dumps()


async def ensure_changelog_topic(settings: Settings) -> None:
    """The changelog as Faust creates it (the app's partition count), if it does not exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=_bootstrap(settings), request_timeout_ms=10_000)
    await admin.start()
    try:
        topic = NewTopic(
            CHANGELOG_TOPIC,
            num_partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
            topic_configs={"cleanup.policy": "compact"},
        )
        try:
            await admin.create_topics([topic])
        except TopicAlreadyExistsError:
            pass
    finally:
        await admin.close()


async def fill_changelog(settings: Settings, count: int, *, prefix: str = "FILL") -> int:
    """Write ``count`` COMPLETED entries (ids ``{prefix}{n:09d}``); returns how many."""
    await ensure_changelog_topic(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=_bootstrap(settings),
        # The dev broker needs one record per producer batch (README, DESIGN.md).
        max_batch_size=settings.producer_max_batch_size,
        linger_ms=0,
        acks=1,
        request_timeout_ms=30_000,
    )
    await producer.start()
    try:
        pending = []
        for n in range(count):
            key, value = entry(f"{prefix}{n:09d}")
            pending.append(await producer.send(CHANGELOG_TOPIC, value, key=key))
            if len(pending) >= 5_000:
                for future in pending:
                    await future
                pending.clear()
        for future in pending:
            await future
    finally:
        await producer.stop()
    return count


def _bootstrap(settings: Settings) -> list[str]:
    return [s.removeprefix("kafka://") for s in settings.faust_broker()]
