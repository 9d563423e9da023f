"""A byte budget for files in flight: how many bytes of files are being copied V1 -> V2 at once.

First come, first served: a file waits until the bytes ahead of it are released and its own fit
(``in_use + size <= limit``), or, when it is larger than the whole budget, until nothing else
is in flight: it then goes alone. Nobody overtakes a waiting file, so a large one is never
starved by a stream of small ones.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class ByteBudget:
    def __init__(self, limit: int, on_change: Callable[[int], None] | None = None) -> None:
        if limit < 1:
            raise ValueError(f"a byte budget needs a positive limit, got {limit}")
        self.limit = limit
        self.in_use = 0
        #: the largest ``in_use`` seen (tests and the benchmark read it)
        self.peak = 0
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._on_change = on_change

    def fits(self, size: int) -> bool:
        """Whether ``size`` more bytes may start now (ignoring the queue)."""
        return self.in_use == 0 or self.in_use + size <= self.limit

    @asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        await self.acquire(size)
        try:
            yield
        finally:
            self.release(size)

    async def acquire(self, size: int) -> None:
        size = max(0, size)
        if not self._waiting and self.fits(size):
            self._take(size)
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (size, granted)
        self._waiting.append(entry)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release(size)  # granted just as it was cancelled: give it back
            else:
                self._waiting.remove(entry)
                self._wake()
            raise

    def release(self, size: int) -> None:
        self.in_use -= max(0, size)
        if self._on_change is not None:
            self._on_change(self.in_use)
        self._wake()

    def _take(self, size: int) -> None:
        self.in_use += size
        self.peak = max(self.peak, self.in_use)
        if self._on_change is not None:
            self._on_change(self.in_use)

    def _wake(self) -> None:
        while self._waiting and self.fits(self._waiting[0][0]):
            size, granted = self._waiting.popleft()
            if granted.done():
                continue
            self._take(size)
            granted.set_result(None)
