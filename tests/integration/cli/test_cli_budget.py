"""A CLI command's Salesforce requests lease from the org's concurrency budget, as the workers'
do: they wait while the workers hold every slot, never exceed the budget at the org, and the
command's slots go back when it exits."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator

import pytest

from migration_app.audit.concurrency_leases import PostgresLeases
from migration_app.audit.settings import AuditSettings
from migration_app.audit.store import AuditStore
from tests.integration.pipeline.orgs import admin
from tests.support.polling import wait_until

LIMIT = 2
WORKER = "test-worker-holding-the-budget"
CLI_HOLDERS = "holder LIKE 'cli-preflight:%'"


@pytest.fixture
async def store(devstack) -> AsyncIterator[AuditStore]:
    audit = AuditStore(AuditSettings(dsn=devstack.database_url, pool_min=1, pool_max=2))
    await audit.start()
    try:
        yield audit
    finally:
        await audit.close()


@pytest.fixture
def slow_orgs(devstack):
    """Each V1 and V2 request takes 150 ms, so concurrent ones overlap at the org."""
    urls = (devstack.sf1.url, devstack.sf2.url)
    for url in urls:
        admin(url, "faults", {"latency_ms": 150})
        admin(url, "concurrency/reset", {})
    try:
        yield urls
    finally:
        for url in urls:
            admin(url, "faults", {"latency_ms": 0})


async def _cli_waiting(store: AuditStore) -> bool:
    rows = await store.fetch(
        f"SELECT wants, held FROM org_concurrency_member WHERE org = 'sf2' AND {CLI_HOLDERS}"
    )
    return any(r["wants"] > 0 and r["held"] == 0 for r in rows)


async def test_preflight_waits_for_the_org_budget_and_stays_within_it(
    devstack, store: AuditStore, slow_orgs
) -> None:
    leases = PostgresLeases(store)

    async def hold_v2() -> bool:  # a worker holds every V2 slot (a killed one's may linger)
        await leases.acquire("sf2", WORKER, limit=LIMIT, n=LIMIT, ttl=120)
        return len(await leases.renew("sf2", WORKER, ttl=120)) == LIMIT

    await wait_until(hold_v2, within=30)
    env = {
        **os.environ,
        **devstack.env(),
        "MIGRATION_SF1_CONCURRENT_REQUESTS": str(LIMIT),
        "MIGRATION_SF2_CONCURRENT_REQUESTS": str(LIMIT),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "migration_app",
        "preflight",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:

        async def waiting() -> bool:
            assert proc.returncode is None, "preflight ended without waiting for a V2 slot"
            return await _cli_waiting(store)

        await wait_until(waiting, within=90)
        v2 = admin(devstack.sf2.url, "concurrency")
        assert v2["requests"] == 0, v2  # its V2 requests wait for a slot
        await leases.release_all("sf2", WORKER)
        async with asyncio.timeout(120):
            out, err = await proc.communicate()
    finally:
        await leases.release_all("sf2", WORKER)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, (out + err).decode()
    assert b"preflight OK" in out
    for url in slow_orgs:  # preflight describes objects concurrently: the budget bounds them
        stats = admin(url, "concurrency")
        assert stats["requests"] > LIMIT and 0 < stats["peak_in_flight"] <= LIMIT, stats
    held = await store.fetch(
        f"SELECT slot FROM org_concurrency_slot WHERE {CLI_HOLDERS} AND expires_at > now()"
    )
    members = await store.fetch(f"SELECT holder FROM org_concurrency_member WHERE {CLI_HOLDERS}")
    assert held == [] and members == []  # its slots went back on exit
