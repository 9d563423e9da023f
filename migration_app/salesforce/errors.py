"""Errors of the Salesforce client (a leaf module: the pipeline, the processor and the commands
decide on them without importing the client)."""

from __future__ import annotations

from typing import Any

# Per-record errors that mean "try again later" rather than "this record is wrong".
TRANSIENT_RECORD_ERRORS = frozenset(
    {"UNABLE_TO_LOCK_ROW", "REQUEST_RUNNING_TOO_LONG", "SERVER_UNAVAILABLE"}
)


class SalesforceTransientError(RuntimeError):
    """Still failing after retries (5xx, timeouts, REQUEST_LIMIT_EXCEEDED): retry the work later."""


class SalesforceRequestLimitError(SalesforceTransientError):
    """``REQUEST_LIMIT_EXCEEDED``: the org refuses more requests for now. ``concurrent``: too
    many long-running requests at once ("ConcurrentPerOrgLongTxn"), which the client waits out
    without a retry cap (the org is busy, the customer is not at fault); otherwise the daily
    allocation, retried like any transient failure."""

    def __init__(self, message: str, *, concurrent: bool) -> None:
        super().__init__(message)
        self.concurrent = concurrent


class SalesforcePermanentError(RuntimeError):
    """The request itself is wrong (4xx other than limits): retrying cannot help."""

    def __init__(self, message: str, status: int | None = None, content: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.content = content


class SalesforceAuthError(SalesforcePermanentError):
    """The org refused our credentials (OAuth error or SOAP fault): fix the configuration."""
