"""aiomonitor (0.7.x): the private API our monitor subclass and console commands rely on.

aiomonitor starts its UI on a helper thread and keeps the monitored loop, the task-factory hook
and the telnet sessions' tasks in private attributes; our commands run on the app loop, the
start-up error path restores the task factory, and ``tasks-top`` reads the monitored loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiomonitor import Monitor

from migration_app.compat._required import Required, missing

REQUIRED = [
    Required(Monitor, "_ui_main", "report a failed UI start instead of hanging start()"),
]
#: Set in ``Monitor.__init__``/``start``: checked against the source, not the class.
INSTANCE_STATE = (
    "_ui_started",
    "_ui_thread",
    "_ui_loop",
    "_monitored_loop",
    "_original_task_factory",
    "_created_tracebacks",
    "_termui_tasks",
    "_event_loop_thread_id",
)


def missing_attributes() -> list[str]:
    import inspect

    source = inspect.getsource(Monitor)
    lost = [
        f"aiomonitor.Monitor.{name} (instance state our monitor reads)"
        for name in INSTANCE_STATE
        if f"self.{name}" not in source
    ]
    return missing(REQUIRED) + lost


def monitored_loop(monitor: Monitor) -> asyncio.AbstractEventLoop:
    return monitor._monitored_loop


def ui_loop(monitor: Monitor) -> asyncio.AbstractEventLoop:
    return monitor._ui_loop  # type: ignore[return-value]


def track_ui_task(monitor: Monitor, task: asyncio.Task[Any]) -> None:
    """Let aiomonitor cancel a console command's task with the telnet session."""
    monitor._termui_tasks.add(task)


def set_loop_thread(monitor: Monitor, thread_id: int) -> None:
    """``start()`` records the thread it was called from; we call it from a helper thread."""
    monitor._event_loop_thread_id = thread_id


def mark_ui_started(monitor: Monitor) -> None:
    monitor._ui_started.set()


def join_ui_thread(monitor: Monitor) -> None:
    if monitor._ui_thread is not None:
        monitor._ui_thread.join()


def restore_task_factory(monitor: Monitor) -> None:
    monitor._monitored_loop.set_task_factory(monitor._original_task_factory)


def creation_traceback(monitor: Monitor, task: asyncio.Task[Any]) -> Any:
    """Where ``task`` was created (recorded only with ``hook_task_factory``)."""
    return monitor._created_tracebacks.get(task)
