"""Sampling CPU profiler: a background thread reads ``sys._current_frames()`` every ~5 ms.

It sees every thread, the event-loop thread included, without instrumenting anything, so it is
safe to run in production for a bounded time. Output: collapsed stacks (``flamegraph.pl``,
speedscope "import") or speedscope JSON. One profile at a time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import Any

from migration_app.compat import python_internals

MAX_SECONDS = 60.0
DEFAULT_INTERVAL = 0.005


class ProfilerBusy(RuntimeError):
    """Another profile is running (HTTP 409)."""


FrameKey = tuple[str, str, int]  # (name, file, first line)


@dataclass(frozen=True)
class Profile:
    stacks: Counter[tuple[FrameKey, ...]]  # root first: (thread label, outermost, ..., innermost)
    samples: int
    seconds: float
    interval: float

    def collapsed(self) -> str:
        """One ``root;...;leaf count`` line per distinct stack, heaviest first."""
        lines = [
            ";".join(name.replace(";", ":") for name, _, _ in stack) + f" {count}"
            for stack, count in self.stacks.most_common()
        ]
        return "\n".join(lines) + ("\n" if lines else "")

    def speedscope(self) -> dict[str, Any]:
        """speedscope's file format: one sampled profile per thread, weights in seconds."""
        frames: list[dict[str, Any]] = []
        index: dict[FrameKey, int] = {}
        per_thread: dict[str, tuple[list[list[int]], list[float]]] = {}
        weight = self.seconds / self.samples if self.samples else self.interval
        for stack, count in self.stacks.items():
            thread, body = stack[0][0], stack[1:]
            ids = []
            for key in body:
                if key not in index:
                    index[key] = len(frames)
                    frames.append({"name": key[0], "file": key[1], "line": key[2]})
                ids.append(index[key])
            samples, weights = per_thread.setdefault(thread, ([], []))
            samples.append(ids)
            weights.append(count * weight)
        profiles = [
            {
                "type": "sampled",
                "name": thread,
                "unit": "seconds",
                "startValue": 0,
                "endValue": sum(weights),
                "samples": samples,
                "weights": weights,
            }
            for thread, (samples, weights) in sorted(per_thread.items())
        ]
        return {
            "$schema": "https://www.speedscope.app/file-format-schema.json",
            "shared": {"frames": frames},
            "profiles": profiles,
            "name": f"migration_app CPU profile ({self.seconds:.1f}s, {self.samples} samples)",
            "activeProfileIndex": 0,
            "exporter": "migration_app.debug.profiler",
        }


def sample_stacks(
    seconds: float, interval: float, stop: threading.Event, loop_thread_id: int | None
) -> Profile:
    """The sampler loop, run in its own thread; ends after ``seconds`` or when ``stop`` is set."""
    me = threading.get_ident()
    labels: dict[CodeType, FrameKey] = {}
    names: dict[int, str] = {}
    stacks: Counter[tuple[FrameKey, ...]] = Counter()
    samples = 0
    start = time.monotonic()
    deadline = start + seconds
    while not stop.is_set() and time.monotonic() < deadline:
        for tid, frame in python_internals.current_frames().items():
            if tid == me:
                continue
            if tid not in names:
                names = _thread_names(loop_thread_id)
            stacks[(_thread_key(names.get(tid, f"thread-{tid}")), *_walk(frame, labels))] += 1
        samples += 1
        stop.wait(interval)
    return Profile(stacks, samples, time.monotonic() - start, interval)


def _thread_names(loop_thread_id: int | None) -> dict[int, str]:
    names = {t.ident: f"thread:{t.name}" for t in threading.enumerate() if t.ident is not None}
    if loop_thread_id in names:
        names[loop_thread_id] = "loop:" + names[loop_thread_id].removeprefix("thread:")
    return names


def _thread_key(name: str) -> FrameKey:
    return (name, "", 0)


def _walk(frame: FrameType | None, labels: dict[CodeType, FrameKey]) -> tuple[FrameKey, ...]:
    out: list[FrameKey] = []
    while frame is not None:
        code = frame.f_code
        key = labels.get(code)
        if key is None:
            module = frame.f_globals.get("__name__", "?")
            key = labels[code] = (
                f"{module}.{code.co_qualname}",
                code.co_filename,
                code.co_firstlineno,
            )
        out.append(key)
        frame = frame.f_back
    out.reverse()
    return tuple(out)


class SamplingProfiler:
    """Runs one profile at a time off the event loop; ``close()`` ends a running one early."""

    def __init__(
        self,
        loop_thread_id: int | None = None,
        *,
        interval: float = DEFAULT_INTERVAL,
        max_seconds: float = MAX_SECONDS,
    ) -> None:
        self.loop_thread_id = loop_thread_id or threading.get_ident()
        self.interval = interval
        self.max_seconds = max_seconds
        self._stop: threading.Event | None = None

    @property
    def running(self) -> bool:
        return self._stop is not None

    async def profile(self, seconds: float) -> Profile:
        if self._stop is not None:
            raise ProfilerBusy("a profile is already running")
        seconds = min(max(seconds, self.interval), self.max_seconds)
        stop = self._stop = threading.Event()
        try:
            return await asyncio.to_thread(
                sample_stacks, seconds, self.interval, stop, self.loop_thread_id
            )
        finally:
            stop.set()  # a cancelled request ends its sampler thread too
            self._stop = None

    def close(self) -> None:
        if self._stop is not None:
            self._stop.set()
