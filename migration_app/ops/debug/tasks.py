"""Asyncio task stacks, grouped like Go's ``/debug/pprof/goroutine?debug=1``.

A task's stack is its coroutine chain (``cr_await`` / ``gi_yieldfrom`` / ``ag_await``), the frames
it is suspended in, innermost first. Tasks with identical stacks form one group with a count: a
leak shows up as one group whose count keeps growing.
"""

from __future__ import annotations

import asyncio
import gc
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from migration_app.compat import python_internals

MAX_DEPTH = 128


@dataclass(frozen=True)
class Frame:
    """One suspended frame: ``module.qualname`` and where it is."""

    function: str
    filename: str
    lineno: int

    def __str__(self) -> str:
        return f"{self.function} ({self.filename}:{self.lineno})"

    @classmethod
    def of(cls, frame: FrameType, lineno: int | None = None) -> Frame:
        module = frame.f_globals.get("__name__", "?")
        code = frame.f_code
        return cls(f"{module}.{code.co_qualname}", code.co_filename, lineno or frame.f_lineno)


Stack = tuple[Frame, ...]  # innermost first, like Go and pprof


@dataclass(frozen=True)
class TaskGroup:
    count: int
    stack: Stack

    def headline(self) -> str:
        """The innermost frame: what the group is stuck on."""
        return self.stack[0].function if self.stack else "<no frame>"

    def summary(self, depth: int = 4) -> str:
        """A one-line description for logs: innermost frames joined by ' <- '."""
        if not self.stack:
            return "<no frame>"
        return " <- ".join(f.function for f in self.stack[:depth])


def _frame_of(obj: Any) -> FrameType | None:
    for attr in ("cr_frame", "gi_frame", "ag_frame"):
        frame = getattr(obj, attr, None)
        if frame is not None:
            return frame
    return None


# Objects that sit between two coroutines without exposing the inner one: ``coro.__await__()``
# (used by awaitables such as aiohttp's ``session.get(...)``) and ``agen.__anext__()``.
_OPAQUE = frozenset({"coroutine_wrapper", "async_generator_asend", "async_generator_athrow"})


def _awaited_by(obj: Any) -> Any:
    for attr in ("cr_await", "gi_yieldfrom", "ag_await"):
        inner = getattr(obj, attr, None)
        if inner is not None:
            if type(inner).__name__ in _OPAQUE:
                return _unwrap(inner)
            return inner
    return None


def _unwrap(wrapper: Any) -> Any:
    """The coroutine or async generator inside an opaque wrapper, via the GC's referents (the
    only way in from Python; read-only and cheap)."""
    for ref in gc.get_referents(wrapper):
        if _frame_of(ref) is not None or hasattr(ref, "cr_await") or hasattr(ref, "ag_await"):
            return ref
    return None


def coroutine_stack(coro: Any) -> Stack:
    """Walk the await chain from the task's coroutine down to where it is suspended."""
    outermost_first: list[Frame] = []
    while coro is not None and len(outermost_first) < MAX_DEPTH:
        frame = _frame_of(coro)
        if frame is None:
            break
        outermost_first.append(Frame.of(frame))
        coro = _awaited_by(coro)
    return tuple(reversed(outermost_first))


def task_stack(task: asyncio.Task[Any]) -> Stack:
    return coroutine_stack(task.get_coro())


def all_tasks(loop: asyncio.AbstractEventLoop | None = None) -> list[asyncio.Task[Any]]:
    """All tasks of ``loop``; callable from another thread (aiomonitor's UI thread)."""
    if loop is None:
        loop = asyncio.get_running_loop()
    return list(asyncio.all_tasks(loop))


def group_tasks(tasks: Iterable[asyncio.Task[Any]]) -> list[TaskGroup]:
    """Groups of identical stacks, most frequent first (ties: by stack text, for stable output)."""
    counts = Counter(task_stack(t) for t in tasks)
    groups = [TaskGroup(n, stack) for stack, n in counts.items()]
    groups.sort(key=lambda g: (-g.count, [str(f) for f in g.stack]))
    return groups


def format_groups(groups: list[TaskGroup], total: int | None = None) -> str:
    """``tasks?debug=1``: ``task profile: total N`` then one block per group, Go style.

    ``total`` overrides the count in the header when ``groups`` was cut to the top few.
    """
    total = sum(g.count for g in groups) if total is None else total
    lines = [f"task profile: total {total}"]
    for group in groups:
        lines.append(f"{group.count} @ {group.headline()}")
        lines.extend(f"#\t{f.function}\t{f.filename}:{f.lineno}" for f in group.stack)
        lines.append("")
    return "\n".join(lines) + "\n"


def task_state(task: asyncio.Task[Any]) -> str:
    if task.done():
        return "cancelled" if task.cancelled() else "done"
    return "cancelling" if task.cancelling() else "pending"


CreationSite = Callable[[asyncio.Task[Any]], list[traceback.FrameSummary] | None]


def source_traceback(task: asyncio.Task[Any]) -> list[traceback.FrameSummary] | None:
    """Where the task was created, recorded by asyncio only when the loop runs in debug mode."""
    return python_internals.task_source_traceback(task)


def format_tasks(tasks: Iterable[asyncio.Task[Any]], creation_site: CreationSite | None) -> str:
    """``tasks?debug=2``: every task with name, state, stack and creation site where known."""
    tasks = sorted(tasks, key=lambda t: t.get_name())
    lines = [f"task dump: total {len(tasks)}", ""]
    for task in tasks:
        lines.append(f'task {id(task):#x} "{task.get_name()}" [{task_state(task)}]:')
        stack = task_stack(task)
        if not stack:
            lines.append(f"  <no frame: {task.get_coro()!r}>")
        for f in stack:
            lines.append(f"{f.function}()")
            lines.append(f"\t{f.filename}:{f.lineno}")
        site = creation_site(task) if creation_site else None
        if site:
            lines.append("created at:")
            for fs in reversed(site):  # innermost first, like the stack above
                lines.append(f"{fs.name}()")
                lines.append(f"\t{fs.filename}:{fs.lineno}")
        lines.append("")
    return "\n".join(lines) + "\n"
