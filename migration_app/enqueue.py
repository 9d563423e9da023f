"""Publish CustomerReadyForMigration events (the `enqueue` command and `dev`)."""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from migration_app.avro import AvroCodec, encode_key
from migration_app.events import CustomerReadyForMigration
from migration_app.registry import RegistryClient, RegistrySettings
from migration_app.schemas import CUSTOMER_SUBJECT, CUSTOMER_TOPIC, RESULT_SUBJECT, load_schema
from migration_app.settings import Settings


def bootstrap_servers(settings: Settings) -> list[str]:
    return [server.removeprefix("kafka://") for server in settings.faust_broker()]


async def publish(
    settings: Settings,
    customer_ids: Iterable[str],
    *,
    dry_run: bool = False,
    force: bool = False,
    requested_by: str | None = None,
) -> int:
    """Encode through the registry (Confluent wire format) and send keyed by customer id."""
    ids = list(dict.fromkeys(customer_ids))
    registry = RegistryClient(
        RegistrySettings(
            url=settings.registry_url,
            username=settings.registry_username or None,
            password=settings.registry_password.reveal() or None,
            total_timeout=settings.registry_timeout,
        )
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(settings),
        request_timeout_ms=int(settings.broker_request_timeout * 1000),
        linger_ms=5,
        max_batch_size=settings.producer_max_batch_size,
    )
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
