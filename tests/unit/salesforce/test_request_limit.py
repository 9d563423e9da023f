"""REQUEST_LIMIT_EXCEEDED is transient: the concurrent kind (ConcurrentPerOrgLongTxn) is told
apart from the daily allocation, which keeps the ordinary bounded retries."""

from __future__ import annotations

from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceRefusedRequest

from migration_app.salesforce.client import _classify
from migration_app.salesforce.errors import (
    SalesforcePermanentError,
    SalesforceRequestLimitError,
    SalesforceTransientError,
)

CONCURRENT = [
    {
        "message": "ConcurrentPerOrgLongTxn Limit exceeded.",
        "errorCode": "REQUEST_LIMIT_EXCEEDED",
        "fields": [],
    }
]
DAILY = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


def test_concurrent_long_running_refusal_is_a_concurrent_request_limit_error() -> None:
    err = _classify("sf2", SalesforceRefusedRequest("u", 403, "query", CONCURRENT))
    assert isinstance(err, SalesforceRequestLimitError) and err.concurrent
    assert isinstance(err, SalesforceTransientError)
    assert "concurrent" in str(err)


def test_daily_allocation_refusal_is_transient_but_not_concurrent() -> None:
    err = _classify("sf2", SalesforceRefusedRequest("u", 403, "query", DAILY))
    assert isinstance(err, SalesforceRequestLimitError) and not err.concurrent


def test_other_client_errors_stay_permanent() -> None:
    content = [{"message": "bad field", "errorCode": "INVALID_FIELD"}]
    err = _classify("sf2", SalesforceMalformedRequest("u", 400, "query", content))
    assert isinstance(err, SalesforcePermanentError)
