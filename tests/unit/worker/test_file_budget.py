"""ByteBudget: first come first served, a file larger than the budget goes alone, a cancelled
waiter gives its place back, and the accounting returns to zero."""

from __future__ import annotations

import asyncio

import pytest

from migration_app.worker.file_budget import ByteBudget


async def test_files_wait_for_room_in_order_and_a_large_one_goes_alone() -> None:
    budget = ByteBudget(100)
    order: list[str] = []
    release: dict[str, asyncio.Event] = {}

    async def copy(name: str, size: int) -> None:
        release[name] = asyncio.Event()
        async with budget.hold(size):
            order.append(f"start {name} ({budget.in_use})")
            await release[name].wait()
        order.append(f"end {name}")

    tasks = [asyncio.create_task(copy("a", 60))]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(copy("big", 500)))  # larger than the budget
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(copy("b", 30)))  # would fit, but big is ahead of it
    await asyncio.sleep(0)
    assert order == ["start a (60)"]
    release["a"].set()
    await asyncio.sleep(0.01)
    assert order[-1] == "start big (500)"  # alone
    release["big"].set()
    await asyncio.sleep(0.01)
    assert order[-1] == "start b (30)"
    release["b"].set()
    await asyncio.gather(*tasks)
    assert budget.in_use == 0 and budget.peak == 500


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    budget = ByteBudget(10)
    await budget.acquire(10)
    waiter = asyncio.create_task(budget.acquire(5))
    behind = asyncio.create_task(budget.acquire(5))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    budget.release(10)
    await asyncio.wait_for(behind, 1)
    assert budget.in_use == 5


async def test_the_gauge_follows_the_bytes_in_flight() -> None:
    seen: list[int] = []
    budget = ByteBudget(100, seen.append)
    async with budget.hold(40):
        async with budget.hold(50):
            pass
    assert seen == [40, 90, 40, 0]


def test_a_budget_needs_room() -> None:
    with pytest.raises(ValueError):
        ByteBudget(0)
