"""Faust's aiokafka transport with two fixes that make at-least-once hold across restarts.

Found by the kill -9 e2e test (a restarted worker left customers unmigrated while the group's
committed offsets already equalled the end offsets); both reproduce on any Kafka, not only Tansu:

1. Faust rewinds stream partitions with "seek to committed" when recovery ends, but aiokafka's
   ``seek_to_committed`` only seeks when the committed offset is > 0. A partition with no commit
   yet (a new group, a worker killed before its first commit) kept the position its prefetch had
   reached, so its first events were never delivered. Here such partitions follow the reset
   policy (``earliest``: the log start), and a commit of 0 seeks to 0.
2. Recovery resumes stream partitions and seeks them *before* it resumes the app's flow control,
   and resuming flow control always clears the stream queues. A record fetched in that window
   was handed to the stream, cleared away unseen, and its offset counted as read; the next
   record's ack then committed past it (faust-streaming/faust#216 describes the symptom). Here a
   stream record that arrives while a rebalance is in progress is held back, and once the
   rebalance has ended its partition is sought back to its committed offset, so the record is
   fetched again.

At-least-once is the contract either way; the state table skips customers already COMPLETED.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, ClassVar

from faust.transport.consumer import ConsumerThread
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, ConsumerT, Message

from migration_app.compat import aiokafka_internals, faust_internals


class RewindingConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Runs the seeks on the aiokafka thread, where the aiokafka consumer lives."""

    async def on_thread_stop(self) -> None:
        """Stop without hanging the worker when the brokers are gone.

        aiokafka's ``Fetcher.close()`` cancels its fetch tasks and awaits them; when the broker
        is unreachable they are backing off in ``asyncio.sleep`` and the await re-raises their
        ``CancelledError``. That escaped mode's thread shutdown (which catches ``Exception``),
        the thread never said it had stopped, and the worker sat out mode's 60 s stop timeout
        after SIGTERM. Contain it unless this task itself is being cancelled, then close the
        client the interrupted ``stop()`` left open.
        """
        try:
            await super().on_thread_stop()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            self.log.warning("consumer stop interrupted by aiokafka's fetcher (broker gone?)")
            consumer = faust_internals.thread_consumer(self)
            if consumer is not None:
                with contextlib.suppress(Exception):
                    await aiokafka_internals.close_client(consumer)

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        wait = getattr(self.app, "consumer_fetch_max_wait", None)
        if wait is not None:
            aiokafka_internals.set_fetch_max_wait(consumer, wait)
        return consumer

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return await self.call_thread(self._seek_to_committed_or_reset, ())

    async def rewind_to_committed(self, tps: Iterable[TP]) -> Mapping[TP, int]:
        partitions = tuple(faust_aiokafka.ensure_aiokafka_TP(tp) for tp in tps)
        return await self.call_thread(self._seek_to_committed_or_reset, partitions)

    async def _seek_to_committed_or_reset(self, partitions: tuple[Any, ...]) -> Mapping[Any, int]:
        consumer = faust_internals.aiokafka_consumer(self)
        committed = await consumer.seek_to_committed(*partitions)
        acks_enabled_for = self.app.topics.acks_enabled_for
        # Only stream topics, whose offsets Faust commits; table changelogs have their own seeks.
        stream = {tp: offset for tp, offset in committed.items() if acks_enabled_for(tp.topic)}
        never = [tp for tp, offset in stream.items() if offset is None]
        if never and self.app.conf.consumer_auto_offset_reset == "earliest":
            # Concrete offsets, not aiokafka's lazy seek_to_beginning: a partition awaiting a
            # reset has no position, and Faust's livelock detector asserts on it.
            for tp, offset in (await consumer.beginning_offsets(never)).items():
                consumer.seek(tp, offset)
        for tp in (tp for tp, offset in stream.items() if offset == 0):
            consumer.seek(tp, 0)
        return committed


class RewindingConsumer(faust_aiokafka.Consumer):
    """Holds back stream records that arrive during a rebalance and refetches them after it."""

    _thread: RewindingConsumerThread

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held_back: set[TP] = set()

    def _new_consumer_thread(self) -> ConsumerThread:
        return RewindingConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def _streams_flowing(self) -> bool:
        """False from a rebalance's start until recovery has resumed flow control (which clears
        the stream queues) and ended the rebalance."""
        app = self.app
        return not app.rebalancing and app.flow_control.is_active()

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:  # noqa: ASYNC109
        acks_enabled_for = self.app.topics.acks_enabled_for
        if self._held_back and self._streams_flowing():
            await self._rewind_held_back()
        async for tp, message in super().getmany(timeout):
            if tp in self._held_back:
                continue  # its partition is sought back; this record will come again
            if acks_enabled_for(tp.topic) and not self._streams_flowing():
                self._held_back.add(tp)
                continue
            yield tp, message

    async def _rewind_held_back(self) -> None:
        tps, self._held_back = self._held_back, set()
        assigned = self.assignment()
        tps = {tp for tp in tps if tp in assigned}
        if not tps:
            return
        committed = await faust_internals.consumer_thread(self).rewind_to_committed(tps)
        for tp, offset in committed.items():
            # As Faust's perform_seek does: the next record read is the committed one.
            faust_internals.set_read_offset(
                self, TP(tp.topic, tp.partition), offset if offset else None
            )
        self.log.info(
            "refetching %d partition(s) whose records arrived during the rebalance", len(tps)
        )


class Transport(faust_aiokafka.Transport):
    """The ``kafka://`` transport with `RewindingConsumer`; the producer side is Faust's own."""

    Consumer: ClassVar[type[ConsumerT]] = RewindingConsumer
