"""Heap profile with tracemalloc: top allocations by line or traceback, and growth since the
previous snapshot. Tracing starts on the first request (it slows allocations, so it is off until
someone asks) and can be stopped with ``?stop=1``. Snapshots are taken off the event loop."""

from __future__ import annotations

import linecache
import threading
import time
import tracemalloc

DEFAULT_FRAMES = 16
_FILTERS = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, "<unknown>"),
)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class HeapProfiler:
    """Owns tracemalloc for the app: started on demand, stopped by ``stop()`` if we started it."""

    def __init__(self, frames: int = DEFAULT_FRAMES) -> None:
        self.frames = frames
        self._lock = threading.Lock()
        self._previous: tuple[float, tracemalloc.Snapshot] | None = None
        self._started_at: float | None = None
        self._started_here = False

    def start(self) -> bool:
        """Start tracing; True if it was not running."""
        if tracemalloc.is_tracing():
            return False
        tracemalloc.start(self.frames)
        self._started_here = True
        self._started_at = time.monotonic()
        return True

    def stop(self) -> None:
        with self._lock:
            if self._started_here and tracemalloc.is_tracing():
                tracemalloc.stop()
            self._started_here = False
            self._previous = None
            self._started_at = None

    def report(self, *, limit: int = 25, by: str = "lineno", diff: bool = False) -> str:
        """Blocking (a snapshot of a big heap takes a while): call it via ``asyncio.to_thread``."""
        if by not in ("lineno", "traceback", "filename"):
            raise ValueError("by must be lineno, traceback or filename")
        just_started = self.start()
        with self._lock:
            snapshot = tracemalloc.take_snapshot().filter_traces(_FILTERS)
            now = time.monotonic()
            previous, self._previous = self._previous, (now, snapshot)
        current, peak = tracemalloc.get_traced_memory()
        since = f"{now - self._started_at:.1f}s" if self._started_at else "before this app"
        lines = [
            f"heap profile: {_size(current)} traced (peak {_size(peak)}), "
            f"tracing for {since}, {tracemalloc.get_traceback_limit()} frames per allocation"
        ]
        if just_started:
            lines.append(
                "tracemalloc was just started: only allocations from now on are traced. "
                "Ask again later, or with ?diff=1 to see growth."
            )
        if diff and previous is not None:
            lines.append(
                f"top {limit} growth by {by} since the previous snapshot "
                f"({now - previous[0]:.1f}s ago):"
            )
            stats = [s for s in snapshot.compare_to(previous[1], by) if s.size_diff > 0][:limit]
            for i, stat in enumerate(stats, 1):
                lines.append(
                    f"#{i}: {'+' if stat.size_diff >= 0 else ''}{_size(stat.size_diff)} "
                    f"({stat.count_diff:+d} blocks), now {_size(stat.size)} in {stat.count} blocks"
                )
                lines.extend(_trace_lines(stat.traceback))
        else:
            if diff:
                lines.append("no previous snapshot: this one is the baseline for the next ?diff=1")
            lines.append(f"top {limit} by {by}:")
            for i, stat in enumerate(snapshot.statistics(by)[:limit], 1):
                lines.append(f"#{i}: {_size(stat.size)} in {stat.count} blocks")
                lines.extend(_trace_lines(stat.traceback))
        return "\n".join(lines) + "\n"


def _trace_lines(tb: tracemalloc.Traceback) -> list[str]:
    out = []
    for frame in reversed(tb):  # innermost first
        out.append(f"\t{frame.filename}:{frame.lineno}")
        source = linecache.getline(frame.filename, frame.lineno).strip()
        if source:
            out.append(f"\t    {source}")
    return out
