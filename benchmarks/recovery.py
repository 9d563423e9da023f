"""`make bench-recovery`: how fast a worker holding N customers is ready again after a kill -9,
and its RSS, with the table in memory:// and in rocksdb:// (its data dir kept, as a pod's volume).

Per N, one dev stack on free ports (broker, PostgreSQL, registry, two sandbox orgs: readiness
checks them all). The `migration_state` changelog is filled with N COMPLETED entries written
straight to the topic with the table's own key/value encoding (devstack.changelog_fill: raw
UTF-8 key, Faust JSON of MigrationState, murmur2 partition), not migrated through Salesforce.
Then per store: a worker starts on a fresh data dir, recovers, is killed with SIGKILL; a second
worker starts on the same data dir and is measured: seconds from process start to
/health/ready 200, seconds from its partitions being assigned (the rebalance done) to ready,
RSS at ready, and the changelog records it replayed (the ready document's count).

Then what the restarted worker costs at that table size (issue 23): its CPU seconds per second
while idle (psutil cpu_times of the worker process over --idle-seconds, after --settle-seconds,
nothing polling it), the CPU milliseconds and wall latency of one `/migrations/summary` call
(--summary-calls sequential calls, its CPU delta divided by their count), and RSS. Goals: at
most 0.05 CPU-s/s idle and at most 5 ms CPU per summary call, at any table size. The worker
runs closed as deployed (a console read token set; the bench sends it as a Bearer token).

Run: .venv/bin/python -m benchmarks.recovery [--customers 20000,100000] [--million]
     [--stores memory://,rocksdb://] [--idle-seconds 25] [--summary-calls 20]
     [--output benchmarks/results/recovery.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from benchmarks.probes import cpu_seconds, machine_info
from devstack.changelog_fill import fill_changelog
from devstack.probes import free_port
from devstack.process import ChildProcess
from devstack.stack import DevStack, DevStackConfig
from migration_app.settings import Settings

RESULTS_DIR = Path(__file__).parent / "results"
DEFAULT_SIZES = (20_000, 100_000)
MILLION = 1_000_000
STORES = ("memory://", "rocksdb://")
MIB = 1024 * 1024
# The target for rocksdb:// at 100,000 customers.
TARGET_READY_AFTER_REBALANCE_S = 15.0
TARGET_RSS_MIB = 200.0
# Issue 23's goals, at 100,000 and 1,000,000 customers alike.
GOAL_IDLE_CPU_S_PER_S = 0.05
GOAL_SUMMARY_CPU_MS = 5.0


@dataclasses.dataclass(frozen=True)
class Options:
    sizes: tuple[int, ...] = DEFAULT_SIZES
    stores: tuple[str, ...] = STORES
    output: Path = RESULTS_DIR / "recovery.json"
    ready_timeout_s: float = 900.0
    settle_s: float = 5.0  # after ready, before the idle window (start-up's last timers)
    idle_s: float = 25.0  # the idle window: nothing polls the worker
    summary_calls: int = 20


def ready_doc(url: str) -> tuple[int, dict[str, Any]]:
    """(status, body) of /health/ready; (0, {}) while the worker does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/health/ready", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        with contextlib.suppress(ValueError):
            return err.code, json.loads(err.read())
        return err.code, {}
    except (OSError, ValueError):
        return 0, {}


class ReadyWatch:
    """The worker's ready predicate that also notes when the rebalance handed it partitions and
    what it reported when ready (ChildProcess.start polls it every 0.1 s)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.started = time.monotonic()
        self.assigned_at: float | None = None
        self.ready_at: float | None = None
        self.doc: dict[str, Any] = {}
        self.max_offsets_remaining = 0
        self.worker: ChildProcess | None = None
        self.rss_at_ready = 0

    def __call__(self) -> bool:
        status, doc = ready_doc(self.url)
        now = time.monotonic()
        # Partitions assigned: the group's rebalance handed them out (Faust keeps its own
        # "rebalancing" flag up until the table recovery ends, so that flag is not the moment).
        if doc.get("assigned_partitions"):
            self.assigned_at = self.assigned_at or now
        left = (doc.get("recovery") or {}).get("offsets_remaining", 0)
        self.max_offsets_remaining = max(self.max_offsets_remaining, left)
        if status != 200:
            return False
        self.ready_at, self.doc = now, doc
        if self.worker is not None and self.worker.pid is not None:
            with contextlib.suppress(psutil.Error):
                self.rss_at_ready = psutil.Process(self.worker.pid).memory_info().rss
        return True


#: The console read token of the bench's workers (closed console, as deployed: rule 11).
READ_TOKEN = uuid.uuid4().hex + uuid.uuid4().hex


def start_worker(
    stack: DevStack, store: str, data_dir: Path, log_dir: Path, name: str, timeout: float
) -> tuple[ChildProcess, ReadyWatch]:
    port = free_port()
    env = {
        "MIGRATION_CONSOLE_READ_TOKEN": READ_TOKEN,
        **stack.env(),
        "MIGRATION_BROKER_SESSION_TIMEOUT": "2",
        "MIGRATION_BROKER_HEARTBEAT_INTERVAL": "0.3",
        "MIGRATION_BROKER_REBALANCE_TIMEOUT": "2",
        "MIGRATION_MONITOR_ENABLED": "false",
        "MIGRATION_STORE": store,
        "MIGRATION_DATA_DIR": str(data_dir),
        "MIGRATION_LOG_LEVEL": "info",
    }
    url = f"http://127.0.0.1:{port}"
    watch = ReadyWatch(url)
    # As devstack.dev.worker_process, with our ready predicate (the exact ready moment) and a
    # start timeout long enough for 1,000,000 customers on memory://.
    worker = ChildProcess(
        name,
        [sys.executable, "-m", "migration_app", "worker", "-l", "info"],
        url=url,
        ready=watch,
        log_dir=log_dir,
        env={**os.environ, **env, "MIGRATION_WEB_PORT": str(port)},
        start_timeout=timeout,
        stop_timeout=30,
    )
    watch.worker = worker
    watch.started = time.monotonic()
    worker.start()
    return worker, watch


def vm_hwm(pid: int) -> int:
    """Peak RSS the kernel kept for the process (VmHWM), bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def summary_call(url: str, timeout: float = 60.0) -> dict[str, Any]:
    """One /migrations/summary call with the read token (the view is aggregate-only and may be
    open; the token costs nothing if so)."""
    request = urllib.request.Request(
        f"{url}/migrations/summary", headers={"Authorization": f"Bearer {READ_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_counted(url: str, timeout_s: float) -> float:
    """Seconds until the summary's counts are complete (``counting`` empty): the restarted
    worker rebuilds each assigned partition's counts once, in the background, after it is
    ready; that one-time walk is not the idle cost the issue bounds, so it is timed apart."""
    started = time.monotonic()
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        doc = summary_call(url)
        if not doc.get("counting") and doc.get("partitions"):
            return round(time.monotonic() - started, 2)
        time.sleep(0.2)  # polling interval of a deadline loop
    raise TimeoutError(f"summary counts not complete within {timeout_s}s")


def cpu_per_second(cpu_s: float, wall_s: float) -> float:
    """CPU seconds the process used per wall second of a window."""
    return cpu_s / wall_s if wall_s > 0 else 0.0


def per_call_ms(cpu_s: float, calls: int) -> float:
    """CPU milliseconds per call from the process's CPU delta over ``calls`` sequential calls."""
    return cpu_s * 1000 / calls if calls else 0.0


def latency_figures(seconds: list[float]) -> dict[str, float | None]:
    """Median, 95th percentile (nearest rank) and max of call latencies, in milliseconds."""
    if not seconds:
        return {"median_ms": None, "p95_ms": None, "max_ms": None}
    ordered = sorted(seconds)
    rank = max(0, -(-95 * len(ordered) // 100) - 1)  # nearest rank: ceil(0.95 n) - 1
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[rank] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def goals_met(run: dict) -> dict[str, bool | None]:
    """The issue's two goals for one measured worker (None when the figure is missing)."""
    idle = run.get("idle_cpu_s_per_s")
    summary = run.get("summary_cpu_ms_per_call")
    return {
        "idle_cpu": None if idle is None else idle <= GOAL_IDLE_CPU_S_PER_S,
        "summary_cpu": None if summary is None else summary <= GOAL_SUMMARY_CPU_MS,
    }


def measure_costs(worker: ChildProcess, opts: Options) -> dict[str, Any]:
    """The idle worker's CPU per second, then the CPU and latency of sequential summary calls,
    and RSS after each: nothing else polls the worker meanwhile."""
    assert worker.pid is not None
    proc = psutil.Process(worker.pid)
    counted_after_s = wait_counted(worker.url, opts.ready_timeout_s)
    time.sleep(opts.settle_s)
    rss_idle_start = proc.memory_info().rss
    cpu0, t0 = cpu_seconds(proc), time.monotonic()
    time.sleep(opts.idle_s)
    idle_cpu, idle_wall = cpu_seconds(proc) - cpu0, time.monotonic() - t0
    rss_after_idle = proc.memory_info().rss
    latencies: list[float] = []
    total: int | None = None
    cpu1, t1 = cpu_seconds(proc), time.monotonic()
    for _ in range(opts.summary_calls):
        started = time.perf_counter()
        doc = summary_call(worker.url)
        latencies.append(time.perf_counter() - started)
        total = int(doc["total"]) if "total" in doc else total
    calls_cpu, calls_wall = cpu_seconds(proc) - cpu1, time.monotonic() - t1
    idle_rate = cpu_per_second(idle_cpu, idle_wall)
    per_call = per_call_ms(calls_cpu, opts.summary_calls)
    return {
        "table_entries": total,
        "counts_rebuilt_after_ready_s": counted_after_s,
        "idle_window_s": round(idle_wall, 2),
        "idle_cpu_s": round(idle_cpu, 3),
        "idle_cpu_s_per_s": round(idle_rate, 4),
        "summary_calls": opts.summary_calls,
        "summary_calls_wall_s": round(calls_wall, 3),
        "summary_cpu_ms_per_call": round(per_call, 2),
        # the idle rate's share of the calls' window taken out (heartbeats, timers)
        "summary_cpu_ms_per_call_net_of_idle": round(
            max(0.0, per_call - per_call_ms(idle_rate * calls_wall, opts.summary_calls)), 2
        ),
        "summary_latency": latency_figures(latencies),
        "rss_mib_idle_start": round(rss_idle_start / MIB, 1),
        "rss_mib_after_idle": round(rss_after_idle / MIB, 1),
        "rss_mib_after_summary_calls": round(proc.memory_info().rss / MIB, 1),
    }


def measure_store(stack: DevStack, store: str, n: int, root: Path, opts: Options) -> dict:
    """First start on a fresh data dir, kill -9, then the measured restart on the same dir."""
    timeout = opts.ready_timeout_s
    data_dir = root / f"{store.split(':')[0]}-data"
    log_dir = root / "logs"
    first, first_watch = start_worker(stack, store, data_dir, log_dir, f"{n}-first", timeout)
    first_ready_s = first_watch.ready_at - first_watch.started  # type: ignore[operator]
    first.kill()
    worker, watch = start_worker(stack, store, data_dir, log_dir, f"{n}-restart", timeout)
    try:
        assert watch.ready_at is not None and worker.pid is not None
        costs = measure_costs(worker, opts)
        result = {
            "store": store,
            "customers": n,
            "ready_s": round(watch.ready_at - watch.started, 2),
            "ready_after_rebalance_s": round(watch.ready_at - (watch.assigned_at or 0), 2)
            if watch.assigned_at
            else None,
            "rss_mib": round(watch.rss_at_ready / MIB, 1),
            "peak_rss_mib": round(vm_hwm(worker.pid) / MIB, 1),
            "replayed": watch.doc.get("changelog_replayed", {}).get("active"),
            "max_offsets_remaining_seen": watch.max_offsets_remaining,
            "first_start_ready_s": round(first_ready_s, 2),
            "data_dir_mib": round(du(data_dir) / MIB, 1),
            **costs,
        }
        result["goals_met"] = goals_met(result)
    finally:
        worker.kill()
    return result


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def run_size(opts: Options, n: int, root: Path) -> list[dict]:
    state_dir = root / f"n{n}"
    config = DevStackConfig(
        broker_port=free_port(),
        registry_port=free_port(),
        sf1_port=free_port(),
        sf2_port=free_port(),
        state_dir=state_dir,
        customers=20,
        sandbox_latency_ms=0,
    )
    with DevStack(config) as stack:
        settings = Settings.from_env(stack.env())
        t0 = time.perf_counter()
        asyncio.run(fill_changelog(settings, n))
        fill_s = time.perf_counter() - t0
        print(f"  filled {n} entries in {fill_s:.1f}s", flush=True)
        out = []
        for store in opts.stores:
            print(f"  {store} ...", flush=True)
            result = measure_store(stack, store, n, state_dir, opts)
            result["fill_s"] = round(fill_s, 1)
            print(f"    {result}", flush=True)
            out.append(result)
    return out


def slopes(runs: list[dict]) -> dict[str, dict[str, float]]:
    """Per store: ready seconds and RSS MiB per 1,000 customers, smallest to largest N."""
    out = {}
    for store in {r["store"] for r in runs}:
        mine = sorted((r for r in runs if r["store"] == store), key=lambda r: r["customers"])
        if len(mine) < 2:
            continue
        lo, hi = mine[0], mine[-1]
        thousands = (hi["customers"] - lo["customers"]) / 1000
        out[store] = {
            "ready_s_per_1000": round((hi["ready_s"] - lo["ready_s"]) / thousands, 4),
            "rss_mib_per_1000": round((hi["rss_mib"] - lo["rss_mib"]) / thousands, 4),
        }
    return out


def print_table(report: dict, out: Callable[[str], None] = print) -> None:
    head = (
        f"{'store':<12}{'customers':>10}{'ready s':>9}{'after rebal. s':>15}{'RSS MiB':>9}"
        f"{'peak MiB':>9}{'replayed':>10}{'entries':>9}{'1st start s':>12}"
    )
    out(head)
    out("-" * len(head))
    for r in report["runs"]:
        out(
            f"{r['store']:<12}{r['customers']:>10}{r['ready_s']:>9}"
            f"{r['ready_after_rebalance_s']!s:>15}{r['rss_mib']:>9}{r['peak_rss_mib']:>9}"
            f"{r['replayed']!s:>10}{r['table_entries']!s:>9}{r['first_start_ready_s']:>12}"
        )
    for store, s in report["slopes"].items():
        out(
            f"slope {store}: {s['ready_s_per_1000']} s and {s['rss_mib_per_1000']} MiB "
            "per 1,000 customers"
        )
    print_costs(report, out)


def print_costs(report: dict, out: Callable[[str], None] = print) -> None:
    """The restarted worker's idle CPU and summary-call cost beside the issue's goals."""
    runs = [r for r in report["runs"] if r.get("idle_cpu_s_per_s") is not None]
    if not runs:
        return
    head = (
        f"\n{'store':<12}{'customers':>10}{'idle CPU-s/s':>14}{'goal':>7}"
        f"{'summary CPU ms':>16}{'goal':>7}{'latency ms p50/max':>20}{'RSS MiB':>9}"
        f"{'counted s':>11}"
    )
    out(head)
    out("-" * (len(head) - 1))
    for r in runs:
        met = r.get("goals_met") or goals_met(r)
        lat = r["summary_latency"]
        latency = f"{lat['median_ms']}/{lat['max_ms']}"
        out(
            f"{r['store']:<12}{r['customers']:>10}{r['idle_cpu_s_per_s']:>14.4f}"
            f"{_verdict(met['idle_cpu']):>7}{r['summary_cpu_ms_per_call']:>16.2f}"
            f"{_verdict(met['summary_cpu']):>7}"
            f"{latency:>20}"
            f"{r['rss_mib_after_summary_calls']:>9}"
            f"{r.get('counts_rebuilt_after_ready_s', '-')!s:>11}"
        )
    out(
        f"goals: idle <= {GOAL_IDLE_CPU_S_PER_S} CPU-s/s over {runs[0]['idle_window_s']} s "
        f"with nothing polling; <= {GOAL_SUMMARY_CPU_MS} CPU ms per /migrations/summary call "
        f"({runs[0]['summary_calls']} sequential calls)"
    )


def _verdict(met: bool | None) -> str:
    return "-" if met is None else ("MET" if met else "NOT")


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--million", action="store_true", help="also 1,000,000 customers")
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "recovery.json")
    parser.add_argument(
        "--idle-seconds", type=float, default=25.0, help="idle CPU window after ready (25)"
    )
    parser.add_argument(
        "--settle-seconds", type=float, default=5.0, help="wait after ready before it (5)"
    )
    parser.add_argument(
        "--summary-calls", type=int, default=20, help="sequential /migrations/summary calls (20)"
    )
    args = parser.parse_args(argv)
    sizes = tuple(int(x) for x in args.customers.split(",") if x)
    if args.million:
        sizes += (MILLION,)
    if args.idle_seconds <= 0 or args.summary_calls < 1 or args.settle_seconds < 0:
        parser.error("--idle-seconds and --summary-calls must be positive")
    return Options(
        sizes=sizes,
        stores=tuple(args.stores.split(",")),
        output=args.output,
        settle_s=args.settle_seconds,
        idle_s=args.idle_seconds,
        summary_calls=args.summary_calls,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = datetime.now(UTC)
    root = Path(tempfile.mkdtemp(prefix="migration-bench-recovery-"))
    runs: list[dict] = []
    try:
        for n in opts.sizes:
            print(f"{n} customers ...", flush=True)
            runs += run_size(opts, n, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report = {
        "started": started.isoformat(),
        "machine": machine_info(),
        "method": "devstack (Tansu broker), fast group settings (session 2 s), one worker; "
        "the changelog filled directly; restart after SIGKILL on the same data dir",
        "targets": {
            "rocksdb_ready_after_rebalance_s_at_100000": TARGET_READY_AFTER_REBALANCE_S,
            "rocksdb_rss_mib_at_100000": TARGET_RSS_MIB,
            "idle_cpu_s_per_s": GOAL_IDLE_CPU_S_PER_S,
            "summary_cpu_ms_per_call": GOAL_SUMMARY_CPU_MS,
        },
        "cost_method": f"after ready: {opts.settle_s:g} s settle, then the worker's own CPU "
        f"(psutil user+system) over {opts.idle_s:g} s with nothing polling; then "
        f"{opts.summary_calls} sequential /migrations/summary calls (Bearer read token), "
        "their CPU delta / count; psutil's CPU clock ticks at 10 ms",
        "runs": runs,
        "slopes": slopes(runs),
    }
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    opts.output.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"written to {opts.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
