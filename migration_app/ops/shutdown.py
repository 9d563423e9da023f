"""A deadline on the worker's stop: exit within the pod's grace period even if a stop path hangs.

Faust stops its services one by one and several of those steps wait on the broker (consumer
commit and leave-group, producer flush) or on a thread: with the broker gone, one of them can
wait far longer than Kubernetes' ``terminationGracePeriodSeconds`` before SIGKILL, and a SIGKILL
says nothing about what was stuck. The guard is armed when the worker starts stopping (SIGTERM,
SIGINT or a crash); if the process is still alive ``MIGRATION_SHUTDOWN_TIMEOUT`` seconds later it
logs the asyncio tasks (grouped by stack) and the thread stacks that were still pending, then
ends the process with ``os._exit``.

The deadline runs on a daemon thread, not on the event loop: the loop may be the thing that is
blocked, and a daemon thread never keeps a process alive that would otherwise exit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time

import faust

from migration_app.ops.debug.tasks import all_tasks, format_groups, group_tasks
from migration_app.ops.debug.threads import format_threads

log = logging.getLogger(__name__)

#: Exit status of a forced exit: tells "the deadline ended it" apart from a clean stop (0).
FORCED_EXIT_CODE = 70  # EX_SOFTWARE


class ShutdownGuard:
    """Forces the process to exit ``timeout`` seconds after ``arm()`` unless it exits first."""

    def __init__(self, timeout: float, *, exit_code: int = FORCED_EXIT_CODE) -> None:
        self.timeout = timeout
        self.exit_code = exit_code
        self._armed_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    @property
    def armed(self) -> bool:
        return self._armed_at is not None

    def arm(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start the deadline once (later calls are no-ops: the first stop request counts)."""
        with self._lock:
            if self._armed_at is not None:
                return
            self._armed_at = time.monotonic()
            self._loop = loop
        log.info("shutdown: the worker exits within %ss (MIGRATION_SHUTDOWN_TIMEOUT)", self.timeout)
        threading.Thread(target=self._expire, name="shutdown-guard", daemon=True).start()

    def _expire(self) -> None:
        # Nothing ever sets this event: the process exiting is what ends the wait early.
        threading.Event().wait(self.timeout)
        self.force_exit()

    def report(self) -> str:
        """What was still pending: the loop's tasks grouped by stack, then every thread's stack."""
        parts = []
        if self._loop is not None:
            try:
                tasks = [t for t in all_tasks(self._loop) if not t.done()]
                parts.append(format_groups(group_tasks(tasks)))
            except RuntimeError as exc:  # the task set changed while we read it (other thread)
                parts.append(f"(no task dump: {exc})\n")
        parts.append(format_threads())
        return "\n".join(parts)

    def force_exit(self) -> None:
        """Log what is pending, flush the log handlers and end the process now."""
        elapsed = time.monotonic() - (self._armed_at or time.monotonic())
        try:
            log.error(
                "shutdown: still running %.1fs after the stop began "
                "(MIGRATION_SHUTDOWN_TIMEOUT=%s); forcing exit %d. Pending:\n%s",
                elapsed,
                self.timeout,
                self.exit_code,
                self.report(),
            )
            for handler in logging.getLogger().handlers:
                handler.flush()
            sys.stderr.flush()
            sys.stdout.flush()
        finally:
            os._exit(self.exit_code)


def guarded_worker(timeout: float) -> type[faust.Worker]:
    """The ``faust.Worker`` class of the app (its ``Worker`` setting): arms a ``ShutdownGuard``
    as the worker's stop begins, whatever started it (signal, crash, ``app.main()`` exit)."""

    class GuardedWorker(faust.Worker):
        shutdown_guard: ShutdownGuard | None = None

        async def on_stop(self) -> None:
            self.shutdown_guard = self.shutdown_guard or ShutdownGuard(timeout)
            self.shutdown_guard.arm(self.loop)
            await super().on_stop()

    return GuardedWorker
