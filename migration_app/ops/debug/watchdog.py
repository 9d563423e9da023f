"""Leak watchdog: samples grouped task stacks, fds, threads and RSS; warns on steady growth.

``LeakDetector`` is pure (feed it ``Sample``s, read the ``Verdict``) so its rules are unit-tested
without a loop. ``Watchdog`` is the owned task that samples the live process every ``interval``.
A verdict names the stack groups that grew, the same groups ``/debug/pprof/tasks?debug=1`` shows.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from migration_app.ops.debug.owned_task import OwnedTask
from migration_app.ops.debug.tasks import Stack, TaskGroup, all_tasks, group_tasks
from migration_app.ops.process import process_stats

log = logging.getLogger(__name__)

METRICS = ("tasks", "threads", "open_fds", "rss_bytes")
# Minimum growth over one window before it counts; RSS is noisy (allocator, caches), so it needs a
# lot more evidence than a task or a file descriptor.
DEFAULT_THRESHOLDS: Mapping[str, int] = {
    "tasks": 5,
    "threads": 3,
    "open_fds": 5,
    "rss_bytes": 64 * 1024 * 1024,
}


@dataclass(frozen=True)
class Sample:
    at: float
    tasks: int
    threads: int
    open_fds: int
    rss_bytes: int
    groups: Mapping[Stack, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Growth:
    name: str
    first: int
    last: int

    @property
    def delta(self) -> int:
        return self.last - self.first


@dataclass(frozen=True)
class GroupGrowth:
    stack: Stack
    first: int
    last: int

    @property
    def delta(self) -> int:
        return self.last - self.first

    def summary(self, depth: int = 4) -> str:
        return TaskGroup(self.last, self.stack).summary(depth)


@dataclass(frozen=True)
class Verdict:
    suspect: bool
    span_seconds: float = 0.0
    grew: tuple[Growth, ...] = ()
    groups: tuple[GroupGrowth, ...] = ()

    def describe(self) -> str:
        totals = ", ".join(f"{g.name} {g.first} -> {g.last}" for g in self.grew) or "no totals"
        stacks = "; ".join(f"+{g.delta} ({g.first} -> {g.last}) {g.summary()}" for g in self.groups)
        return f"{totals} over {self.span_seconds:.1f}s; growing stacks: {stacks or 'none'}"

    def asdict(self) -> dict[str, Any]:
        return {
            "window_seconds": round(self.span_seconds, 1),
            "grew": {g.name: {"from": g.first, "to": g.last} for g in self.grew},
            "stacks": [
                {
                    "count_from": g.first,
                    "count_to": g.last,
                    "top": g.stack[0].function if g.stack else "<no frame>",
                    "stack": [str(f) for f in g.stack[:8]],
                }
                for g in self.groups
            ],
        }


CLEAR = Verdict(False)


def steady_growth(series: list[int], threshold: int) -> bool:
    """Grew by ``threshold`` or more, rose in at least half of the steps, ends at its maximum.

    Tolerates dips from normal churn (requests come and go) but not a one-off jump.
    """
    if len(series) < 2 or series[-1] - series[0] < threshold:
        return False
    rises = sum(1 for a, b in itertools.pairwise(series) if b > a)
    return rises >= math.ceil((len(series) - 1) / 2) and series[-1] == max(series)


class LeakDetector:
    """Keeps the last ``windows`` consecutive windows of ``window`` samples and judges them.

    A metric counts only when it grew steadily in each of those windows. Warming up grows
    bounded things (executor threads, pooled connections, batch tasks, caches) for about a
    window, then they plateau: seen at every worker's first wave with one window (threads
    8 -> 22, fds 48 -> 63, RSS +68 MB in 50 s: DEGRADED for a minute). A leak keeps growing.
    """

    def __init__(
        self,
        window: int,
        thresholds: Mapping[str, int] | None = None,
        max_groups: int = 5,
        windows: int = 2,
    ) -> None:
        if window < 2:
            raise ValueError("window must be at least 2 samples")
        if windows < 1:
            raise ValueError("windows must be at least 1")
        self.window = window
        self.windows = windows
        #: consecutive windows share their boundary sample
        self.span = (window - 1) * windows + 1
        self.thresholds = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
        self.max_groups = max_groups
        self._samples: list[Sample] = []
        self.verdict = CLEAR

    def feed(self, sample: Sample) -> Verdict:
        self._samples.append(sample)
        del self._samples[: -self.span]
        self.verdict = self._judge() if len(self._samples) == self.span else CLEAR
        return self.verdict

    def _grew_in_every_window(self, series: list[int], threshold: int) -> bool:
        step = self.window - 1
        return all(
            steady_growth(series[start : start + self.window], threshold)
            for start in range(0, len(series) - 1, step)
        )

    def _judge(self) -> Verdict:
        samples = self._samples
        grew = tuple(
            Growth(name, getattr(samples[0], name), getattr(samples[-1], name))
            for name in METRICS
            if self._grew_in_every_window(
                [getattr(s, name) for s in samples], self.thresholds[name]
            )
        )
        if not grew:  # stacks alone can trade tasks back and forth; the totals must grow
            return CLEAR
        growing = []
        for stack in samples[-1].groups:
            series = [s.groups.get(stack, 0) for s in samples]
            if series[-1] > series[0]:
                steady = steady_growth(series, self.thresholds["tasks"])
                growing.append((steady, GroupGrowth(stack, series[0], series[-1])))
        # name the steadily growing groups; failing that (fds/threads/RSS), the ones that grew
        shown = [g for steady, g in growing if steady] or [g for _, g in growing]
        shown.sort(key=lambda g: -g.delta)
        return Verdict(True, samples[-1].at - samples[0].at, grew, tuple(shown[: self.max_groups]))


def take_sample(loop: asyncio.AbstractEventLoop | None = None) -> Sample:
    """The live process now: O(tasks), a few ms for thousands of tasks."""
    stats = process_stats(loop)
    groups = {g.stack: g.count for g in group_tasks(all_tasks(loop))}
    return Sample(
        time.monotonic(), stats.tasks, stats.threads, stats.open_fds, stats.rss_bytes, groups
    )


class Watchdog:
    """The owned sampling task. Logs a WARNING when a leak is suspected (at most once per window),
    INFO when it clears; ``on_change(suspect)`` drives the metric."""

    def __init__(
        self,
        detector: LeakDetector,
        *,
        interval: float,
        sample: Callable[[], Sample] = take_sample,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.detector = detector
        self.interval = interval
        self._sample = sample
        self._on_change = on_change
        self._task = OwnedTask("leak-watchdog")
        self._steps_since_warning: int | None = None  # None: never warned

    @property
    def verdict(self) -> Verdict:
        return self.detector.verdict

    def suspect(self) -> dict[str, Any] | None:
        """The ``leak_suspect`` object of /health, or None."""
        verdict = self.detector.verdict
        return verdict.asdict() if verdict.suspect else None

    def start(self) -> None:
        self._task.start(self._run)

    async def stop(self) -> None:
        await self._task.stop()

    def step(self) -> Verdict:
        was = self.detector.verdict.suspect
        verdict = self.detector.feed(self._sample())
        if self._steps_since_warning is not None:
            self._steps_since_warning += 1
        if verdict.suspect:
            # at most one WARNING per window, even if the verdict flaps
            quiet = self._steps_since_warning
            if quiet is None or quiet >= self.detector.window:
                self._steps_since_warning = 0
                log.warning("leak suspected: %s", verdict.describe())
        elif was:
            log.info("leak suspicion cleared: no steady growth in the last window")
        if verdict.suspect != was and self._on_change is not None:
            self._on_change(verdict.suspect)
        return verdict

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.step()
            except Exception:  # the watchdog must outlive a bad sample
                log.exception("leak watchdog sample failed")
