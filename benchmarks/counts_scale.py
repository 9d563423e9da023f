"""`make bench-counts`: what the worker's own views cost as the table grows, with no broker.

Issue 23's goal is that the summary view, the console heartbeat and `/metrics` cost the same at
1,000,000 customers as at 1,000. The end-to-end `make bench-recovery` measures them at 100,000
through a real restarted worker; at 1,000,000 the dev broker (Tansu, memory storage) takes too
long to serve the changelog for a recovery to finish in a session, so this benchmark measures
the two pieces directly, per N:

* reads: `StateCounts.summary()` and `by_status()` (what the summary view, the heartbeat and the
  `migration_app_customers` gauge call), microseconds per call, over 4 partitions of N customers;
* the one walk: `StateCountsKeeper.rebuild` over real RocksDB partitions (rocksdict, raw mode, as
  Faust's rocksdb:// store keeps them) holding N values in the table's own JSON encoding, timed
  in a running event loop with a 1 ms ticker beside it: total seconds, and the longest the loop
  went without running the ticker (what `/health` would have waited).

Run: .venv/bin/python -m benchmarks.counts_scale [--sizes 1000,100000,1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from rocksdict import Options, Rdict

from migration_app.contracts.customer_status import CustomerStatus
from migration_app.worker.migration_state import finished, new_state, started
from migration_app.worker.state_counts import Counted, StateCounts
from migration_app.worker.state_counts_keeper import StateCountsKeeper

RESULTS = Path(__file__).parent / "results" / "counts_scale.json"
PARTITIONS = 4
READ_CALLS = 2000


def stored_values() -> list[bytes]:
    """A few distinct table values, serialized as the table stores them."""
    values = []
    for status in (CustomerStatus.COMPLETED, CustomerStatus.COMPLETED, CustomerStatus.FAILED):
        state = finished(
            started(new_state("001A00000000001AAA"), "corr"),
            status,
            counts={"Account": 1, "Contact": 2},
            warnings=1,
            errors=0,
        )
        values.append(state.dumps())
    return values


def fill(root: Path, n: int) -> dict[int, Rdict]:
    dbs = {p: Rdict(str(root / f"p{p}"), options=Options(raw_mode=True)) for p in range(PARTITIONS)}
    values = stored_values()
    for i in range(n):
        dbs[i % PARTITIONS].put(f"001{i:015d}".encode(), values[i % len(values)])
    dbs[0].put(b"__faust\0offset__", b"12345")  # Faust keeps its offset beside the values
    return dbs


def fake_table(dbs: dict[int, Rdict]) -> Any:
    """The few attributes the keeper reads of a Faust table and app."""
    table = SimpleNamespace(data=SimpleNamespace(_dbs=dbs), partitions=PARTITIONS)
    table.on_recover = lambda fn: fn
    app = SimpleNamespace(on_partitions_revoked=SimpleNamespace(connect=lambda fn: fn))
    return app, table


async def time_rebuild(keeper: StateCountsKeeper) -> tuple[float, float, float]:
    """(seconds, longest loop stall, longest CPU time between two ticks) of one rebuild of
    every partition. The stall is wall time (what a /health request would wait, descheduling
    by a busy machine included); the CPU time between ticks is what the rebuild itself held
    the loop for."""
    stall = cpu_stall = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal stall, cpu_stall
        last, last_cpu = time.perf_counter(), time.thread_time()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now, now_cpu = time.perf_counter(), time.thread_time()
            stall = max(stall, now - last - 0.001)
            cpu_stall = max(cpu_stall, now_cpu - last_cpu)
            last, last_cpu = now, now_cpu

    tick = asyncio.create_task(ticker())
    started_at = time.perf_counter()
    await keeper.rebuild(list(range(PARTITIONS)), generation=0)
    elapsed = time.perf_counter() - started_at
    stop.set()
    await tick
    return elapsed, stall, cpu_stall


def read_cost_us(counts: StateCounts) -> dict[str, float]:
    out = {}
    for name, call in (
        ("summary_us", lambda: counts.summary(time.time())),
        ("by_status_us", counts.by_status),
    ):
        started_at = time.perf_counter()
        for _ in range(READ_CALLS):
            call()
        out[name] = round((time.perf_counter() - started_at) / READ_CALLS * 1e6, 2)
    return out


def measure(n: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="counts-scale-"))
    try:
        dbs = fill(root, n)
        app, table = fake_table(dbs)
        counts = StateCounts()
        keeper = StateCountsKeeper(app, table, counts)
        seconds, stall, cpu_stall = asyncio.run(time_rebuild(keeper))
        assert counts.summary(time.time())["total"] == n, counts.summary(time.time())
        # live writes after the rebuild, as the processor makes them
        counts.record(0, Counted("COMPLETED", 1), Counted("IN_PROGRESS"))
        result = {
            "customers": n,
            "rebuild_s": round(seconds, 3),
            "rebuild_us_per_customer": round(seconds / n * 1e6, 2),
            "longest_loop_stall_ms": round(stall * 1000, 2),
            "longest_cpu_between_ticks_ms": round(cpu_stall * 1000, 2),
            **read_cost_us(counts),
        }
        for db in dbs.values():
            db.close()
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000,1000000")
    args = parser.parse_args(argv)
    runs = [measure(int(n)) for n in args.sizes.split(",")]
    head = (
        f"{'customers':>10}{'summary us':>12}{'by_status us':>14}{'rebuild s':>11}"
        f"{'us/cust':>9}{'stall ms':>10}{'CPU ms':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in runs:
        print(
            f"{r['customers']:>10}{r['summary_us']:>12}{r['by_status_us']:>14}"
            f"{r['rebuild_s']:>11}{r['rebuild_us_per_customer']:>9}{r['longest_loop_stall_ms']:>10}"
            f"{r['longest_cpu_between_ticks_ms']:>8}"
        )
    smallest, largest = runs[0], runs[-1]
    ratio = largest["summary_us"] / smallest["summary_us"] if smallest["summary_us"] else None
    print(
        f"summary at {largest['customers']:,} / at {smallest['customers']:,}: "
        f"{ratio:.2f}x (the goal: the same cost; <= 5 ms per call)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"runs": runs, "summary_ratio": ratio}, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
