"""Keeps ``StateCounts`` true across rebalances: forget a revoked partition, rebuild an assigned
one from the table once its recovery has completed.

The rebuild is the only walk of the table. It runs as a background task owned by this service
(cancelled on stop and by the next rebalance), in chunks that yield to the event loop, so a
million customers delay neither ``/health`` nor the agent; writes made meanwhile are counted
as the rebuild's delta (``state_counts``). The snapshot is exact: a RocksDB iterator reads the
database as it was when created, and a memory:// table's items are copied in one step.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from typing import Any

import faust
from aiokafka.partitioner import murmur2
from faust.types import TP, TableT
from mode import Service

from migration_app.compat import faust_internals
from migration_app.worker.state_counts import Counted, StateCounts, Tally, tally_of

log = logging.getLogger(__name__)

CHUNK = 500  # values decoded between two yields to the loop (~5-15 ms of CPU)


class StateCountsKeeper(Service):
    """Owns the rebuild task; hooks the table's recovery and the app's revocations."""

    def __init__(
        self,
        app: faust.App,
        table: TableT,
        counts: StateCounts,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.app = app
        self.table = table
        self.counts = counts
        self._generation = 0  # bumped by every revocation: a rebuild of an older one stops
        self._rebuild: asyncio.Task[None] | None = None
        table.on_recover(self._on_recovered)
        app.on_partitions_revoked.connect(self._on_revoked)

    async def on_stop(self) -> None:
        await self._cancel_rebuild()

    async def _on_revoked(self, sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        """Topics are co-partitioned: a revoked customer partition takes its table partition."""
        self._generation += 1
        await self._cancel_rebuild()
        self.counts.forget({tp.partition for tp in revoked})

    async def _on_recovered(self) -> None:
        """After each recovery: count the active partitions not counted yet (in the
        background, so readiness does not wait for a walk of the table)."""
        actives = self._active_partitions()
        self.counts.forget(set(self.counts.partitions) - actives)
        todo = sorted(actives - set(self.counts.partitions) - set(self.counts.counting))
        if not todo:
            return
        await self._cancel_rebuild()
        self._rebuild = asyncio.create_task(
            self.rebuild(todo, self._generation), name="state-counts-rebuild"
        )
        self._rebuild.add_done_callback(_log_failure)

    def _active_partitions(self) -> set[int]:
        """The table partitions this worker serves (not its standby copies)."""
        changelog = self.table.changelog_topic.get_topic_name()
        return {
            tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == changelog
        }

    async def _cancel_rebuild(self) -> None:
        task, self._rebuild = self._rebuild, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def rebuild(self, partitions: list[int], generation: int) -> None:
        """Count ``partitions`` from a snapshot of the table, yielding every CHUNK values."""
        started = time.monotonic()
        now, window = time.time(), self.counts.window_s
        tallies: dict[int, Tally] = {p: Tally() for p in partitions}
        recent: dict[int, Counter[int]] = {p: Counter() for p in partitions}
        total = 0
        try:
            for partition, chunk in self._snapshot(partitions):  # taken at the first step
                part, seen = tally_of(chunk, now, window)
                tallies[partition].merge(part)
                recent[partition].update(seen)
                total += len(chunk)
                await asyncio.sleep(0)
                if generation != self._generation:
                    return
            for partition in partitions:
                self.counts.finish_rebuild(partition, tallies[partition], recent[partition])
        finally:
            unfinished = set(partitions) & set(self.counts.counting)
            if unfinished:  # cancelled midway: counted again after the next recovery
                self.counts.forget(unfinished)
        log.info(
            "table counts of partitions %s rebuilt: %d customers in %.1fs",
            partitions,
            total,
            time.monotonic() - started,
        )

    def _snapshot(self, partitions: list[int]) -> Iterator[tuple[int, list[Counted]]]:
        """(partition, chunk of values) of a snapshot taken when the first chunk is asked for;
        from then on writes to these partitions are the rebuild's delta."""
        for partition in partitions:
            self.counts.begin_rebuild(partition)
        if faust_internals.uses_rocksdb(self.table):
            iterators = {}
            for partition in partitions:  # point-in-time iterators, all created now
                db = faust_internals.rocksdb_partition(self.table, partition)
                iterators[partition] = db.items() if db is not None else iter(())
            for partition, raw in iterators.items():
                while chunk := list(islice(raw, CHUNK)):
                    yield partition, [v for v in map(_stored, chunk) if v is not None]
            return
        items, known = faust_internals.memory_items(self.table)  # copied now
        wanted = set(partitions)
        n = self.table.partitions or self.app.conf.topic_partitions
        for start in range(0, len(items), CHUNK):
            grouped: dict[int, list[Counted]] = {}
            for key, value in items[start : start + CHUNK]:
                partition = known.get(key)
                if partition is None:
                    partition = (murmur2(key) & 0x7FFFFFFF) % n
                if partition in wanted and value is not None:
                    grouped.setdefault(partition, []).append(Counted.of(value))
            for partition, chunk in grouped.items():
                yield partition, chunk
            if not grouped:
                yield partitions[0], []


def _stored(item: tuple[bytes, bytes]) -> Counted | None:
    """A customer's counted value; None for Faust's own keys (the persisted changelog offset
    lives in the same database) and for anything that is not a stored state."""
    key, raw = item
    if key.startswith(b"__faust"):
        return None
    try:
        return Counted.from_json(raw)
    except (ValueError, TypeError, AttributeError):
        log.warning("table value of key %r is not a migration state; not counted", key[:40])
        return None


def _log_failure(task: asyncio.Task[None]) -> None:
    """The rebuild's errors are logged (its partitions stay uncounted, shown as such)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("table counts rebuild failed", exc_info=task.exception())
