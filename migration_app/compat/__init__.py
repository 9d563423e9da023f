"""Every use of a library's private API, one module per library, each checked by a unit test.

A pinned upgrade that renames or removes one of these fails ``tests/unit/compat`` with the name
of the attribute, instead of a worker that breaks at run time.
"""
