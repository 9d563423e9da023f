"""Operating the worker: ``health``, ``metrics`` (Prometheus), ``observability`` (wires the
debug views, watchdog and aiomonitor), ``faust_introspection``, ``table_recovery``,
``shutdown``, ``redaction`` and ``debug/`` (pprof-style views)."""
