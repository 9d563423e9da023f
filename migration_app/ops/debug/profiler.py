"""Sampling profiler: a background thread reads ``sys._current_frames()`` every ~5 ms.

It sees every thread, the event-loop thread included, without instrumenting anything, so it is
safe to run in production for a bounded time. Two modes, like Go's pprof CPU profile against a
wall-clock one:

* ``cpu`` (default) keeps a thread's sample only when the thread is on a CPU: its stack does not
  end in a known wait (selector, lock/condition/queue wait, idle executor, socket read) and, on
  Linux, ``/proc/self/task/<native_id>`` shows it running or its CPU time grew since the previous
  sample. Why the second test: while the sampler holds the GIL, the thread it took the GIL from
  is parked waiting for it (state S), yet it is the one that was using the CPU.
* ``wall`` keeps every thread's sample, running or waiting: where threads spend their time.

Output: collapsed stacks (``flamegraph.pl``, speedscope) or speedscope JSON, each with a header
that says how much CPU the picture accounts for. One profile at a time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import Any

from migration_app.compat import python_internals
from migration_app.ops.debug import threadstate

MAX_SECONDS = 60.0
DEFAULT_INTERVAL = 0.005
MODES = ("cpu", "wall")


class ProfilerBusy(RuntimeError):
    """Another profile is running (HTTP 409)."""


FrameKey = tuple[str, str, int]  # (name, file, first line)


@dataclass(frozen=True)
class ThreadSummary:
    label: str  # the stacks' root: "loop:<name>" or "thread:<name>"
    samples: int  # samples kept (on-CPU ones in cpu mode)
    cpu_seconds: float | None  # CPU the thread used over the window; None without /proc


@dataclass(frozen=True)
class Profile:
    stacks: Counter[tuple[FrameKey, ...]]  # root first: (thread label, outermost, ..., innermost)
    samples: int  # sampling rounds (each looks at every thread once)
    seconds: float
    interval: float  # asked; the real mean is seconds / samples (longer under GIL contention)
    mode: str = "cpu"
    method: str = ""  # how "on a CPU" was decided
    process_cpu_seconds: float | None = None  # the whole process, all threads, over the window
    sampler_cpu_seconds: float | None = None  # the sampler thread's own share of it
    threads: tuple[ThreadSummary, ...] = field(default_factory=tuple)

    @property
    def mean_interval(self) -> float:
        return self.seconds / self.samples if self.samples else self.interval

    @property
    def kept(self) -> int:
        return sum(self.stacks.values())

    def header(self) -> list[str]:
        """What the picture accounts for: window, interval, samples per thread, CPU seconds."""
        noun = "on-CPU samples" if self.mode == "cpu" else "samples"
        if self.mode == "cpu":
            title = (
                "migration_app CPU profile (mode=cpu): only threads on a CPU at each sample "
                f"[{self.method}]; ?mode=wall for every thread, running or waiting"
            )
        else:
            title = (
                "migration_app wall-clock profile (mode=wall): every thread at each sample, "
                "running or waiting (idle executors, selectors); the default mode=cpu keeps only "
                "threads on a CPU"
            )
        lines = [
            title,
            f"window {self.seconds:.2f} s: {self.samples} sampling rounds, one every "
            f"{self.mean_interval * 1000:.1f} ms on average (asked {self.interval * 1000:.1f} ms)",
        ]
        if self.process_cpu_seconds is not None:
            cpu = self.process_cpu_seconds
            line = (
                f"process CPU {cpu:.2f} s over the window "
                f"({100 * cpu / max(self.seconds, 1e-9):.0f}% of one core)"
            )
            if self.sampler_cpu_seconds is not None:
                line += (
                    f", of which the sampler's own {self.sampler_cpu_seconds:.3f} s "
                    f"({self.sampler_share * 100:.2f}% of one core)"
                )
            lines.append(line)
        lines.append(
            f"{noun}: {self.kept} in total, ~{self.kept * self.mean_interval:.2f} thread-seconds "
            "at the mean interval"
            + (
                "; CPU outside Python threads (native librdkafka/libpq threads, C code between "
                "samples) is not in the stacks"
                if self.mode == "cpu"
                else ""
            )
        )
        quiet = 0
        for t in sorted(self.threads, key=lambda t: (-t.samples, -(t.cpu_seconds or 0))):
            if t.samples == 0 and (t.cpu_seconds or 0) < 0.01:
                quiet += 1
                continue
            cpu = f", {t.cpu_seconds:.2f} CPU s" if t.cpu_seconds is not None else ""
            lines.append(f"thread {t.label}: {t.samples} {noun}{cpu}")
        if quiet:
            lines.append(f"{quiet} more threads: no {noun} and under 0.01 CPU s each")
        # speedscope and flamegraph.pl take a line ending in " <digits>" for a stack
        return [line + " ." if line[-1:].isdigit() else line for line in lines]

    @property
    def sampler_share(self) -> float:
        """The sampler's CPU as a share of one core over the window."""
        return (self.sampler_cpu_seconds or 0.0) / self.seconds if self.seconds else 0.0

    def collapsed(self) -> str:
        """``# header`` lines, then one ``root;...;leaf count`` line per stack, heaviest first."""
        lines = [f"# {line}" for line in self.header()]
        lines += [
            ";".join(name.replace(";", ":") for name, _, _ in stack) + f" {count}"
            for stack, count in self.stacks.most_common()
        ]
        return "\n".join(lines) + "\n"

    def summary(self) -> dict[str, Any]:
        """The header as data (speedscope's extra ``migration_app`` key, benchmarks)."""
        return {
            "mode": self.mode,
            "method": self.method,
            "seconds": round(self.seconds, 3),
            "interval_s": self.interval,
            "mean_interval_s": round(self.mean_interval, 6),
            "rounds": self.samples,
            "samples_kept": self.kept,
            "process_cpu_s": self.process_cpu_seconds,
            "sampler_cpu_s": self.sampler_cpu_seconds,
            "sampler_share_of_one_core": round(self.sampler_share, 5),
            "threads": {
                t.label: {"samples": t.samples, "cpu_s": t.cpu_seconds} for t in self.threads
            },
        }

    def speedscope(self) -> dict[str, Any]:
        """speedscope's file format: one sampled profile per thread, weights in seconds."""
        frames: list[dict[str, Any]] = []
        index: dict[FrameKey, int] = {}
        per_thread: dict[str, tuple[list[list[int]], list[float]]] = {}
        weight = self.mean_interval
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
        by_label = {t.label: t for t in self.threads}
        noun = "on-CPU samples" if self.mode == "cpu" else "samples"

        def name(thread: str, weights: list[float]) -> str:
            info = by_label.get(thread)
            count = round(sum(weights) / weight) if weight else 0
            cpu = f", {info.cpu_seconds:.2f} CPU s" if info and info.cpu_seconds is not None else ""
            return f"{thread} ({info.samples if info else count} {noun}{cpu})"

        profiles = [
            {
                "type": "sampled",
                "name": name(thread, weights),
                "unit": "seconds",
                "startValue": 0,
                "endValue": sum(weights),
                "samples": samples,
                "weights": weights,
            }
            for thread, (samples, weights) in sorted(
                per_thread.items(), key=lambda item: -sum(item[1][1])
            )
        ]
        return {
            "$schema": "https://www.speedscope.app/file-format-schema.json",
            "shared": {"frames": frames},
            "profiles": profiles,
            "name": " | ".join(self.header()[:4]),
            "activeProfileIndex": 0,
            "exporter": "migration_app.ops.debug.profiler",
            "migration_app": self.summary(),
        }


class OnCpu:
    """Decides, per sample, whether a thread is on a CPU (see the module docstring)."""

    def __init__(self) -> None:
        self.waits = python_internals.wait_leaf_codes()
        self.readers = threadstate.TaskReaders() if threadstate.available() else None
        self._last: dict[int, tuple[int, int]] = {}  # native id -> (round, CPU ns then)

    @property
    def method(self) -> str:
        if self.readers is None:
            return "no /proc: drops samples whose stack ends in a known wait"
        return (
            "/proc/self/task state R or CPU time grown since the previous sample, "
            "and the stack does not end in a known wait"
        )

    def waiting(self, frame: FrameType) -> bool:
        return frame.f_code in self.waits

    def running(self, native_id: int | None, round_: int) -> bool:
        if self.readers is None or native_id is None:
            return True  # only the stack heuristic is available
        reader = self.readers.get(native_id)
        if reader is None:
            return False  # the thread ended
        cpu = reader.cpu_ns()
        if cpu is not None:
            previous = self._last.get(native_id)
            self._last[native_id] = (round_, cpu)
            if previous is not None and previous[0] == round_ - 1 and cpu > previous[1]:
                return True
        state = reader.state()
        if state is None:
            self.readers.forget(native_id)
            return False
        return state == "R"

    def close(self) -> None:
        if self.readers is not None:
            self.readers.close()


def sample_stacks(
    seconds: float,
    interval: float,
    stop: threading.Event,
    loop_thread_id: int | None,
    mode: str = "cpu",
) -> Profile:
    """The sampler loop, run in its own thread; ends after ``seconds`` or when ``stop`` is set."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    me = threading.get_ident()
    labels: dict[CodeType, FrameKey] = {}
    known: dict[int, tuple[FrameKey, int | None]] = {}
    stacks: Counter[tuple[FrameKey, ...]] = Counter()
    on_cpu = OnCpu() if mode == "cpu" else None
    rounds = 0
    # the process window brackets the threads' one: the parts never add up to more than the whole
    own_before, process_before = time.thread_time(), time.process_time()
    cpu_before = _threads_cpu()
    start = time.monotonic()
    deadline = start + seconds
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            for tid, frame in python_internals.current_frames().items():
                if tid == me:
                    continue
                entry = known.get(tid)
                if entry is None:
                    known.update(_threads(loop_thread_id))  # keeps threads that ended
                    entry = known.setdefault(tid, (_thread_key(f"thread:thread-{tid}"), None))
                if on_cpu is not None and on_cpu.waiting(frame):
                    continue
                stack = (entry[0], *_walk(frame, labels))
                if on_cpu is not None and not on_cpu.running(entry[1], rounds):
                    continue
                stacks[stack] += 1
            rounds += 1
            stop.wait(interval)
    finally:
        if on_cpu is not None:
            on_cpu.close()
    elapsed = time.monotonic() - start
    cpu_after = _threads_cpu()
    own, process = time.thread_time() - own_before, time.process_time() - process_before
    per_label: Counter[str] = Counter()
    for stack, count in stacks.items():
        per_label[stack[0][0]] += count
    threads = tuple(
        ThreadSummary(
            key[0],
            per_label.get(key[0], 0),
            round(cpu_after[tid] - cpu_before.get(tid, 0.0), 3) if tid in cpu_after else None,
        )
        for tid, (key, _) in known.items()
        if tid != me
    )
    return Profile(
        stacks,
        rounds,
        elapsed,
        interval,
        mode=mode,
        method=on_cpu.method if on_cpu is not None else "every thread",
        process_cpu_seconds=round(process, 3),
        sampler_cpu_seconds=round(own, 4),
        threads=threads,
    )


def _threads_cpu() -> dict[int, float]:
    """CPU seconds so far per Python thread ident (empty without /proc)."""
    if not threadstate.available():
        return {}
    out = {}
    for t in threading.enumerate():
        stat = threadstate.read_task(t.native_id)
        if stat is not None and t.ident is not None:
            out[t.ident] = stat.cpu_seconds
    return out


def _threads(loop_thread_id: int | None) -> dict[int, tuple[FrameKey, int | None]]:
    """ident -> (root frame key naming the thread, native id)."""
    out = {}
    for t in threading.enumerate():
        if t.ident is None:
            continue
        prefix = "loop:" if t.ident == loop_thread_id else "thread:"
        out[t.ident] = (_thread_key(prefix + t.name), t.native_id)
    return out


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

    async def profile(self, seconds: float, mode: str = "cpu") -> Profile:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if self._stop is not None:
            raise ProfilerBusy("a profile is already running")
        seconds = min(max(seconds, self.interval), self.max_seconds)
        stop = self._stop = threading.Event()
        try:
            return await asyncio.to_thread(
                sample_stacks, seconds, self.interval, stop, self.loop_thread_id, mode
            )
        finally:
            stop.set()  # a cancelled request ends its sampler thread too
            self._stop = None

    def close(self) -> None:
        if self._stop is not None:
            self._stop.set()
