"""Counts the worker's result events as they are published: when a run is done, seen from
outside, at no cost to the worker.

Why: polling the worker's ``/migrations/summary`` every 0.1 s cost it ~8% of its CPU (the
summary decodes every table entry) and rounded each run's end up to the next poll. A result
event is the pipeline's last side effect for a customer (after its audit rows and its table
state), so the first result seen for every customer is the moment the run is over.
"""

from __future__ import annotations

import asyncio
import threading
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from migration_app.client_config import bootstrap_servers
from migration_app.contracts.schemas import RESULT_TOPIC
from migration_app.settings import Settings

POLL_MS = 50


class ResultWatcher:
    """A consumer thread (own event loop) from the result topic's current end: which customers
    have a result, and when the last of ``expected`` got one."""

    def __init__(self, settings: Settings, expected: set[str]) -> None:
        self._settings = settings
        self._expected = {cid.encode() for cid in expected}
        self._seen: set[bytes] = set()
        self._lock = threading.Lock()
        self._positioned = threading.Event()
        self._stop = threading.Event()
        self.all_seen_at: float | None = None  # time.perf_counter() of the last first result
        self.first_seen_at: float | None = None
        self.first_seen_count = 0  # results in the first fetch that had any (the first batch)
        self.error: str | None = None
        self._thread = threading.Thread(target=self._main, name="bench-results", daemon=True)

    def start(self, timeout: float = 30.0) -> None:
        """Start and return once the consumer sits at the topic's end (so nothing is missed)."""
        self._thread.start()
        if not self._positioned.wait(timeout):
            raise TimeoutError(f"result consumer not positioned after {timeout}s: {self.error}")
        if self.error:
            raise RuntimeError(f"result consumer failed: {self.error}")

    @property
    def seen(self) -> int:
        with self._lock:
            return len(self._seen)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _main(self) -> None:
        try:
            asyncio.run(self._consume())
        except Exception as exc:  # reported through .error and start()/the caller's deadline
            self.error = f"{type(exc).__name__}: {exc}"
            self._positioned.set()

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers(self._settings),
            enable_auto_commit=False,
            fetch_max_wait_ms=POLL_MS,
            request_timeout_ms=int(self._settings.broker_request_timeout * 1000),
        )
        await consumer.start()
        try:
            partitions = None
            deadline = time.monotonic() + 10
            while not partitions:  # the worker declares it as it starts
                await asyncio.wait_for(consumer.topics(), 10)  # loads every topic's metadata
                partitions = consumer.partitions_for_topic(RESULT_TOPIC)
                if not partitions and time.monotonic() > deadline:
                    raise RuntimeError(f"topic {RESULT_TOPIC!r} not found (is the worker up?)")
                if not partitions:
                    await asyncio.sleep(0.1)
            tps = [TopicPartition(RESULT_TOPIC, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)
            for tp in tps:  # resolve the lazy reset now: the enqueue starts after this
                await consumer.position(tp)
            self._positioned.set()
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=POLL_MS)
                now = time.perf_counter()
                with self._lock:
                    first = self.first_seen_at is None
                    for messages in batches.values():
                        for message in messages:
                            if message.key in self._expected and message.key not in self._seen:
                                self._seen.add(message.key)
                                self.first_seen_at = self.first_seen_at or now
                                self.first_seen_count += first
                                if len(self._seen) == len(self._expected):
                                    self.all_seen_at = now
        finally:
            await consumer.stop()
