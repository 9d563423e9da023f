"""Every Python thread's current stack (``sys._current_frames``), like ``/debug/pprof/threadcreate``
but showing what each thread is doing now: a stuck executor or a leaked thread names itself here.

Each thread also shows its kernel state and CPU seconds so far (Linux ``/proc``): a stack says
where a thread is, not whether it is using a CPU. Executor threads are named by their pool
(``salesforce-sf1_3`` is pool ``sf1``), so a busy or stuck pool stands out in one line.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict

from migration_app.compat import python_internals
from migration_app.ops.debug import threadstate
from migration_app.ops.debug.tasks import Frame

EXECUTOR_WORKER = "concurrent.futures.thread._worker"
_POOL_NAME = re.compile(r"^(?:salesforce-)?(?P<pool>.+)_(?P<n>\d+)$")


def thread_stacks() -> list[tuple[threading.Thread | None, int, list[Frame]]]:
    """(thread or None if not a ``threading`` thread, ident, frames innermost first)."""
    by_ident = {t.ident: t for t in threading.enumerate()}
    result = []
    for ident, frame in python_internals.current_frames().items():
        frames: list[Frame] = []
        f = frame
        while f is not None:
            frames.append(Frame.of(f))
            f = f.f_back
        result.append((by_ident.get(ident), ident, frames))
    result.sort(key=lambda item: item[0].name if item[0] else "")
    return result


def pool_of(name: str, frames: list[Frame]) -> str | None:
    """The executor pool a thread belongs to (``sf1`` for ``salesforce-sf1_3``), else None.

    Why the stack: ``ThreadPoolExecutor`` names its threads ``<prefix>_<n>``, but so might any
    thread; only one running ``concurrent.futures.thread._worker`` is an executor thread.
    """
    if not any(f.function == EXECUTOR_WORKER for f in frames):
        return None
    match = _POOL_NAME.match(name)
    return match["pool"] if match else name


def format_threads(loop_thread_id: int | None = None) -> str:
    stacks = thread_stacks()
    pools: dict[str, list[threadstate.TaskStat | None]] = defaultdict(list)
    blocks: list[str] = []
    for thread, ident, frames in stacks:
        name = thread.name if thread else "<unknown>"
        pool = pool_of(name, frames)
        stat = threadstate.read_task(thread.native_id if thread else None)
        flags = []
        if ident == loop_thread_id:
            flags.append("event loop")
        if thread is not None and thread.daemon:
            flags.append("daemon")
        if pool is not None:
            flags.append(f"pool {pool}")
            pools[pool].append(stat)
        suffix = f" [{', '.join(flags)}]" if flags else ""
        details = []
        if stat is not None:
            details += [f"{stat.state_name} ({stat.state})", f"{stat.cpu_seconds:.2f} CPU s"]
        if thread is not None and thread.native_id is not None:
            details.append(f"native id {thread.native_id}")
        lines = [
            f'thread {ident} "{name}"{suffix}:' + (f" {', '.join(details)}" if details else "")
        ]
        for fr in frames:
            lines.append(f"{fr.function}()")
            lines.append(f"\t{fr.filename}:{fr.lineno}")
        blocks.append("\n".join(lines) + "\n")
    head = [f"thread profile: total {len(stacks)}"]
    if pools:
        head.append(
            "executor pools: " + "; ".join(_pool_line(p, s) for p, s in sorted(pools.items()))
        )
    return "\n".join([*head, "", *blocks]) + "\n"


def _pool_line(pool: str, stats: list[threadstate.TaskStat | None]) -> str:
    known = [s for s in stats if s is not None]
    if not known:
        return f"{pool} {len(stats)} threads"
    running = sum(s.state == "R" for s in known)
    cpu = sum(s.cpu_seconds for s in known)
    return f"{pool} {len(stats)} threads ({running} running, {cpu:.2f} CPU s)"
