"""Batches that migrate while the agent takes the next ones (``MIGRATION_PIPELINE_DEPTH``).

Why: a batch spends most of its time waiting: on V1's query, on V2's graph calls, on
PostgreSQL. With one batch at a time the worker's CPU idles through every round trip; with a
few in flight, one batch's transform and Kafka writes run while another waits on Salesforce.

Correctness rests on three things:

* Order per customer: batches are *prepared* (decoded, duplicates dropped) and then *claimed*
  (their customers reserved) one after another in the order the stream gave them, so a
  customer's later event waits for the batch holding its earlier one. Only ``run`` overlaps.
* Duplicates cost nothing: a batch whose every event is a replay of finished work prepares to
  None and is acked at once, without waiting for a slot behind batches of real work.
* Acks after the work: Faust's ``take_events`` acks a batch's events as soon as the agent asks
  for the next batch. Each event's message holds one more reference (``Message.incref``) until
  its batch has finished, so its offset is not committable before then, a crash replays it, and
  a rebalance's ``wait_empty`` waits for it.
* Ownership: every batch task belongs to this object. When the worker stops it cancels them
  and awaits them (a cancelled batch is not acked: it is replayed, and upserts by external id
  make that safe); when the agent ends otherwise it lets them finish first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from types import TracebackType
from typing import Generic, Protocol, TypeVar

from faust.types import EventT

log = logging.getLogger(__name__)


B = TypeVar("B")


class Batches(Protocol[B]):
    """What the processor offers: ordered preparation and claims, overlappable runs."""

    async def prepare(self, events: Sequence[EventT]) -> B | None: ...

    async def claim(self, batch: B) -> None: ...

    async def run(self, batch: B) -> None: ...


class InFlightBatches(Generic[B]):
    """At most ``depth`` batches running at once; a failed batch stops the agent."""

    def __init__(self, batches: Batches[B], depth: int) -> None:
        if depth < 1:
            raise ValueError("pipeline depth must be >= 1")
        self._batches = batches
        self._slots = asyncio.Semaphore(depth)
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def submit(self, events: Sequence[EventT]) -> None:
        """Prepare ``events`` now; unless nothing in them needs work, wait for a slot, claim
        the batch's customers and start its run."""
        self._raise_failure()
        for event in events:
            event.message.incref()  # released by _ack once the batch has finished
        try:
            batch = await self._batches.prepare(events)
        except asyncio.CancelledError:
            raise  # not acked: replayed
        except BaseException:
            _ack(events)
            raise
        if batch is None:
            _ack(events)
            return
        await self._slots.acquire()  # cancelled here: not acked, replayed
        try:
            self._raise_failure()
            await self._batches.claim(batch)
        except BaseException as exc:
            self._slots.release()
            if not isinstance(exc, asyncio.CancelledError):
                _ack(events)
            raise
        task = asyncio.create_task(self._run(batch, events), name="migrate-batch")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: B, events: Sequence[EventT]) -> None:
        try:
            await self._batches.run(batch)
        except asyncio.CancelledError:
            raise  # not acked: the batch is replayed
        except BaseException as exc:
            # Acked like Faust acks a batch whose agent raised; the agent stops with the error.
            log.exception("batch of %d events failed", len(events))
            self._failure = self._failure or exc
            _ack(events)
        else:
            _ack(events)
        finally:
            self._slots.release()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    async def drain(self) -> None:
        """Wait for the running batches; raise the first failure among them (tests)."""
        await self._finish_running()
        self._raise_failure()

    async def _finish_running(self) -> None:
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self) -> None:
        """Cancel the running batches and wait until they have ended."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> InFlightBatches[B]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Cancelled (the worker stops): cancel the running batches, to be replayed. Ended any
        other way (the stream ended, or the agent raised and Faust restarts it): let them
        finish and ack. A cancelled batch keeps its offsets unacked, and in a worker that goes
        on that would hold back every later commit and make the next rebalance wait for it."""
        try:
            if exc_type is None or not issubclass(exc_type, asyncio.CancelledError):
                await self._finish_running()
        finally:
            await self.close()


def _ack(events: Sequence[EventT]) -> None:
    """Drop the reference ``submit`` took; the last one marks the offset committable."""
    for event in events:
        event.ack()
