"""The org cost model: costs, option updates, the capacity formula, concurrency accounting."""

from __future__ import annotations

import asyncio
import math

import pytest

from devstack.sandbox.cost_model import (
    BULK_BATCH_RECORDS,
    Concurrency,
    CostModel,
    capacity,
    daily_capacity,
    parse_record_ms,
)
from devstack.sandbox.errors import SfError

ON = CostModel(
    enabled=True,
    request_overhead_ms=100.0,
    record_ms={"Account": 10.0, "Contact": 20.0},
    other_record_ms=5.0,
)


def test_disabled_model_costs_nothing() -> None:
    off = CostModel()
    assert off.request_ms({"Account": 100}) == 0
    assert off.bulk_batch_ms("Account", 10_000) == 0
    assert capacity(off, "graph", {"Account": 1}, 4) == math.inf


def test_request_and_batch_costs() -> None:
    assert ON.request_ms({"Account": 2, "Contact": 1, "Case": 2}) == 100 + 20 + 20 + 10
    assert ON.request_ms({}) == 100
    doubled = ON.updated({"automation_multiplier": 2})
    assert doubled.per_record_ms("Contact") == 40
    assert ON.bulk_batch_ms("Account", 10_000) == 1000 + 100_000


def test_updated_validates_and_merges() -> None:
    m = ON.updated({"record_ms": {"Case": 7}, "long_request_limit": 3})
    assert m.record_ms["Case"] == 7 and m.record_ms["Account"] == 10
    assert m.long_request_limit == 3
    with pytest.raises(ValueError):
        ON.updated({"nope": 1})
    with pytest.raises(ValueError):
        ON.updated({"bulk_parallel_batches": 0})
    with pytest.raises(ValueError):
        ON.updated({"request_overhead_ms": -1})


def test_parse_record_ms() -> None:
    assert parse_record_ms(("Contact=3",))["Contact"] == 3
    with pytest.raises(ValueError):
        parse_record_ms(("Contact",))


def test_capacity_graph_collections_bulk() -> None:
    mix = {"Account": 1, "Contact": 3}  # mean t = (10 + 60) / 4 = 17.5 ms
    # graph: k = 4 records per request, d = 100 + 70 = 170 ms, 10 in flight
    assert capacity(ON, "graph", mix, 10) == pytest.approx(10 * 4 / 0.170)
    # collections: k = 200, d = 100 + 3500 ms
    assert capacity(ON, "collections", mix, 10) == pytest.approx(10 * 200 / 3.6)
    # bulk: 5 batches of 10,000 at once, (1000 + 175,000) ms each; concurrency irrelevant
    expected = 5 * BULK_BATCH_RECORDS / 176.0
    assert capacity(ON, "bulk", mix, 1) == pytest.approx(expected)
    assert capacity(ON, "bulk", mix, 99) == pytest.approx(expected)
    assert capacity(ON, "graph", {}, 10) == 0


def test_capacity_is_capped_by_long_running_limit() -> None:
    slow = ON.updated({"long_request_s": 0.5, "long_request_limit": 2})
    mix = {"Account": 1}
    # collections request = 100 + 2000 ms >= 0.5 s: at most 2 count
    assert capacity(slow, "collections", mix, 50) == pytest.approx(2 * 200 / 2.1)
    # graph of 1 record = 110 ms < 0.5 s: not capped
    assert capacity(slow, "graph", mix, 50) == pytest.approx(50 / 0.110)
    assert capacity(slow, "graph", mix, 50, records_per_request=100) == pytest.approx(2 * 100 / 1.1)


def test_daily_capacity() -> None:
    assert daily_capacity(ON, "bulk", 100_000, 200) == 150_000_000
    assert daily_capacity(ON, "collections", 100_000, 200) == 20_000_000


def test_concurrency_counts_peaks_and_refuses_beyond_the_limit() -> None:
    model = CostModel(long_request_limit=2, long_request_s=0.05)

    async def scenario() -> Concurrency:
        c = Concurrency(lambda: model)
        tickets = [c.enter() for _ in range(3)]
        assert c.peak_in_flight == 3 and c.long_running == 0
        await asyncio.sleep(0.1)
        assert c.long_running == 3 and c.peak_long_running == 3
        with pytest.raises(SfError) as err:
            c.enter()
        assert err.value.code == "REQUEST_LIMIT_EXCEEDED"
        assert err.value.message == "ConcurrentPerOrgLongTxn Limit exceeded."
        tickets[0].exit()
        tickets[1].exit()
        short = c.enter()  # one long-running left: below the limit
        short.exit()
        short.exit()  # idempotent
        tickets[2].exit()
        assert (c.in_flight, c.long_running, c.rejected) == (0, 0, 1)
        c.reset_peaks()
        assert c.peak_in_flight == 0 and c.peak_long_running == 0
        return c

    asyncio.run(scenario())


def test_org_counts_saves_and_client_deletes_by_object() -> None:
    from devstack.sandbox.api import Org
    from devstack.sandbox.config import SandboxConfig

    org = Org(SandboxConfig(org="v2"))
    obj = org.schema.objects["Account"]
    rid = org.create(obj, {"Name": "A"})["id"]
    org.update(obj, rid, {"Name": "B"})
    org.delete(obj, rid, api=True)
    assert org.take_processed_by_object() == {"Account": 3}
    assert not org.take_processed_by_object()
