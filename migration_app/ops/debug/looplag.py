"""Event-loop lag: how late a timer wakes up. Anything that blocks the loop (sync I/O, CPU work,
a forgotten ``time.sleep``) shows up here first."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from migration_app.ops.debug.owned_task import OwnedTask


class LoopLagMonitor:
    """An owned task sleeping ``interval`` and measuring the overshoot.

    ``lag_seconds`` is the worst lag of the last ``window`` seconds, so a scrape every 15 s still
    sees a one-off 2 s stall.
    """

    def __init__(self, interval: float = 0.25, window: float = 10.0) -> None:
        self.interval = interval
        self.window = window
        self.stall_after = max(5.0, 20 * interval)
        self._recent: deque[tuple[float, float]] = deque()
        self._task = OwnedTask("loop-lag-monitor")
        self.last_tick: float | None = None

    @property
    def lag_seconds(self) -> float | None:
        if not self._recent:
            return None
        return max(lag for _, lag in self._recent)

    def stalled(self) -> bool:
        """True when the monitor stopped ticking (the loop is blocked or the task died)."""
        if not self._task.started:
            return False
        if self._task.done():
            return True
        last = self.last_tick
        return last is not None and time.monotonic() - last > self.stall_after

    def record(self, lag: float, now: float) -> None:
        self._recent.append((now, lag))
        while self._recent and self._recent[0][0] < now - self.window:
            self._recent.popleft()
        self.last_tick = now

    def start(self) -> None:
        if not self._task.started:
            self.last_tick = time.monotonic()
            self._task.start(self._run)

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.interval)
            self.record(max(0.0, loop.time() - start - self.interval), time.monotonic())
