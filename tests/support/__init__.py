"""What tests in any room share; plain modules, imported by name (a conftest.py only holds
fixtures and hooks, and is never imported):

- ``polling``: ``wait_for``, the one way a test waits for a condition.
- ``workers``: what every `migration-app worker` a test starts is given (the debug token, a fast
  consumer group) and ``task_dump``, its asyncio tasks for a failure report.
- ``mapping``: ``field_rules_only``, the packaged mapping without owner/record type/CreatedDate.
- ``postgres``: ``StoppablePostgres``, a private PostgreSQL a test may stop and start.

Each room's own helpers sit beside its tests (``tests/integration/pipeline/harness.py``, ...).
"""
