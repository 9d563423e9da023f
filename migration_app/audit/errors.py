"""Errors of the audit store (a leaf module: callers decide retry or fail without aiopg)."""

from __future__ import annotations


class AuditError(Exception):
    """The audit store failed for a reason a retry will not fix (bad data, bad SQL)."""


class AuditUnavailable(AuditError):
    """PostgreSQL is unreachable or too slow: transient, pause and retry the batch."""
