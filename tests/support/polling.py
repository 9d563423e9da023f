"""Waiting for a condition in tests: poll with a deadline, fail saying what was last seen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


def wait_for(
    predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.1
) -> object:
    """Poll until predicate returns a truthy value; fail with a clear message at the deadline."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


async def wait_until(
    predicate: Callable[[], Awaitable[object]], within: float = 30.0, interval: float = 0.1
) -> object:
    """``wait_for`` for a coroutine predicate, without blocking the event loop."""
    deadline = time.monotonic() + within
    last: object = None
    while time.monotonic() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s (last value: {last!r})")
