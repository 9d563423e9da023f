"""Every use of a library's private API, one module per library, each checked by a unit test.

- ``faust_internals``: faust-streaming and its aiokafka driver.
- ``aiokafka_internals``: what the rewinding consumer relies on.
- ``aiomonitor_internals``: our monitor subclass and console commands.
- ``python_internals``: CPython and asyncio underscore APIs the debug views use.
- ``_required``: the shape of each module's checklist (owner, attribute, why).

A pinned upgrade that renames or removes one of these fails ``tests/unit/compat`` with the name
of the attribute, instead of a worker that breaks at run time.
"""
