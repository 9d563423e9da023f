"""Grouped task stacks: identical coroutine chains collapse into one counted group."""

from __future__ import annotations

import asyncio

from migration_app.ops.debug.tasks import format_groups, format_tasks, group_tasks, task_stack


async def stuck_in_read(event: asyncio.Event) -> None:
    await event.wait()


async def leaky_worker(event: asyncio.Event) -> None:
    await stuck_in_read(event)


async def other(event: asyncio.Event) -> None:
    await event.wait()


async def test_stack_is_the_await_chain_innermost_first() -> None:
    event = asyncio.Event()
    task = asyncio.create_task(leaky_worker(event))
    await asyncio.sleep(0)
    functions = [f.function for f in task_stack(task)]
    assert functions[:3] == [
        "asyncio.locks.Event.wait",
        f"{__name__}.stuck_in_read",
        f"{__name__}.leaky_worker",
    ]
    event.set()
    await task


async def test_identical_stacks_are_grouped_most_frequent_first() -> None:
    event = asyncio.Event()
    tasks = [asyncio.create_task(leaky_worker(event)) for _ in range(7)]
    tasks += [asyncio.create_task(other(event)) for _ in range(2)]
    await asyncio.sleep(0)
    groups = group_tasks(tasks)
    assert [g.count for g in groups] == [7, 2]
    assert groups[0].summary(3) == (
        f"asyncio.locks.Event.wait <- {__name__}.stuck_in_read <- {__name__}.leaky_worker"
    )
    text = format_groups(groups)
    lines = text.splitlines()
    assert lines[0] == "task profile: total 9"
    assert lines[1] == "7 @ asyncio.locks.Event.wait"
    assert lines[2].startswith("#\tasyncio.locks.Event.wait\t")
    assert f"#\t{__name__}.leaky_worker\t{__file__}:" in text
    assert format_groups(groups[:1], total=9).startswith("task profile: total 9\n7 @")
    event.set()
    await asyncio.gather(*tasks)


async def test_full_dump_names_every_task_with_state() -> None:
    event = asyncio.Event()
    task = asyncio.create_task(leaky_worker(event), name="leaky-1")
    await asyncio.sleep(0)
    text = format_tasks([task], creation_site=None)
    assert text.startswith("task dump: total 1\n")
    assert '"leaky-1" [pending]:' in text
    assert f"{__name__}.stuck_in_read()\n\t{__file__}:" in text
    event.set()
    await task
