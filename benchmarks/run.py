"""`make bench`: end-to-end throughput and Salesforce API economy of one worker, against a baseline.

A DevStack (broker, PostgreSQL, registry, two sandbox orgs with per-call latency) is started on
free ports with a fresh state dir; one `migration-app worker` child migrates every seeded customer
while the sandbox counts each API call (logins included). A naive per-record script then migrates
a few customers into a separate fresh V2 org. Both are printed, with their ratio, and written to
benchmarks/results/latest.json. See benchmarks/README.md for the method.

This module runs things (options, stacks, workers, the baseline, the sections); what it reads
from them while they run is ``probes.py``, the arithmetic and what it prints and writes is
``report.py``.

Both load strategies (graph, collections) run at two latency models: a flat --latency-ms per
call, and the same plus --per-record-ms per record saved (real orgs spend time per record).

A replay storm follows (`benchmarks/replay_storm.py`): duplicate events of COMPLETED customers,
skipped per second by the worker (issue 23); `--only throughput` or `--only replay` runs one.

Run: .venv/bin/python -m benchmarks.run [--customers 2000] [--latency-ms 50] [--per-record-ms 2]
     [--strategies graph,collections] [--baseline-customers 100]
     [--batch-size 200 | --batch-size 100,200,500] [--quick]
     [--only throughput|replay] [--replays 20000] [--replay-customers 200]
     [--replay-stores rocksdb://,memory://] [--replay-timeout 120]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from benchmarks.baseline import BaselineResult, run_baseline, sandbox_login
from benchmarks.probes import (
    ProfileFetch,
    SandboxAdmin,
    StackCpu,
    WorkerProbe,
    http_text,
    wait_until,
)
from benchmarks.report import (
    MAX_FAILED_SHARE,
    PROFILES,
    SERIAL,
    batch_stages,
    build_report,
    call_count,
    migration_calls,
    print_table,
    terminal,
    write_json,
)
from benchmarks.result_watch import ResultWatcher
from devstack.dev import worker_process
from devstack.probes import free_port, postgres_ok
from devstack.stack import DevStack, DevStackConfig, sandbox_process
from migration_app.migration.spec import load_mapping
from migration_app.settings import Settings
from migration_app.worker.publisher import publish

RESULTS_DIR = Path(__file__).parent / "results"
LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
#: `make bench`'s sections: end-to-end throughput (this module), the replay storm (replay_storm)
SECTIONS = ("throughput", "replay")


@dataclasses.dataclass(frozen=True)
class BenchOptions:
    customers: int = 2000
    latency_ms: int = 50
    baseline_customers: int = 100
    batch_sizes: tuple[int, ...] = (200,)
    batch_within: float = 0.5
    timeout_s: float = 300.0
    output: Path = RESULTS_DIR / "latest.json"
    keep_state: bool = False
    worker_env: tuple[str, ...] = ()
    strategies: tuple[str, ...] = ("graph", "collections")
    verify: bool = True  # verify every customer after the run (API calls of verify --all)
    per_record_ms: float = 2.0
    profile_seconds: float = 0.0  # >0: take the worker's CPU profile while it migrates
    serial: bool = True  # also run each strategy at MIGRATION_PIPELINE_DEPTH=1 (SERIAL)
    repeat: int = 3  # runs of each flat setting; the median one is reported (a noisy shared VM)
    sections: tuple[str, ...] = SECTIONS
    replay: Any = None  # replay_storm.ReplayOptions (imported lazily: it imports this module)

    @property
    def default_strategy(self) -> str:
        return self.strategies[0]


# -- the database ------------------------------------------------------------------------------
def server_database_url() -> str:
    """MIGRATION_TEST_DATABASE_URL, else local PostgreSQL if it answers, else "" (embedded)."""
    url = os.environ.get("MIGRATION_TEST_DATABASE_URL", "")
    if url:
        return url
    return LOCAL_DATABASE_URL if postgres_ok(LOCAL_DATABASE_URL, timeout=2) else ""


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A fresh database on that server for one run, dropped after; the server URL if not allowed.

    Why: audit rows of 2,000 customers should not land in a database other tests share.
    """
    if not server_url:
        yield ""
        return
    import psycopg2

    name = f"migration_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg2.connect(server_url, connect_timeout=5)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    except psycopg2.Error:
        yield server_url
        return
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        with contextlib.suppress(psycopg2.Error), admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


# -- the worker --------------------------------------------------------------------------------
def worker_env(stack: DevStack, state_dir: Path, batch_size: int, batch_within: float) -> dict:
    return {
        **stack.env(),
        "MIGRATION_BROKER_SESSION_TIMEOUT": "2",
        "MIGRATION_BROKER_HEARTBEAT_INTERVAL": "0.3",
        "MIGRATION_BROKER_REBALANCE_TIMEOUT": "2",
        "MIGRATION_DATA_DIR": str(state_dir / "worker-data"),
        "MIGRATION_MONITOR_ENABLED": "false",
        "MIGRATION_BATCH_SIZE": str(batch_size),
        "MIGRATION_BATCH_WITHIN": str(batch_within),
        "MIGRATION_LOG_LEVEL": "info",
    }


def measure_worker(
    stack: DevStack,
    opts: BenchOptions,
    batch_size: int,
    state_dir: Path,
    strategy: str,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Enqueue every seeded customer to one fresh worker; time it until all are terminal."""
    sf1, sf2 = SandboxAdmin(stack.sf1.url), SandboxAdmin(stack.sf2.url)  # type: ignore[union-attr]
    ids = sf1.customers()
    env = worker_env(stack, state_dir, batch_size, opts.batch_within)
    env["MIGRATION_LOAD_STRATEGY"] = strategy
    env.update(extra_env or {})
    env.update(dict(item.split("=", 1) for item in opts.worker_env))
    profile: ProfileFetch | None = None
    if opts.profile_seconds > 0:
        env.setdefault("MIGRATION_DEBUG_TOKEN", uuid.uuid4().hex)
    worker = worker_process(
        env, web_port=free_port(), log_dir=state_dir / "logs", ready_path="/migrations/summary"
    )
    sf1.reset()
    sf2.reset()
    worker.start()
    try:
        probe = WorkerProbe(worker)
        wait_until(probe.consuming, 90, what="the worker to join its group")
        tasks_before = probe.tasks()
        before1, before2 = sf1.stats(), sf2.stats()
        settings = Settings.from_env(env)
        if opts.profile_seconds > 0:
            name = f"{opts.output.stem}-{strategy}-b{batch_size}-profile.txt"
            profile = ProfileFetch(
                worker.url,
                env["MIGRATION_DEBUG_TOKEN"],
                opts.profile_seconds,
                opts.output.with_name(name),
            )
        # The upstream service batches its sends as any Kafka producer does (the worker's own
        # one-record batches are for the dev broker's offsets answer: its table changelog).
        upstream = dataclasses.replace(settings, producer_max_batch_size=16384)
        watcher = ResultWatcher(settings, set(ids))
        watcher.start()
        cpu_before = probe.cpu_seconds()
        stack_cpu = StackCpu(stack)
        started = time.perf_counter()
        started_at = datetime.now(UTC)
        if profile is not None:
            profile.start()
        try:
            asyncio.run(publish(upstream, ids, requested_by="benchmark"))
            enqueued_s = time.perf_counter() - started
            deadline = time.monotonic() + opts.timeout_s
            while watcher.all_seen_at is None:
                probe.sample()
                probe.sample_loop_lag()
                if not worker.running():
                    raise RuntimeError(
                        f"worker exited; see {worker.log_path}:\n{worker.log_tail()}"
                    )
                if time.monotonic() > deadline or watcher.error:
                    raise TimeoutError(
                        f"{watcher.seen}/{len(ids)} results after {opts.timeout_s}s "
                        f"({watcher.error or 'no error'})"
                    )
                time.sleep(0.1)
        finally:
            watcher.stop()
        wall_s = watcher.all_seen_at - started
        first_done_s = (watcher.first_seen_at or watcher.all_seen_at) - started
        first_done = watcher.first_seen_count
        # a result is sent after the customer's table state: the summary is final by now
        summary = probe.summary()
        if terminal(summary) < len(ids):
            raise RuntimeError(f"every customer has a result, yet the table says {summary}")
        cpu_s = probe.cpu_seconds() - cpu_before
        stack_cpu_s = stack_cpu.used()
        stages = batch_stages(http_text(f"{worker.url}/metrics"))
        stats1, stats2 = (
            migration_calls(before1, sf1.stats()),
            migration_calls(before2, sf2.stats()),
        )
        probe.sample()
        tasks_after = probe.tasks()
        hwm = probe.vm_hwm()
        v2_counts = sf2.counts()
        profiled = profile.result() if profile is not None else None
        verified = asyncio.run(measure_verify(settings, ids)) if opts.verify else None
    finally:
        worker.stop()
    calls = call_count(stats1) + call_count(stats2)
    by_status = summary.get("by_status", {})
    failed = by_status.get("FAILED", 0)
    steady = None
    if first_done_s is not None and wall_s > first_done_s:
        steady = round((len(ids) - first_done) / (wall_s - first_done_s), 1)
    return {
        "strategy": strategy,
        "batch_size": batch_size,
        "batch_within": opts.batch_within,
        "customers": len(ids),
        "started_at": started_at.isoformat(),
        "wall_s": round(wall_s, 3),
        "enqueue_s": round(enqueued_s, 3),
        "first_terminal_s": round(first_done_s, 3) if first_done_s is not None else None,
        "customers_per_s": round(len(ids) / wall_s, 1),
        "customers_per_s_after_first": steady,
        "api_calls": calls,
        "api_calls_per_customer": round(calls / len(ids), 4),
        "api_calls_by_org": {"v1": stats1, "v2": stats2},
        "sandbox_latency_s_if_serial": round(calls * opts.latency_ms / 1000, 2),
        "by_status": by_status,
        "valid": failed <= MAX_FAILED_SHARE * len(ids),
        "v2_record_counts": v2_counts,
        "peak_rss_bytes": hwm if hwm is not None else probe.peak_rss,
        "peak_rss_sampled_bytes": probe.peak_rss,
        "tasks_before": tasks_before,
        "tasks_after": tasks_after,
        "verify": verified,
        "worker_cpu_s": round(cpu_s, 2),
        "worker_cpu_s_per_1000_customers": round(cpu_s * 1000 / len(ids), 2),
        "loop_lag_max_ms": probe.max_loop_lag_ms,
        "stack_cpu_s": stack_cpu_s,
        "batch_stages": stages,
        "worker_log": str(worker.log_path),
        "cpu_profile": profiled,
    }


async def measure_verify(settings: Settings, ids: list[str]) -> dict[str, Any]:
    """`migration-app verify` over every migrated customer: verdicts and API calls it costs."""
    from collections import Counter

    from migration_app.client_config import salesforce_config
    from migration_app.salesforce.client import SalesforceClient
    from migration_app.verify.execution import verify_customers

    calls: Counter[str] = Counter()

    def count(org: str, endpoint: str, status: int) -> None:
        calls[org] += 1

    sf1 = SalesforceClient(salesforce_config(settings, "sf1"), on_call=count)
    sf2 = SalesforceClient(salesforce_config(settings, "sf2"), on_call=count)
    await sf1.start()
    await sf2.start()
    started = time.perf_counter()
    try:
        verdicts = await verify_customers(ids, load_mapping(), sf1, sf2)
    finally:
        await sf1.close()
        await sf2.close()
    total = sum(calls.values())
    return {
        "customers": len(verdicts),
        "verdicts": dict(Counter(v.verdict for v in verdicts)),
        "api_calls": total,
        "api_calls_per_customer": round(total / max(len(verdicts), 1), 4),
        "wall_s": round(time.perf_counter() - started, 2),
    }


def measure_baseline(stack: DevStack, opts: BenchOptions, state_dir: Path) -> dict[str, Any]:
    """The naive script on the first N seeded customers, into a separate fresh V2 org."""
    cfg = dataclasses.replace(stack.config, sf2_port=free_port(), state_dir=state_dir / "baseline")
    fresh_v2 = sandbox_process(cfg, "v2")
    sf1 = SandboxAdmin(stack.sf1.url)  # type: ignore[union-attr]
    ids = sf1.customers()[: opts.baseline_customers]
    fresh_v2.start()
    try:
        sf2 = SandboxAdmin(fresh_v2.url)
        sf1.reset()
        sf2.reset()
        result: BaselineResult = run_baseline(
            load_mapping(),
            sandbox_login(stack.sf1.url, "v1"),  # type: ignore[union-attr]
            sandbox_login(fresh_v2.url, "v2"),
            ids,
        )
        stats1, stats2 = sf1.stats(), sf2.stats()
    finally:
        fresh_v2.stop()
    calls = call_count(stats1) + call_count(stats2)
    return {
        "customers": result.customers,
        "completed": result.completed,
        "failed": result.failed,
        "records_created": result.records_created,
        "record_errors": result.record_errors,
        "errors_by_code": result.errors_by_code,
        "wall_s": round(result.wall_s, 3),
        "customers_per_s": round(result.customers_per_s, 2),
        "api_calls": calls,
        "client_calls": result.client_calls,
        "api_calls_per_customer": round(calls / max(result.customers, 1), 3),
        "api_calls_by_org": {"v1": stats1, "v2": stats2},
    }


# -- one full run ------------------------------------------------------------------------------
def stack_config(
    opts: BenchOptions, state_dir: Path, database_url: str, per_record_ms: float = 0.0
) -> DevStackConfig:
    return DevStackConfig(
        sandbox_per_record_ms=per_record_ms,
        broker_port=free_port(),
        registry_port=free_port(),
        sf1_port=free_port(),
        sf2_port=free_port(),
        database_url=database_url,
        state_dir=state_dir,
        customers=opts.customers,
        sandbox_latency_ms=opts.latency_ms,
    )


def run_one(
    opts: BenchOptions,
    batch_size: int,
    root: Path,
    with_baseline: bool,
    strategy: str = "graph",
    profile: str = "flat",
    repeat: int = 1,
) -> dict:
    """A fresh stack (and database) per setting, so no run sees another's V2 records or state."""
    state_dir = root / f"{strategy}-{profile}-batch-{batch_size}-run-{repeat}"
    per_record = opts.per_record_ms if profile == "per_record" else 0.0
    with scratch_database(server_database_url()) as db_url:
        config = stack_config(opts, state_dir, db_url, per_record)
        t0 = time.perf_counter()
        with DevStack(config) as stack:
            stack_start_s = time.perf_counter() - t0
            extra = {"MIGRATION_PIPELINE_DEPTH": "1"} if profile == SERIAL else None
            worker = measure_worker(stack, opts, batch_size, state_dir, strategy, extra)
            worker["profile"] = profile
            worker["repeat"] = repeat
            worker["per_record_ms"] = per_record
            worker["stack_start_s"] = round(stack_start_s, 2)
            worker["database"] = "embedded pgserver" if not db_url else "postgresql (scratch db)"
            if with_baseline and opts.baseline_customers:
                worker["baseline"] = measure_baseline(stack, opts, state_dir)
    return worker


def parse_args(argv: list[str] | None = None) -> BenchOptions:
    parser = argparse.ArgumentParser(prog="benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=None, help="seeded V1 customers (2000)")
    parser.add_argument("--latency-ms", type=int, default=50, help="sandbox latency per API call")
    parser.add_argument("--baseline-customers", type=int, default=None, help="baseline size (100)")
    parser.add_argument(
        "--batch-size", default="200", help="worker batch size; a comma list runs each (sweep)"
    )
    parser.add_argument("--batch-within", type=float, default=0.5, help="seconds to fill a batch")
    parser.add_argument("--timeout", type=float, default=300.0, help="max seconds per worker run")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.json")
    parser.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra MIGRATION_* setting for the worker (repeatable)",
    )
    parser.add_argument("--keep-state", action="store_true", help="keep the temp state dir")
    parser.add_argument("--quick", action="store_true", help="small smoke run (200 / 20)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each flat setting, the median reported (3; --quick: 1)",
    )
    parser.add_argument(
        "--no-serial",
        action="store_true",
        help="skip the runs at MIGRATION_PIPELINE_DEPTH=1 (flat latency), one per strategy",
    )
    parser.add_argument(
        "--strategies", default="graph,collections", help="load strategies, the first headlines"
    )
    parser.add_argument(
        "--per-record-ms", type=float, default=2.0, help="sandbox time per record saved"
    )
    parser.add_argument(
        "--profile-seconds",
        type=float,
        default=0.0,
        help="take the worker's CPU profile for N s (<= 60) from the start of the enqueue; "
        "saved as <output stem>-<strategy>-b<batch>-profile.txt next to the results",
    )
    parser.add_argument(
        "--only", choices=SECTIONS, default=None, help="run one section (default: both)"
    )
    from benchmarks import replay_storm

    replay_storm.add_arguments(parser, prefix="replay-")
    args = parser.parse_args(argv)
    customers = args.customers or (200 if args.quick else 2000)
    baseline = args.baseline_customers
    if baseline is None:
        baseline = 20 if args.quick else 100
    sizes = tuple(int(s) for s in str(args.batch_size).split(",") if s.strip())
    if not sizes or min(sizes) < 1 or customers < 1 or baseline < 0:
        parser.error("sizes and customers must be positive")
    try:
        replay = replay_storm.options_from(
            args,
            prefix="replay-",
            quick=args.quick,
            output=args.output.with_name("replay_storm.json"),
            keep_state=args.keep_state,
            worker_env=tuple(args.worker_env),
            profile_seconds=min(args.profile_seconds, 60.0),
        )
    except ValueError as exc:
        parser.error(str(exc))
    return BenchOptions(
        customers=customers,
        latency_ms=args.latency_ms,
        baseline_customers=min(baseline, customers),
        batch_sizes=sizes,
        batch_within=args.batch_within,
        timeout_s=args.timeout,
        output=args.output,
        keep_state=args.keep_state,
        worker_env=tuple(args.worker_env),
        strategies=tuple(s.strip() for s in args.strategies.split(",") if s.strip()),
        per_record_ms=args.per_record_ms,
        profile_seconds=min(args.profile_seconds, 60.0),
        serial=not args.no_serial,
        repeat=1 if args.quick else max(1, args.repeat),
        sections=(args.only,) if args.only else SECTIONS,
        replay=replay,
    )


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so the worker, stack and scratch database are cleaned up."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    report = None
    if "throughput" in opts.sections:
        report = run_throughput(opts)
        print_table(report)
        print(f"written to {opts.output}")
    if "replay" in opts.sections:
        from benchmarks import replay_storm

        replay = replay_storm.run_section(opts.replay)
        if report is not None:  # both sections' figures in latest.json
            report["replay_storm"] = {k: v for k, v in replay.items() if k != "machine"}
            write_json(opts.output, report)
        replay_storm.print_table(replay)
        print(f"written to {opts.replay.output}")
    return 0


def run_throughput(opts: BenchOptions) -> dict[str, Any]:
    """Every strategy and latency profile, each on a fresh stack; the report, written."""
    started = datetime.now(UTC)
    root = Path(tempfile.mkdtemp(prefix="migration-bench-"))
    runs = []
    try:
        first = opts.batch_sizes[0]
        for strategy in opts.strategies:
            profiles = PROFILES if opts.per_record_ms else ("flat",)
            for profile in (*profiles, SERIAL) if opts.serial else profiles:
                sizes = opts.batch_sizes if profile == "flat" else (first,)
                repeats = opts.repeat if profile == "flat" else 1
                for size in sizes:
                    for n in range(1, repeats + 1):
                        print(
                            f"running {strategy} {profile} batch size {size} #{n} ...", flush=True
                        )
                        runs.append(
                            run_one(opts, size, root, not runs, strategy, profile=profile, repeat=n)
                        )
    finally:
        if not opts.keep_state:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"state kept in {root}")
    report = build_report(opts, runs, started)
    write_json(opts.output, report)
    return report


if __name__ == "__main__":
    sys.exit(main())
