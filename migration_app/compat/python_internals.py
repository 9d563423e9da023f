"""CPython and asyncio: the underscore APIs the debug views use (documented, but private-named).

* ``sys._current_frames``: every thread's current frame (thread stacks, the CPU profiler).
* ``asyncio.Task._source_traceback``: where a task was created, kept in asyncio debug mode.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from types import FrameType
from typing import Any

from migration_app.compat._required import Required, missing

REQUIRED = [
    Required(sys, "_current_frames", "thread stacks and the sampling profiler"),
]


def missing_attributes() -> list[str]:
    lost = missing(REQUIRED)
    import inspect

    try:
        source = inspect.getsource(asyncio.futures.Future)
    except (OSError, TypeError):  # C-accelerated without source: the attribute is in C too
        source = "_source_traceback"
    if "_source_traceback" not in source:
        lost.append("asyncio.Future._source_traceback (used for: task creation sites)")
    return lost


def current_frames() -> dict[int, FrameType]:
    return sys._current_frames()


def task_source_traceback(task: asyncio.Task[Any]) -> list[traceback.FrameSummary] | None:
    """The creation stack asyncio keeps in debug mode (None otherwise)."""
    tb = getattr(task, "_source_traceback", None)
    return list(tb) if tb else None
