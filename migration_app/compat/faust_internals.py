"""Faust (faust-streaming 0.15.x) and its aiokafka driver: the private API we rely on.

* ``faust.streams._current_event``: the processor writes a customer's table entry with that
  customer's own event as current, so the changelog record lands on the right partition.
* ``Producer._ensure_producer``: the aiokafka producer behind Faust's, for metadata requests
  (health check, table-route metadata) without opening a new connection.
* ``Recovery.active_tps``, ``Recovery.active_remaining``, ``Recovery.standby_tps``: the
  partitions being recovered and the changelog offsets left, for ``/health/ready`` during a
  recovery and for counting the records a restart replays (``table_recovery``).
* ``rocksdb.Store._dbs``, ``memory.Store.data`` / ``_key_partition``: one partition's values of
  the table, read once when the partition is assigned, to rebuild its counts (``state_counts``).
* ``App._new_transport``, ``Consumer._new_consumer_thread``, ``Consumer._thread``,
  ``Consumer._read_offset``, ``ConsumerThread._ensure_consumer``: the hooks and state the
  rewinding transport (``kafka_consumer``) overrides and adjusts.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import faust
from faust import streams
from faust.stores import memory as memory_store
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, AppT, EventT

from migration_app.compat._required import Required, missing

REQUIRED = [
    Required(streams, "_current_event", "table writes on the customer's own partition"),
    Required(faust_aiokafka.Producer, "_ensure_producer", "metadata through the app's producer"),
    Required(Recovery, "active_remaining", "recovery progress in /health/ready"),
    Required(Recovery, "in_recovery", "recovery progress in /health/ready"),
    Required(faust.App, "_new_transport", "the rewinding kafka:// transport"),
    Required(memory_store.Store, "apply_changelog_batch", "memory table values per partition"),
    Required(faust_aiokafka.Consumer, "_new_consumer_thread", "the rewinding consumer thread"),
    Required(faust_aiokafka.AIOKafkaConsumerThread, "_ensure_consumer", "seeks on the thread"),
    Required(faust_aiokafka.AIOKafkaConsumerThread, "call_thread", "run seeks on its loop"),
    Required(faust_aiokafka.AIOKafkaConsumerThread, "_consumer", "close it after a failed stop"),
    Required(faust_aiokafka, "ensure_aiokafka_TP", "Faust TP -> aiokafka TopicPartition"),
]


def missing_attributes() -> list[str]:
    return missing(REQUIRED) + _missing_instance_state()


def _missing_instance_state() -> list[str]:
    """``_read_offset`` and ``_thread`` are set in ``Consumer.__init__``: look at the source."""
    import inspect

    source = inspect.getsource(faust.transport.consumer.Consumer.__init__)
    source += inspect.getsource(faust.transport.consumer.ThreadDelegateConsumer.__init__)
    lost = [
        f"faust.transport.consumer.Consumer.{name} (used for: rewinding held-back partitions)"
        for name in ("_read_offset", "_thread")
        if f"self.{name}" not in source
    ]
    memory = inspect.getsource(memory_store.Store.__post_init__)
    lost += [
        f"faust.stores.memory.Store.{name} (used for: table counts per partition)"
        for name in ("data", "_key_partition")
        if f"self.{name}" not in memory
    ]
    recovery = inspect.getsource(Recovery.__init__)
    lost += [
        f"faust.tables.recovery.Recovery.{name} (used for: recovery progress and replay counts)"
        for name in ("active_tps", "standby_tps")
        if f"self.{name}" not in recovery
    ]
    return lost


@contextmanager
def current_event(event: EventT) -> Iterator[None]:
    """Make ``event`` Faust's current event for table writes inside the block."""
    token = streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        streams._current_event.reset(token)


def kafka_producer(app: AppT) -> Any:
    """The running aiokafka producer behind ``app.producer`` (``NotReady`` before it starts)."""
    return app.producer._ensure_producer()  # type: ignore[attr-defined]


def consumer_thread(consumer: Any) -> Any:
    """The consumer's thread delegate (where the aiokafka consumer lives)."""
    return consumer._thread


def aiokafka_consumer(thread: Any) -> Any:
    """The aiokafka consumer owned by a Faust consumer thread (call on that thread)."""
    return thread._ensure_consumer()


def thread_consumer(thread: Any) -> Any:
    """The aiokafka consumer a Faust consumer thread created (None before it did)."""
    return thread._consumer


def set_read_offset(consumer: Any, tp: TP, offset: int | None) -> None:
    """As Faust's ``perform_seek`` does: the next record read after a seek is ``offset``."""
    consumer._read_offset[tp] = offset


def recovery(app: faust.App) -> Recovery | None:
    """The app's table recovery service (None before the table manager exists)."""
    tables = getattr(app, "tables", None)
    return getattr(tables, "recovery", None) if tables is not None else None


def recovery_remaining(app: faust.App) -> dict[TP, int]:
    """Changelog offsets still to replay per active partition being recovered (empty: none)."""
    service = recovery(app)
    if service is None or not service.in_recovery:
        return {}
    return {tp: n for tp, n in service.active_remaining().items() if n > 0}


def is_active_changelog_tp(app: faust.App, tp: TP) -> bool:
    """Whether a changelog partition is recovered as this worker's own (not a standby copy)."""
    service = recovery(app)
    return service is not None and tp in service.active_tps


def rocksdb_partition(table: Any, partition: int) -> Any | None:
    """The RocksDB (rocksdict ``Rdict``, raw bytes) of one table partition; None when the
    table is not on RocksDB or the partition has no database open here."""
    dbs = getattr(table.data, "_dbs", None)
    return dbs.get(partition) if isinstance(dbs, dict) else None


def uses_rocksdb(table: Any) -> bool:
    return isinstance(getattr(table.data, "_dbs", None), dict)


def memory_items(table: Any) -> tuple[list[tuple[Any, Any]], dict[Any, int]]:
    """A memory:// table's (key, value) pairs, copied now, and the partition Faust recorded
    for the keys it recovered from the changelog (live writes are not recorded there)."""
    store = table.data
    return list(store.data.items()), store._key_partition


async def flush_producer(app: faust.App) -> None:
    """Wait until what the app's producer holds (Faust's buffer of table changelog writes,
    then aiokafka's batches) has been acknowledged by the broker. Faust's ``flush`` gives up
    on its buffer after 0.1 s without progress, so it is asked again while anything is left.
    Unbounded here: the caller bounds it."""
    producer = app.producer
    while producer.buffer.size:
        await producer.buffer.flush()
    await kafka_producer(app).flush()
