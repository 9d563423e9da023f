"""Publish CustomerReadyForMigration events (the `enqueue` command and `dev`)."""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from migration_app.client_config import producer_config, registry_config
from migration_app.contracts.events import MIGRATE, CustomerReadyForMigration
from migration_app.contracts.schemas import (
    CUSTOMER_SUBJECT,
    CUSTOMER_TOPIC,
    RESULT_SUBJECT,
    load_schema,
)
from migration_app.registry.avro import AvroCodec, encode_key
from migration_app.registry.client import RegistryClient
from migration_app.settings import Settings


async def publish(
    settings: Settings,
    customer_ids: Iterable[str],
    *,
    dry_run: bool = False,
    force: bool = False,
    requested_by: str | None = None,
    action: str = MIGRATE,
) -> int:
    """Encode through the registry (Confluent wire format) and send keyed by customer id."""
    ids = list(dict.fromkeys(customer_ids))
    registry = RegistryClient(registry_config(settings))
    producer = AIOKafkaProducer(**producer_config(settings))
    async with registry:
        codec = AvroCodec(
            registry,
            {
                CUSTOMER_SUBJECT: load_schema(CUSTOMER_SUBJECT),
                RESULT_SUBJECT: load_schema(RESULT_SUBJECT),
            },
        )
        await codec.start()
        await producer.start()
        try:
            who = requested_by or getpass.getuser()
            futures = []
            for customer_id in ids:
                event = CustomerReadyForMigration(
                    customer_id=customer_id,
                    occurred_at=datetime.now(UTC),
                    correlation_id=str(uuid.uuid4()),
                    requested_by=who,
                    dry_run=dry_run,
                    force=force,
                    action=action,
                )
                value = codec.encode(event.to_avro(), CUSTOMER_SUBJECT)
                futures.append(
                    await producer.send(CUSTOMER_TOPIC, value, key=encode_key(customer_id))
                )
            for future in futures:
                await future
        finally:
            await producer.stop()
    return len(ids)
