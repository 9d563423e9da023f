"""InFlightBatches over the real BatchProcessor with in-memory fakes: batches overlap, yet a
customer's events are handled in order, offsets become committable only after their batch's
work, failures stop the agent and a stop cancels what runs. No timed sleeps: the fake pipeline's
gate and entry countdown say where each batch is.
"""

from __future__ import annotations

import asyncio

import pytest

from migration_app.worker.in_flight import InFlightBatches
from tests.unit.worker.processor_fakes import (
    ACC1,
    ACC2,
    ACC3,
    FakeEvent,
    ProcessorHarness,
    completed_state,
    customer_event,
)

pytestmark = pytest.mark.timeout(10)


def taken(*events: FakeEvent) -> tuple[FakeEvent, ...]:
    """What Faust's take_events does once the agent asks for the next batch: ack each event."""
    for event in events:
        event.ack()
    return events


async def test_batches_overlap_up_to_the_depth_and_the_next_waits_for_a_slot() -> None:
    h = ProcessorHarness()
    h.pipeline.gate = asyncio.Event()
    in_flight = InFlightBatches(h.processor, depth=2)
    await in_flight.submit([customer_event(ACC1, offset=1)])
    await in_flight.submit([customer_event(ACC2, offset=2)])
    await h.pipeline.entered.reached(2)  # both batches are migrating at once
    third = asyncio.create_task(in_flight.submit([customer_event(ACC3, offset=3)]))
    await asyncio.sleep(0)
    assert not third.done() and in_flight.running == 2

    h.pipeline.gate.set()
    await third
    await in_flight.drain()
    assert {c for call in h.pipeline.calls for c in [r.customer_id for r in call]} == {
        ACC1,
        ACC2,
        ACC3,
    }
    assert in_flight.running == 0


async def test_an_offset_is_committable_only_after_its_batchs_results_are_sent() -> None:
    h = ProcessorHarness()
    h.pipeline.gate = asyncio.Event()
    in_flight = InFlightBatches(h.processor, depth=3)
    event = customer_event(ACC1, offset=5)
    await in_flight.submit([event])
    taken(event)  # the agent moved on to the next batch; Faust acked its reference
    await h.pipeline.entered.reached(1)
    assert not event.message.acked  # still migrating: a crash now replays it

    h.pipeline.gate.set()
    await in_flight.drain()
    assert event.message.acked
    assert ("result", ACC1, "COMPLETED") in h.log


async def test_a_customers_later_event_waits_for_the_batch_holding_its_earlier_one() -> None:
    h = ProcessorHarness()
    h.pipeline.gate = asyncio.Event()
    in_flight = InFlightBatches(h.processor, depth=3)
    await in_flight.submit([customer_event(ACC1, offset=1, correlation_id="first")])
    await h.pipeline.entered.reached(1)
    later = asyncio.create_task(
        in_flight.submit([customer_event(ACC1, offset=9, correlation_id="second", force=True)])
    )
    await asyncio.sleep(0)
    assert not later.done()  # its claim waits: the customer is in the first batch

    h.pipeline.gate.set()
    await later
    await in_flight.drain()
    assert h.pipeline.overlaps == []
    corr = [c[0].correlation_id for c in h.pipeline.calls]
    assert corr == ["first", "second"]  # in offset order, never overlapping


async def test_a_failed_batch_is_acked_and_stops_the_agent_with_its_error() -> None:
    h = ProcessorHarness()
    h.pipeline.raises = [RuntimeError("bug in the batch")]
    in_flight = InFlightBatches(h.processor, depth=2)
    event = customer_event(ACC1, offset=1)
    await in_flight.submit([event])
    taken(event)
    with pytest.raises(RuntimeError, match="bug in the batch"):
        await in_flight.drain()
    assert event.message.acked  # as Faust acks a batch whose agent raised
    await in_flight.submit([customer_event(ACC2, offset=2)])  # the error was raised once
    await in_flight.drain()


async def test_the_error_surfaces_at_the_next_submit() -> None:
    h = ProcessorHarness()
    h.pipeline.raises = [RuntimeError("boom")]
    in_flight = InFlightBatches(h.processor, depth=2)
    await in_flight.submit([customer_event(ACC1, offset=1)])
    await h.pipeline.entered.reached(1)
    batches = [t for t in asyncio.all_tasks() if t.get_name() == "migrate-batch"]
    await asyncio.gather(*batches, return_exceptions=True)  # (none left if it already ended)
    with pytest.raises(RuntimeError, match="boom"):
        await in_flight.submit([customer_event(ACC2, offset=2)])


async def test_a_stopping_worker_cancels_running_batches_without_acking_them() -> None:
    h = ProcessorHarness()
    h.pipeline.gate = asyncio.Event()  # never opened
    event = customer_event(ACC1, offset=1)
    in_flight = InFlightBatches(h.processor, depth=2)

    async def agent() -> None:
        async with in_flight:
            await in_flight.submit([event])
            taken(event)
            await asyncio.Event().wait()  # the stream, waiting for more events

    task = asyncio.create_task(agent())
    await h.pipeline.entered.reached(1)
    task.cancel()  # Faust stops the agent
    with pytest.raises(asyncio.CancelledError):
        await task
    assert in_flight.running == 0
    assert not event.message.acked  # replayed after the restart
    assert h.processor._in_flight == set()  # the claim was released
    assert [t for t in asyncio.all_tasks() if t.get_name() == "migrate-batch"] == []


async def test_an_agent_that_raises_lets_the_other_batches_finish_and_ack() -> None:
    """Faust restarts a crashed agent in the same worker: a batch cancelled then would keep its
    offset unacked, holding back every later commit and the next rebalance."""
    h = ProcessorHarness()
    h.pipeline.gate = asyncio.Event()
    event = customer_event(ACC1, offset=1)

    async def agent() -> None:
        async with InFlightBatches(h.processor, depth=2) as in_flight:
            await in_flight.submit([event])
            taken(event)
            await h.pipeline.entered.reached(1)
            raise RuntimeError("the agent crashed")

    task = asyncio.create_task(agent())
    await h.pipeline.entered.reached(1)
    await asyncio.sleep(0)
    assert not task.done()  # waiting for the running batch, not cancelling it
    h.pipeline.gate.set()
    with pytest.raises(RuntimeError, match="the agent crashed"):
        await task
    assert event.message.acked
    assert ("result", ACC1, "COMPLETED") in h.log


async def test_a_batch_with_nothing_to_migrate_is_acked_at_once() -> None:
    h = ProcessorHarness()
    in_flight = InFlightBatches(h.processor, depth=1)
    poison = customer_event(ACC1, offset=1)
    poison.message.value = poison.value = b"\x00not-json"
    await in_flight.submit([poison])
    taken(poison)
    assert poison.message.acked and in_flight.running == 0
    assert h.dlq.sent  # routed, not lost


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth"):
        InFlightBatches(ProcessorHarness().processor, depth=0)


async def test_a_batch_of_duplicates_is_acked_at_once_while_every_slot_is_busy() -> None:
    """Replays of finished customers need no slot: they do not queue behind real work."""
    h = ProcessorHarness()
    h.pipeline.gate = asyncio.Event()
    dict.__setitem__(h.table, ACC3.encode(), completed_state(ACC3))
    in_flight = InFlightBatches(h.processor, depth=1)
    await in_flight.submit([customer_event(ACC1, offset=1)])
    await h.pipeline.entered.reached(1)  # the only slot is taken

    replay = customer_event(ACC3, offset=2)
    await asyncio.wait_for(in_flight.submit([taken(replay)[0]]), timeout=1)

    assert replay.message.acked
    assert in_flight.running == 1
    h.pipeline.gate.set()
    await in_flight.drain()
