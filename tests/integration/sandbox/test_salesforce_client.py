"""The worker's SalesforceClient against an in-process sandbox org: transient failures retried,
a dead session renewed once for all callers, a hung org bounded by the read timeout, the daily
allocation read from every response, and collections deletes with per-record results."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Iterator

import pytest
import requests

from devstack.sandbox import SandboxConfig, SandboxThread
from migration_app.salesforce.client import SalesforceClient, SalesforceSettings
from migration_app.salesforce.errors import SalesforcePermanentError, SalesforceTransientError
from migration_app.salesforce.http import HttpSettings
from migration_app.settings import Secret

pytestmark = pytest.mark.integration


@pytest.fixture
def org() -> Iterator[SandboxThread]:
    with SandboxThread(SandboxConfig(org="v1", port=0, customers=3, seed=5)) as sandbox:
        yield sandbox


def admin(sandbox: SandboxThread, path: str, body: object = None) -> object:
    response = requests.post(f"{sandbox.url}/__admin/{path}", json=body, timeout=5)
    response.raise_for_status()
    return response.json()


def client_for(sandbox: SandboxThread, calls: Counter[str], **http: float) -> SalesforceClient:
    cfg = sandbox.state.org.config
    settings = SalesforceSettings(
        name="sf1",
        url=sandbox.url,
        auth="client_credentials",
        client_id=cfg.client_id,
        client_secret=Secret(cfg.client_secret),
        http=HttpSettings(**{"connect_timeout": 2.0, "read_timeout": 10.0, **http}),
        max_retries=3,
        backoff_base=0.01,
        backoff_cap=0.05,
    )

    def count(org: str, endpoint: str, status: int) -> None:
        calls[f"{endpoint}:{status}"] += 1

    return SalesforceClient(settings, on_call=count)


async def test_transient_errors_are_retried_then_succeed(org: SandboxThread) -> None:
    calls: Counter[str] = Counter()
    client = client_for(org, calls)
    await client.start()
    try:
        await client.query_all("SELECT Id FROM Account")  # logged in, warm
        admin(org, "faults", {"fail_next": {"503": 2}})
        rows = await client.query_all("SELECT Id FROM Account")
    finally:
        await client.close()
    assert len(rows) == 3
    assert calls["query:503"] == 2 and calls["retry:0"] == 2


async def test_retries_are_bounded_and_end_in_a_transient_error(org: SandboxThread) -> None:
    calls: Counter[str] = Counter()
    client = client_for(org, calls)
    await client.start()
    admin(org, "faults", {"fail_next": {"503": 10}})
    try:
        with pytest.raises(SalesforceTransientError, match="503"):
            await client.query_all("SELECT Id FROM Account")
    finally:
        await client.close()
    assert calls["query:503"] == 4  # the first try and max_retries=3 retries, no more


async def test_an_expired_session_is_renewed_once_for_concurrent_callers(
    org: SandboxThread,
) -> None:
    calls: Counter[str] = Counter()
    client = client_for(org, calls)
    await client.start()
    try:
        await client.query_all("SELECT Id FROM Account")
        tokens_before = org.state.stats.by_endpoint.get("oauth_token", 0)
        admin(org, "expire-sessions")
        results = await asyncio.gather(
            *(client.query_all("SELECT Id FROM Account") for _ in range(6))
        )
    finally:
        await client.close()
    assert all(len(rows) == 3 for rows in results)
    assert org.state.stats.by_endpoint.get("oauth_token", 0) - tokens_before == 1


async def test_a_hung_org_is_bounded_by_the_read_timeout(org: SandboxThread) -> None:
    calls: Counter[str] = Counter()
    client = client_for(org, calls, read_timeout=0.5)
    client.settings = dataclasses.replace(client.settings, max_retries=0)
    await client.start()
    try:
        await client.query_all("SELECT Id FROM Account")
        admin(org, "faults", {"hang_rate": 1.0})
        with pytest.raises(SalesforceTransientError, match="Timeout"):
            await asyncio.wait_for(client.query_all("SELECT Id FROM Account"), timeout=30)
    finally:
        admin(org, "faults", {"hang_rate": 0.0})
        await client.close()


async def test_the_daily_allocation_is_read_from_responses(org: SandboxThread) -> None:
    client = client_for(org, Counter())
    await client.start()
    try:
        assert client.api_remaining is None
        await client.query_all("SELECT Id FROM Account")
    finally:
        await client.close()
    assert client.api_max == 100_000 and 0 < client.api_remaining < 100_000


async def test_collections_delete_answers_per_record(org: SandboxThread) -> None:
    client = client_for(org, Counter())
    await client.start()
    try:
        (account,) = await client.query_all("SELECT Id FROM Account LIMIT 1")
        results = await client.delete_collection([account["Id"], account["Id"][:15] + "XYZ"])
        with pytest.raises(ValueError):
            await client.delete_collection(["001"] * 201)
        with pytest.raises(SalesforcePermanentError):
            await client.query_all("SELECT Nope__c FROM Account")
    finally:
        await client.close()
    assert results[0]["success"] is True
    assert results[1]["success"] is False and results[1]["errors"]
