"""Every Python thread's current stack (``sys._current_frames``), like ``/debug/pprof/threadcreate``
but showing what each thread is doing now: a stuck executor or a leaked thread names itself here.
"""

from __future__ import annotations

import threading

from migration_app.compat import python_internals
from migration_app.debug.tasks import Frame


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


def format_threads(loop_thread_id: int | None = None) -> str:
    stacks = thread_stacks()
    lines = [f"thread profile: total {len(stacks)}", ""]
    for thread, ident, frames in stacks:
        name = thread.name if thread else "<unknown>"
        flags = []
        if thread is not None and thread.daemon:
            flags.append("daemon")
        if ident == loop_thread_id:
            flags.append("event loop")
        suffix = f" [{', '.join(flags)}]" if flags else ""
        lines.append(f'thread {ident} "{name}"{suffix}:')
        for fr in frames:
            lines.append(f"{fr.function}()")
            lines.append(f"\t{fr.filename}:{fr.lineno}")
        lines.append("")
    return "\n".join(lines) + "\n"
