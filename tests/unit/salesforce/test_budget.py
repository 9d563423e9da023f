"""The concurrency budget's pure parts: the local limiter, the fair split, the sync plan, and
OrgBudget against an in-memory lease store (the PostgreSQL one: tests/integration/audit)."""

from __future__ import annotations

import asyncio

import pytest

from migration_app.salesforce.budget import Limiter, OrgBudget, Step, fair_shares, plan
from tests.unit.salesforce.memory_leases import MemoryLeases

# --- fair_shares ------------------------------------------------------------------------------


def test_fair_shares_never_give_more_than_the_limit_nor_more_than_wanted() -> None:
    assert fair_shares(20, {"a": 8, "b": 8, "c": 8, "d": 8}) == {"a": 5, "b": 5, "c": 5, "d": 5}
    assert fair_shares(20, {"a": 2, "b": 8, "c": 8}) == {"a": 2, "b": 8, "c": 8}
    assert fair_shares(10, {"a": 1, "b": 8, "c": 8}) == {"a": 1, "b": 5, "c": 4}
    assert fair_shares(5, {"a": 0, "b": 8}) == {"a": 0, "b": 5}
    assert fair_shares(0, {"a": 3}) == {"a": 0}
    assert fair_shares(3, {"d": 4, "c": 4, "b": 4, "a": 4}) == {"a": 1, "b": 1, "c": 1, "d": 0}


@pytest.mark.parametrize("limit", [0, 1, 5, 7, 25])
def test_fair_shares_sum_within_the_limit_for_many_demands(limit: int) -> None:
    import random

    rng = random.Random(limit)
    for _ in range(200):
        wants = {f"w{i}": rng.randint(0, 10) for i in range(rng.randint(1, 6))}
        shares = fair_shares(limit, wants)
        assert sum(shares.values()) == min(limit, sum(wants.values()))
        assert all(0 <= shares[h] <= wants[h] for h in wants)


# --- plan -------------------------------------------------------------------------------------


def test_plan_takes_up_to_the_target_and_gives_back_only_idle_slots() -> None:
    assert plan(held=0, in_use=0, target=5) == Step(acquire=5, release=0)
    assert plan(held=5, in_use=5, target=5) == Step(acquire=0, release=0)
    assert plan(held=8, in_use=2, target=5) == Step(acquire=0, release=3)
    assert plan(held=8, in_use=7, target=5) == Step(acquire=0, release=1)  # the rest later
    assert plan(held=8, in_use=8, target=0) == Step(acquire=0, release=0)


# --- Limiter ----------------------------------------------------------------------------------


async def test_limiter_queues_beyond_capacity_and_grants_in_order() -> None:
    limiter = Limiter(1)
    await limiter.acquire()
    order: list[str] = []

    async def take(name: str, priority: bool = False) -> None:
        await limiter.acquire(priority=priority)
        order.append(name)

    tasks = [asyncio.create_task(take("first")), asyncio.create_task(take("second"))]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(take("probe", priority=True)))
    await asyncio.sleep(0)
    assert limiter.waiting == 3 and limiter.in_use == 1 and limiter.take_peak() == 4
    for _ in range(3):
        limiter.release()
        await asyncio.sleep(0)
    assert order == ["probe", "first", "second"]
    await asyncio.gather(*tasks)
    assert limiter.in_use == 1


async def test_limiter_capacity_changes_wake_waiters_and_shrinking_takes_nothing_away() -> None:
    limiter = Limiter(0)
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    assert not waiter.done()
    limiter.set_capacity(2)
    await waiter
    assert limiter.try_acquire() and limiter.in_use == 2
    limiter.set_capacity(1)
    assert limiter.in_use == 2 and not limiter.try_acquire()
    limiter.release()
    assert not limiter.try_acquire()  # still 1 in use, capacity 1
    limiter.release()
    assert limiter.try_acquire()


async def test_a_cancelled_waiter_leaves_no_trace() -> None:
    limiter = Limiter(0)
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    limiter.set_capacity(1)
    assert limiter.in_use == 0 and limiter.waiting == 0 and limiter.try_acquire()


# --- OrgBudget with an in-memory store --------------------------------------------------------


def _budget(leases: MemoryLeases, holder: str, *, limit: int = 6, local_max: int = 8):
    return OrgBudget(
        "sf2", limit=limit, local_max=local_max, holder=holder, leases=leases, interval=0.05
    )


async def test_workers_share_the_limit_fairly_and_never_exceed_it() -> None:
    leases = MemoryLeases()
    budgets = [_budget(leases, f"w{i}") for i in range(4)]
    in_flight = peak = 0

    async def request(budget: OrgBudget) -> None:
        nonlocal in_flight, peak
        async with budget.slot():
            in_flight += 1
            peak = max(peak, in_flight)
            assert len(leases.slots) <= 6
            await asyncio.sleep(0.005)
            in_flight -= 1

    for budget in budgets:
        budget.start()
    try:
        async with asyncio.timeout(10):
            await asyncio.gather(*(request(b) for b in budgets for _ in range(40)))
    finally:
        for budget in budgets:
            await budget.stop()
    assert peak <= 6
    assert sum(b.stats.waits for b in budgets) > 0
    assert leases.slots == {} and leases.members == {}  # stop gave everything back


async def test_an_idle_worker_gives_its_slots_to_a_busy_one() -> None:
    leases = MemoryLeases()
    a, b = _budget(leases, "a", limit=4), _budget(leases, "b", limit=4)
    a.limiter.peak_demand = 4
    await a.sync()
    assert a.held == 4  # alone: everything it wants
    b.limiter.peak_demand = 4
    await b.sync()
    assert b.held == 0  # nothing free until a syncs
    a.limiter.peak_demand = 4  # still busy: the fair split is 2 / 2
    await a.sync()
    assert a.held == 2
    b.limiter.peak_demand = 4
    await b.sync()
    assert (a.held, b.held) == (2, 2)
    await a.sync()  # a is idle now (no demand since its last sync): it gives everything back
    assert a.held == 0
    b.limiter.peak_demand = 4
    await b.sync()
    assert b.held == 4 and len(leases.slots) == 4


async def test_slots_are_kept_until_the_lease_would_expire_then_calls_pause() -> None:
    leases = MemoryLeases()
    budget = _budget(leases, "a", limit=3)
    budget.limiter.peak_demand = 3
    await budget.sync()
    assert budget.held == 3 and budget.limiter.capacity == 3
    leases.fail = True
    budget._deadline = 0.0  # the lease would have expired by now
    budget.start()
    try:
        for _ in range(100):
            if budget.limiter.capacity == 0:
                break
            await asyncio.sleep(0.01)
        assert budget.limiter.capacity == 0 and budget.stats.sync_failures >= 1
    finally:
        leases.fail = False
        await budget.stop()
