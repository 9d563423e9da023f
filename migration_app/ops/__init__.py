"""Operating the worker.

- ``health``: ``/health`` (tasks, threads, fds, RSS, dependencies) and ``/health/ready``.
- ``metrics``: the Prometheus metrics; ``process``: the counters that reveal leaks (tasks,
  threads, fds, RSS), read in one cheap call.
- ``observability``: wires the debug views, the watchdog and aiomonitor to the app.
- ``faust_introspection``: what Faust knows of assignments and recovery, read safely.
- ``table_recovery``: recovery progress of the state table, for ``/health/ready``.
- ``shutdown``: the forced exit after ``MIGRATION_SHUTDOWN_TIMEOUT``.
- ``redaction``: the one scrubber of secrets and session ids in logs and errors.
- ``debug/``: the pprof-style views, profilers, watchdog and aiomonitor.
"""
