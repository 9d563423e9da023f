"""The broker's topics as the tests read them from outside the worker: the state table's
changelog (latest value per customer), every message of a topic (duplicates kept), the consumer
group's offsets."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from migration_app.contracts.schemas import CUSTOMER_TOPIC, RESULT_SUBJECT, load_schema
from migration_app.registry.avro import AvroCodec
from migration_app.registry.client import RegistryClient, RegistrySettings
from migration_app.settings import Settings

CHANGELOG_TOPIC = "migration-app-migration_state-changelog"


class StateReader:
    """The migration_state table as its changelog says (latest value per customer).

    Why the changelog and not GET /migrations/{id}: that view routes through Faust's
    table_route, which fails with HTTP 500 whenever the worker's producer metadata has lost the
    changelog topic (see test_state_view_answers_after_a_run). The changelog is the table's own
    source of truth. One consumer, read incrementally, on the harness's event loop.
    """

    def __init__(self, settings: Settings) -> None:
        self._bootstrap = [s.removeprefix("kafka://") for s in settings.faust_broker()]
        self._consumer: AIOKafkaConsumer | None = None
        self.latest: dict[str, dict[str, Any]] = {}

    async def refresh(self) -> int:
        """Apply what the changelog has now (one short fetch); returns the records read."""
        if self._consumer is None:  # aiokafka objects must be created on their loop
            self._consumer = AIOKafkaConsumer(
                CHANGELOG_TOPIC,
                bootstrap_servers=self._bootstrap,
                group_id=None,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                metadata_max_age_ms=1000,  # the topic may be created after we start
                request_timeout_ms=10_000,
            )
            await self._consumer.start()
        batch = await self._consumer.getmany(timeout_ms=100, max_records=10_000)
        for records in batch.values():
            for record in records:
                if record.key is not None and record.value is not None:
                    self.latest[_table_key(record.key)] = json.loads(record.value)
        return sum(len(records) for records in batch.values())

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()


class TopicReader:
    """Every message of one topic, read incrementally on the harness's loop and kept in a list
    (never reduced per key, so a duplicate write stays visible).

    ``catch_up`` reads up to the end offsets the broker reports at the time of the call. With
    ``decode_results`` each value is the decoded CustomerMigrationResult (app codec, registry).
    """

    def __init__(self, settings: Settings, topic: str, *, decode_results: bool = False) -> None:
        self._settings = settings
        self.topic = topic
        self._decode = decode_results
        self._consumer: AIOKafkaConsumer | None = None
        self._registry: RegistryClient | None = None
        self._codec: AvroCodec | None = None
        self._tps: list[TopicPartition] = []
        self.messages: list[dict[str, Any]] = []

    async def _start(self) -> None:
        bootstrap = [s.removeprefix("kafka://") for s in self._settings.faust_broker()]
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            request_timeout_ms=10_000,
        )
        await self._consumer.start()
        if self._decode:
            self._registry = RegistryClient(
                RegistrySettings(url=self._settings.registry_url, total_timeout=5.0)
            )
            await self._registry.start()
            self._codec = AvroCodec(self._registry, {RESULT_SUBJECT: load_schema(RESULT_SUBJECT)})

    async def _assign(self) -> None:
        assert self._consumer is not None
        if self._tps:
            return
        await self._consumer.topics()  # metadata of every topic, ours included
        partitions = self._consumer.partitions_for_topic(self.topic)
        if not partitions:
            return  # not created yet: nothing to read
        self._tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self._consumer.assign(self._tps)
        await self._consumer.seek_to_beginning(*self._tps)

    async def catch_up(self, within: float = 20.0) -> list[dict[str, Any]]:
        if self._consumer is None:
            await self._start()
        assert self._consumer is not None
        await self._assign()
        if not self._tps:
            return self.messages
        ends = await self._consumer.end_offsets(self._tps)
        deadline = time.monotonic() + within
        while [tp for tp, end in ends.items() if await self._consumer.position(tp) < end]:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.topic}: not read up to {ends} within {within}s")
            batch = await self._consumer.getmany(timeout_ms=200, max_records=10_000)
            for records in batch.values():
                for record in records:
                    value: Any = record.value
                    if self._decode and value is not None:
                        assert self._codec is not None
                        value = await self._codec.decode(value, RESULT_SUBJECT)
                    self.messages.append(
                        {
                            "key": record.key,
                            "value": value,
                            "headers": dict(record.headers or ()),
                            "partition": record.partition,
                            "offset": record.offset,
                        }
                    )
        return self.messages

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._registry is not None:
            await self._registry.close()


async def group_offsets(settings: Settings) -> dict[int, tuple[int | None, int]]:
    """`customer` partition -> (the app group's committed offset, the broker's end offset)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=[s.removeprefix("kafka://") for s in settings.faust_broker()],
        group_id="migration-app",
        enable_auto_commit=False,
        request_timeout_ms=10_000,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(CUSTOMER_TOPIC, p) for p in range(settings.topic_partitions)]
        ends = await consumer.end_offsets(tps)
        return {tp.partition: (await consumer.committed(tp), ends[tp]) for tp in tps}
    finally:
        await consumer.stop()


def _table_key(raw: bytes) -> str:
    """Raw UTF-8 keys (the table schema); JSON-string keys from older workers are accepted."""
    try:
        key = json.loads(raw)
    except ValueError:
        return raw.decode()
    return key if isinstance(key, str) else raw.decode()


async def read_topic(
    settings: Settings,
    topic: str,
    done: Callable[[list[dict[str, Any]]], bool],
    within: float,
) -> list[dict[str, Any]]:
    """Read ``topic`` from the earliest offset (no group) until ``done(messages)``, for at most
    ``within`` seconds.

    Each message is {key, value (raw bytes), headers, partition, offset}.
    """
    bootstrap = [s.removeprefix("kafka://") for s in settings.faust_broker()]
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        request_timeout_ms=10_000,
    )
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    await consumer.start()
    try:
        while not done(messages):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{topic}: condition not met within {within}s; {len(messages)} message(s) read"
                )
            batch = await consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
            for records in batch.values():
                for record in records:
                    messages.append(
                        {
                            "key": record.key,
                            "value": record.value,
                            "headers": dict(record.headers or ()),
                            "partition": record.partition,
                            "offset": record.offset,
                        }
                    )
    finally:
        await consumer.stop()
    return messages
