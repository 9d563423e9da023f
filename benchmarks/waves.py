"""`make bench-waves`: large waves against the org's capacity (issue 28): graph, collections and
bulk, with 1, 2 and 4 workers, the sandboxes charging the default org cost model.

Why: the flat-latency benchmark (`benchmarks/run.py`) is the CPU-bound view, and its figure moves
3x between machines. What limits a real migration is the org: server time per record and the
requests it runs at once. The sandbox's cost model (`devstack/sandbox/cost_model.py`) spends that
time as sleeps and has a computable capacity (records/s per strategy, `cost_model.capacity`), so
each run is reported as a share of it: a ratio that holds on any machine, the absolute rates
beside it.

Per run: a fresh stack (broker, PostgreSQL, registry, two sandbox orgs with `--cost-model`,
`--customers` seeded V1 customers), N `migration-app worker` children in one group, every customer
enqueued, the clock stopped when the last customer's result event is seen. Reported: customers/s,
records/s (V2 records the run wrote / wall time) and its share of the capacity at N x
MIGRATION_LOAD_CONCURRENCY requests in flight, API calls per customer (both orgs, logins
included), compensations (bulk: customers whose created records were deleted again, from the
audit), peak RSS per worker (VmHWM), worker CPU per 1,000 customers (all workers), the sandbox's
peak concurrent requests and bulk batches.

Run: .venv/bin/python -m benchmarks.waves [--customers 100000] [--workers 1,2,4]
     [--strategies graph,collections,bulk] [--batch-size 200] [--bulk-batch-size 1000]
     [--timeout 3600] [--output benchmarks/results/waves.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.probes import SandboxAdmin, WorkerProbe, http_json, machine_info, wait_until
from benchmarks.report import call_count, migration_calls
from benchmarks.result_watch import ResultWatcher
from benchmarks.run import scratch_database, server_database_url, worker_env
from devstack.dev import worker_process
from devstack.probes import free_port
from devstack.sandbox.cost_model import CostModel, capacity
from devstack.stack import DevStack, DevStackConfig
from migration_app.settings import Settings
from migration_app.worker.publisher import publish

RESULTS = Path(__file__).parent / "results" / "waves.json"
LOAD_CONCURRENCY = 8  # the worker's default MIGRATION_LOAD_CONCURRENCY


@dataclasses.dataclass(frozen=True)
class WavesOptions:
    customers: int = 100_000
    workers: tuple[int, ...] = (1, 2, 4)
    strategies: tuple[str, ...] = ("graph", "collections", "bulk")
    batch_size: int = 200
    bulk_batch_size: int = 1000  # bulk wants big jobs: 10,000-record internal batches
    batch_within: float = 1.0
    timeout_s: float = 3600.0
    output: Path = RESULTS


def _compensations(database_url: str) -> int | None:
    import psycopg2

    if not database_url:
        return None
    with contextlib.closing(psycopg2.connect(database_url, connect_timeout=5)) as conn:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(DISTINCT run_id) FROM migration_issue WHERE code = 'BULK_COMPENSATED'"
            )
            return int(cur.fetchone()[0])


def measure(stack: DevStack, opts: WavesOptions, strategy: str, n: int, root: Path) -> dict:
    sf1, sf2 = SandboxAdmin(stack.sf1.url), SandboxAdmin(stack.sf2.url)  # type: ignore[union-attr]
    ids = sf1.customers()
    batch = opts.bulk_batch_size if strategy == "bulk" else opts.batch_size
    workers = []
    for i in range(n):
        (root / f"w{i}").mkdir(parents=True, exist_ok=True)
        env = worker_env(stack, root / f"w{i}", batch, opts.batch_within)
        env["MIGRATION_LOAD_STRATEGY"] = strategy
        env["MIGRATION_LOAD_CONCURRENCY"] = str(LOAD_CONCURRENCY)
        workers.append(
            worker_process(
                env,
                web_port=free_port(),
                log_dir=root / "logs",
                name=f"worker-{i}",
                ready_path="/migrations/summary",
            )
        )
    settings = Settings.from_env(env)
    try:
        for w in workers:
            w.start()
        probes = [WorkerProbe(w) for w in workers]
        for p in probes:
            wait_until(p.consuming, 120, what="a worker to join its group")
        sf1.reset()
        sf2.reset()
        before1, before2 = sf1.stats(), sf2.stats()
        watcher = ResultWatcher(settings, set(ids))
        watcher.start()
        cpu_before = [p.cpu_seconds() for p in probes]
        started = time.perf_counter()
        upstream = dataclasses.replace(settings, producer_max_batch_size=16384)
        try:
            asyncio.run(publish(upstream, ids, requested_by="benchmark-waves"))
            deadline = time.monotonic() + opts.timeout_s
            while watcher.all_seen_at is None:
                for p in probes:
                    p.sample()
                for w in workers:
                    if not w.running():
                        raise RuntimeError(f"{w.name} exited:\n{w.log_tail()}")
                if time.monotonic() > deadline or watcher.error:
                    raise TimeoutError(f"{watcher.seen}/{len(ids)} results after {opts.timeout_s}s")
                time.sleep(0.2)
        finally:
            watcher.stop()
        wall_s = watcher.all_seen_at - started
        cpu_s = sum(p.cpu_seconds() - b for p, b in zip(probes, cpu_before, strict=True))
        stats1 = migration_calls(before1, sf1.stats())
        stats2 = migration_calls(before2, sf2.stats())
        v2_counts = {k: v for k, v in sf2.counts().items() if v}
        by_status: dict[str, int] = {}
        for p in probes[:1]:
            by_status = p.summary().get("by_status", {})
        rss = [p.vm_hwm() or p.peak_rss for p in probes]
        concurrency = http_json(f"{stack.sf2.url}/__admin/concurrency")  # type: ignore[union-attr]
        bulk = http_json(f"{stack.sf2.url}/__admin/bulk")  # type: ignore[union-attr]
    finally:
        for w in workers:
            w.stop()
    records = sum(v2_counts.values())
    model = CostModel(enabled=True)
    cap = capacity(model, strategy, v2_counts, n * LOAD_CONCURRENCY) if records else 0.0
    calls = call_count(stats1) + call_count(stats2)
    records_per_s = records / wall_s
    return {
        "strategy": strategy,
        "workers": n,
        "customers": len(ids),
        "batch_size": batch,
        "wall_s": round(wall_s, 2),
        "customers_per_s": round(len(ids) / wall_s, 1),
        "records": records,
        "v2_record_counts": v2_counts,
        "records_per_s": round(records_per_s, 1),
        "capacity_records_per_s": round(cap, 1),
        "share_of_capacity": round(records_per_s / cap, 3) if cap else None,
        "api_calls": calls,
        "api_calls_per_customer": round(calls / len(ids), 4),
        "api_calls_by_org": {"v1": stats1, "v2": stats2},
        "compensations": _compensations(stack.database_url),
        "by_status": by_status,
        "peak_rss_bytes_per_worker": rss,
        "worker_cpu_s": round(cpu_s, 2),
        "worker_cpu_s_per_1000_customers": round(cpu_s * 1000 / len(ids), 2),
        "sandbox_v2_concurrency": concurrency,
        "sandbox_v2_bulk": {
            k: bulk.get(k) for k in ("jobs", "states", "records_used", "peak_parallel_batches")
        },
    }


def run_one(opts: WavesOptions, strategy: str, n: int, root: Path) -> dict:
    state = root / f"{strategy}-{n}w"
    with scratch_database(server_database_url()) as db_url:
        config = DevStackConfig(
            broker_port=free_port(),
            registry_port=free_port(),
            sf1_port=free_port(),
            sf2_port=free_port(),
            database_url=db_url,
            state_dir=state,
            customers=opts.customers,
            sandbox_cost_model=True,
            # no files: the model's capacity counts records, and files have their own
            # benchmark (`make bench-files`); the seed's default would put ~23 GB of them in
            # V1 at 100,000 customers
            sandbox_file_rate=0.0,
        )
        with DevStack(config) as stack:
            return measure(stack, opts, strategy, n, state)


def parse_args(argv: list[str] | None = None) -> WavesOptions:
    p = argparse.ArgumentParser(prog="benchmarks.waves", description=__doc__.split("\n")[0])
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--workers", default="1,2,4")
    p.add_argument("--strategies", default="graph,collections,bulk")
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--bulk-batch-size", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=3600.0)
    p.add_argument("--output", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    return WavesOptions(
        customers=a.customers,
        workers=tuple(int(x) for x in a.workers.split(",")),
        strategies=tuple(a.strategies.split(",")),
        batch_size=a.batch_size,
        bulk_batch_size=a.bulk_batch_size,
        timeout_s=a.timeout,
        output=a.output,
    )


def print_row(r: dict[str, Any]) -> None:
    share = r["share_of_capacity"]
    print(
        f"{r['strategy']:<12}{r['workers']:>3}w {r['customers_per_s']:>8.1f} cust/s "
        f"{r['records_per_s']:>9.1f} rec/s of {r['capacity_records_per_s']:>9.1f} "
        f"({share * 100 if share else 0:5.1f} %)  calls/cust {r['api_calls_per_customer']:.4f}  "
        f"comp {r['compensations']}  cpu/1k {r['worker_cpu_s_per_1000_customers']}s  "
        f"rss {max(r['peak_rss_bytes_per_worker']) / 2**20:.0f} MiB",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C: the stacks stop their workers and services, the scratch
    # database and directory go
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = datetime.now(UTC)
    root = Path(tempfile.mkdtemp(prefix="bench-waves-"))
    runs = []
    try:
        for strategy in opts.strategies:
            for n in opts.workers:
                try:
                    row = run_one(opts, strategy, n, root)
                except Exception as exc:  # one failed setting is reported, the others still run
                    row = {"strategy": strategy, "workers": n, "error": str(exc)[:2000]}
                    print(f"{strategy} {n}w: FAILED {exc}", file=sys.stderr, flush=True)
                else:
                    print_row(row)
                runs.append(row)
                report = {
                    "started_at": started.isoformat(),
                    "options": {**dataclasses.asdict(opts), "output": str(opts.output)},
                    "cost_model": dataclasses.asdict(CostModel(enabled=True)),
                    "machine": machine_info(),
                    "runs": runs,
                }
                opts.output.parent.mkdir(parents=True, exist_ok=True)
                opts.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if all("error" not in r for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
