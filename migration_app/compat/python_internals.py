"""CPython and asyncio: the underscore APIs the debug views use (documented, but private-named).

* ``sys._current_frames``: every thread's current frame (thread stacks, the CPU profiler).
* ``asyncio.Task._source_traceback``: where a task was created, kept in asyncio debug mode.
* ``concurrent.futures.thread._worker``, ``threading.Thread._wait_for_tstate_lock``: functions a
  thread sits in while it waits (an idle executor thread, a ``join``); the CPU profile drops
  samples that end in one of them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures.thread
import queue
import selectors
import socket
import sys
import threading
import traceback
from types import CodeType, FrameType
from typing import Any

from migration_app.compat._required import Required, missing

REQUIRED = [
    Required(sys, "_current_frames", "thread stacks and the sampling profiler"),
    Required(concurrent.futures.thread, "_worker", "the CPU profile: idle executor threads"),
    Required(threading.Thread, "_wait_for_tstate_lock", "the CPU profile: threads in join()"),
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


def wait_leaf_codes() -> frozenset[CodeType]:
    """Code of the Python functions a thread is in while it waits in C below them.

    Why: a sampled stack that ends in one of these is a thread blocked in a selector, a lock, a
    condition, a queue or a socket read, not a thread using the CPU. Missing ones are skipped
    (the compat test names the private ones).
    """
    functions: list[object] = [
        getattr(selectors, name).select
        for name in ("EpollSelector", "PollSelector", "DevpollSelector", "KqueueSelector")
        if hasattr(selectors, name)
    ]
    functions += [
        selectors.SelectSelector.select,
        threading.Condition.wait,
        threading.Condition.wait_for,
        getattr(threading.Thread, "_wait_for_tstate_lock", None),
        queue.Queue.get,
        queue.Queue.put,
        getattr(concurrent.futures.thread, "_worker", None),
        socket.SocketIO.readinto,
        socket.socket.accept,
    ]
    try:
        import ssl

        functions += [ssl.SSLSocket.read, ssl.SSLSocket.recv_into, ssl.SSLSocket.recv]
    except ImportError:  # Python built without OpenSSL
        pass
    try:
        from urllib3.util import wait as urllib3_wait

        functions += [urllib3_wait.poll_wait_for_socket, urllib3_wait.select_wait_for_socket]
    except (ImportError, AttributeError):
        pass
    return frozenset(code for f in functions if (code := getattr(f, "__code__", None)) is not None)
