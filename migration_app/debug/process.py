"""The counters that reveal leaks (tasks, threads, fds, RSS), read in one cheap call.

Threads are OS threads (psutil), not just Python ``threading`` ones, so native threads started by
C libraries (librdkafka, psycopg) are counted too.
"""

from __future__ import annotations

import asyncio
import os
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


def process_stats(loop: asyncio.AbstractEventLoop | None = None) -> ProcessStats:
    """A few /proc reads (tens of microseconds): cheap enough for every /health and scrape."""
    proc = _proc()
    with proc.oneshot():
        threads = proc.num_threads()
        fds = proc.num_fds()
        rss = proc.memory_info().rss
    return ProcessStats(tasks=count_tasks(loop), threads=threads, open_fds=fds, rss_bytes=rss)
