"""The org concurrency budget's leases in a real PostgreSQL: slots are never held twice, even
when workers race for them; an expired lease comes back; four budgets sharing the org keep the
sum of held slots (and of requests in flight) within the limit; the console reads the usage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from migration_app.audit.concurrency_leases import PostgresLeases, usage
from migration_app.audit.settings import AuditSettings
from migration_app.audit.store import AuditStore
from migration_app.salesforce.budget import OrgBudget

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(audit_settings: AuditSettings) -> AsyncIterator[AuditStore]:
    audit = AuditStore(audit_settings)
    await audit.start()
    try:
        yield audit
    finally:
        await audit.close()


async def test_racing_holders_never_hold_the_same_slot(store: AuditStore) -> None:
    leases = PostgresLeases(store)
    for _ in range(5):
        taken = await asyncio.gather(
            *(leases.acquire("sf2", f"w{i}", limit=7, n=4, ttl=30) for i in range(4))
        )
        flat = [slot for slots in taken for slot in slots]
        assert len(flat) == len(set(flat)) == 7  # all slots taken, none twice
        assert all(0 <= s < 7 for s in flat)
        for i in range(4):
            assert sorted(await leases.renew("sf2", f"w{i}", ttl=30)) == sorted(taken[i])
            await leases.release_all("sf2", f"w{i}")
    assert await leases.acquire("sf1", "w0", limit=2, n=5, ttl=30) != []  # orgs are separate


async def test_an_expired_lease_is_free_again_and_lost_to_its_old_holder(
    store: AuditStore,
) -> None:
    leases = PostgresLeases(store)
    assert len(await leases.acquire("sf2", "dead", limit=2, n=2, ttl=0.2)) == 2
    assert await leases.acquire("sf2", "alive", limit=2, n=2, ttl=30) == []
    await asyncio.sleep(0.3)  # the dead worker never renewed
    assert len(await leases.acquire("sf2", "alive", limit=2, n=2, ttl=30)) == 2
    assert await leases.renew("sf2", "dead", ttl=30) == []  # gone for good


async def test_four_budgets_share_the_org_within_its_limit(store: AuditStore) -> None:
    limit = 5
    budgets = [
        OrgBudget(
            "sf2",
            limit=limit,
            local_max=4,
            holder=f"w{i}",
            leases=PostgresLeases(store),
            interval=0.05,
        )
        for i in range(4)
    ]
    in_flight = peak = 0
    seen_usage: list[dict[str, dict[str, int]]] = []

    async def request(budget: OrgBudget) -> None:
        nonlocal in_flight, peak
        async with budget.slot():
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1

    async def watch() -> None:
        while True:
            rows = await store.fetch(
                "SELECT count(*) AS n FROM org_concurrency_slot WHERE expires_at > now()"
            )
            assert rows[0]["n"] <= limit
            seen_usage.append(await usage(store))
            await asyncio.sleep(0.02)

    for budget in budgets:
        budget.start()
    watcher = asyncio.create_task(watch())
    try:
        async with asyncio.timeout(60):
            await asyncio.gather(*(request(b) for b in budgets for _ in range(30)))
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        for budget in budgets:
            await budget.stop()
    assert peak <= limit
    assert all(b.stats.waits > 0 for b in budgets) or sum(b.stats.waits for b in budgets) > 0
    busy = [u["sf2"] for u in seen_usage if "sf2" in u]
    assert busy and all(u["limit"] == limit and u["held"] <= limit for u in busy)
    assert max(u["workers"] for u in busy) >= 2
    held = "SELECT * FROM org_concurrency_slot WHERE expires_at > now()"
    assert await store.fetch(held) == []  # all given back
    assert await usage(store) == {}
