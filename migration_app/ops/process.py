"""The counters that reveal leaks (tasks, threads, fds, RSS), read in one cheap call.

Threads are OS threads (psutil), not just Python ``threading`` ones, so native threads started by
C libraries (librdkafka, psycopg) are counted too.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import psutil

_process: psutil.Process | None = None


def _proc() -> psutil.Process:
    """One cached ``psutil.Process``, renewed after a fork."""
    global _process
    if _process is None or _process.pid != os.getpid():
        _process = psutil.Process()
    return _process


@dataclass(frozen=True)
class ProcessStats:
    tasks: int
    threads: int
    open_fds: int
    rss_bytes: int

    def asdict(self) -> dict[str, int]:
        return asdict(self)


def count_tasks(loop: asyncio.AbstractEventLoop | None = None) -> int:
    """Tasks of ``loop`` (or the running loop); 0 when there is no loop."""
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return 0
    return len(asyncio.all_tasks(loop))


class RecentStats:
    """``process_stats`` reused for ``max_age`` seconds: counting thousands of tasks and listing
    /proc/self/fd costs ~1 ms, too much to pay on every request of a probe storm."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        max_age: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.loop = loop
        self.max_age = max_age
        self._clock = clock
        self._value: ProcessStats | None = None
        self._at = 0.0

    def __call__(self) -> ProcessStats:
        now = self._clock()
        if self._value is None or now - self._at >= self.max_age:
            self._value, self._at = process_stats(self.loop), now
        return self._value


def process_stats(loop: asyncio.AbstractEventLoop | None = None) -> ProcessStats:
    """A few /proc reads (tens of microseconds): cheap enough for every /health and scrape."""
    proc = _proc()
    with proc.oneshot():
        threads = proc.num_threads()
        fds = proc.num_fds()
        rss = proc.memory_info().rss
    return ProcessStats(tasks=count_tasks(loop), threads=threads, open_fds=fds, rss_bytes=rss)
