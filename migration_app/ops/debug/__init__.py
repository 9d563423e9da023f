"""Debugging tools for a running worker.

- ``views``: ``/debug/pprof/*``, token-guarded; thin adapters over the modules below.
- ``tasks``: asyncio task stacks, grouped like Go's ``goroutine?debug=1``.
- ``threads``: every thread's current stack; ``threadstate``: per-thread scheduler state and CPU
  time from ``/proc``.
- ``heap``: tracemalloc snapshots and growth; ``profiler``: the sampling CPU profiler.
- ``looplag``: how late a timer wakes up (anything blocking the loop shows here first).
- ``watchdog``: warns on steady growth of tasks, fds, threads or RSS.
- ``monitor``: aiomonitor, started and stopped by the app, with our telnet commands.
- ``owned_task``: a background task with an owner that cancels and awaits it on stop.

Each module is usable on its own (plain functions and small classes); the Faust views and the
aiomonitor commands are thin adapters over them.
"""
