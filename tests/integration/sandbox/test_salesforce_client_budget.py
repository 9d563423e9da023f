"""The SalesforceClient's one choke point under the org's concurrent long-running request
limit: without a budget the org refuses calls (REQUEST_LIMIT_EXCEEDED ConcurrentPerOrgLongTxn)
and the client waits them out instead of failing; with a budget of the org's size nothing is
refused and the sandbox's peak stays within it."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest

from devstack.sandbox import SandboxConfig, SandboxThread
from devstack.sandbox.cost_model import CostModel
from migration_app.salesforce.budget import OrgBudget
from migration_app.salesforce.client import SalesforceClient, SalesforceSettings
from migration_app.salesforce.errors import SalesforceRequestLimitError
from migration_app.salesforce.http import HttpSettings
from migration_app.settings import Secret
from tests.integration.sandbox.support import admin
from tests.unit.salesforce.memory_leases import MemoryLeases

pytestmark = pytest.mark.integration

LIMIT = 2


@pytest.fixture
def org() -> Iterator[SandboxThread]:
    cost = CostModel(long_request_limit=LIMIT, long_request_s=0.1)
    config = SandboxConfig(org="v1", port=0, customers=2, seed=5, cost_model=cost)
    with SandboxThread(config) as sandbox:
        admin(sandbox, "POST", "faults", {"latency_ms": 300})
        yield sandbox


def _client(sandbox: SandboxThread, calls: Counter[str], budget: OrgBudget | None):
    cfg = sandbox.state.org.config
    settings = SalesforceSettings(
        name="sf1",
        url=sandbox.url,
        auth="client_credentials",
        client_id=cfg.client_id,
        client_secret=Secret(cfg.client_secret),
        http=HttpSettings(connect_timeout=2.0, read_timeout=10.0, pool_maxsize=8),
        max_workers=8,
        max_retries=1,
        backoff_base=0.05,
        backoff_cap=0.2,
    )

    def count(org: str, endpoint: str, status: int) -> None:
        calls[f"{endpoint}:{status}"] += 1

    return SalesforceClient(settings, on_call=count, budget=budget)


async def _burst(client: SalesforceClient, n: int = 8) -> list[list[dict]]:
    """``n`` queries of 300 ms, one every 150 ms: the org refuses a call arriving while LIMIT
    calls have run 100 ms or more, which arrivals at once never see."""
    await client.start()
    try:
        async with asyncio.timeout(60):
            tasks = []
            for _ in range(n):
                tasks.append(asyncio.create_task(client.query_all("SELECT Id FROM Account")))
                await asyncio.sleep(0.15)
            return await asyncio.gather(*tasks)
    finally:
        await client.close()


async def _until_long_running(sandbox: SandboxThread, n: int, within: float = 15.0) -> None:
    """Poll the org until ``n`` requests have run past its long-running threshold."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (await asyncio.to_thread(admin, sandbox, "GET", "concurrency"))["long_running"] < n:
        assert loop.time() < deadline, f"the org never had {n} long-running requests"
        await asyncio.sleep(0.02)


async def test_refused_calls_are_waited_out_beyond_the_retry_cap(org: SandboxThread) -> None:
    """LIMIT slow calls fill the org; three more arrive while it is full and are refused again
    and again (far beyond max_retries=1), and all three succeed once the first ones end."""
    calls: Counter[str] = Counter()
    client = _client(org, calls, budget=None)
    await client.start()
    admin(org, "POST", "faults", {"latency_ms": 2000})
    try:
        async with asyncio.timeout(60):
            first = [
                asyncio.create_task(client.query_all("SELECT Id FROM Account"))
                for _ in range(LIMIT)
            ]
            await _until_long_running(org, LIMIT)
            late = [
                asyncio.create_task(client.query_all("SELECT Id FROM Account")) for _ in range(3)
            ]
            results = await asyncio.gather(*first, *late)
    finally:
        admin(org, "POST", "faults", {"latency_ms": 0})
        await client.close()
    assert all(len(rows) == 2 for rows in results)
    stats = admin(org, "GET", "concurrency")
    # a client capped at max_retries=1 would have failed after 2 refusals per late call
    assert stats["rejected"] > 2 * len(late) and stats["peak_long_running"] >= LIMIT
    assert calls["request_limit_exceeded:0"] == stats["rejected"]
    assert calls["query:403"] == stats["rejected"]


async def test_a_budget_of_the_orgs_size_is_never_refused(org: SandboxThread) -> None:
    calls: Counter[str] = Counter()
    budget = OrgBudget(
        "sf1", limit=LIMIT, local_max=8, holder="w", leases=MemoryLeases(), interval=0.05
    )
    budget.start()
    try:
        results = await _burst(_client(org, calls, budget))
    finally:
        await budget.stop()
    assert all(len(rows) == 2 for rows in results)
    stats = admin(org, "GET", "concurrency")
    assert stats["rejected"] == 0 and stats["peak_in_flight"] <= LIMIT
    assert budget.stats.waits > 0 and calls["request_limit_exceeded:0"] == 0


async def test_a_health_probe_is_not_retried_on_a_refusal(org: SandboxThread) -> None:
    calls: Counter[str] = Counter()
    client = _client(org, calls, budget=None)
    await client.start()
    try:
        admin(org, "POST", "faults", {"latency_ms": 1500})
        slow = [asyncio.create_task(client.query_all("SELECT Id FROM Account")) for _ in range(3)]
        await _until_long_running(org, LIMIT)  # the org is full
        with pytest.raises(SalesforceRequestLimitError):
            await client.ping(probe_timeout=5.0)
        admin(org, "POST", "faults", {"latency_ms": 0})
        await asyncio.gather(*slow)
    finally:
        await client.close()
