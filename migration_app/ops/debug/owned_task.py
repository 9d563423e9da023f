"""A background task with an owner: started once, cancelled and awaited on stop.

The rule "every background task has an owner that cancels it on stop" in one place, so the
loop-lag monitor and the leak watchdog cannot each get it slightly wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any


class OwnedTask:
    def __init__(self, name: str) -> None:
        self.name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def started(self) -> bool:
        return self._task is not None

    def done(self) -> bool:
        """True when started and finished (crashed or returned): nothing is ticking any more."""
        return self._task is not None and self._task.done()

    def start(self, run: Callable[[], Coroutine[Any, Any, None]]) -> bool:
        """Start ``run()`` unless already started; True when this call started it."""
        if self._task is not None:
            return False
        self._task = asyncio.create_task(run(), name=self.name)
        return True

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
