"""Per-thread scheduler state and CPU time, from ``/proc/self/task/<native_id>`` (Linux).

Why: ``sys._current_frames()`` says where every thread is, not whether it is using a CPU; the
kernel knows. Without ``/proc`` (macOS, Windows) the readers return None and callers fall back to
stack heuristics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TASK_DIR = Path("/proc/self/task")
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
STATES = {
    "R": "running",
    "S": "sleeping",
    "D": "disk sleep",
    "T": "stopped",
    "t": "tracing stop",
    "Z": "zombie",
    "X": "dead",
    "I": "idle",
}


def available() -> bool:
    return TASK_DIR.is_dir()


def parse_stat(raw: bytes) -> tuple[str, float]:
    """(state letter, user + system CPU seconds) from a ``stat`` line.

    The command name may hold spaces and ')', so the fields are counted after the last ')'.
    """
    fields = raw[raw.rindex(b")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15, in clock ticks
    return fields[0].decode(), (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


@dataclass(frozen=True)
class TaskStat:
    state: str  # the kernel's letter: R running (or runnable), S sleeping, D disk sleep, ...
    cpu_seconds: float  # user + system since the thread started

    @property
    def state_name(self) -> str:
        return STATES.get(self.state, self.state)


def read_task(native_id: int | None) -> TaskStat | None:
    """One thread's state and CPU seconds (ns-precise from ``schedstat`` when the kernel has it)."""
    if native_id is None:
        return None
    task = TASK_DIR / str(native_id)
    try:
        state, cpu = parse_stat((task / "stat").read_bytes())
    except (OSError, ValueError, IndexError):
        return None
    try:
        cpu = int((task / "schedstat").read_bytes().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        pass  # no CONFIG_SCHED_INFO: keep the 10 ms ticks of stat
    return TaskStat(state, cpu)


class TaskReader:
    """One thread's ``stat`` and ``schedstat`` kept open and re-read with ``pread`` (~1-3 µs),
    so the sampler does not pay an open/close per thread per sample."""

    def __init__(self, native_id: int) -> None:
        task = TASK_DIR / str(native_id)
        self._stat = os.open(task / "stat", os.O_RDONLY)
        try:
            self._sched: int | None = os.open(task / "schedstat", os.O_RDONLY)
        except OSError:
            self._sched = None

    def state(self) -> str | None:
        try:
            raw = os.pread(self._stat, 1024, 0)
            return parse_stat(raw)[0] if raw else None
        except (OSError, ValueError, IndexError):
            return None  # the thread is gone

    def cpu_ns(self) -> int | None:
        """CPU time so far in ns (None without ``schedstat``; ticks are too coarse here)."""
        if self._sched is None:
            return None
        try:
            raw = os.pread(self._sched, 256, 0)
            return int(raw.split()[0]) if raw else None
        except (OSError, ValueError, IndexError):
            return None

    def close(self) -> None:
        for fd in (self._stat, self._sched):
            if fd is not None:
                os.close(fd)


class TaskReaders:
    """``TaskReader`` per native thread id, opened on first use; ``close()`` releases them."""

    def __init__(self) -> None:
        self._readers: dict[int, TaskReader | None] = {}

    def get(self, native_id: int) -> TaskReader | None:
        if native_id not in self._readers:
            try:
                self._readers[native_id] = TaskReader(native_id)
            except OSError:  # the thread ended (or no /proc)
                self._readers[native_id] = None
        return self._readers[native_id]

    def forget(self, native_id: int) -> None:
        """Drop a reader that failed (its thread ended; a new thread may reuse the id)."""
        reader = self._readers.pop(native_id, None)
        if reader is not None:
            reader.close()

    def close(self) -> None:
        for reader in self._readers.values():
            if reader is not None:
                reader.close()
        self._readers.clear()
