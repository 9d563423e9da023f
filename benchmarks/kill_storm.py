"""`make bench-kill`: a kill storm, as an operator would run it, to check issue 23's "Done when":
"A kill -9 run of thousands of customers under RocksDB, with kills while batches are in flight,
loses no result event."

Per store (rocksdb:// as deployed, then memory://), on a fresh dev stack (V1 seeded with
--customers, both sandbox orgs at --latency-ms per call, a scratch PostgreSQL database):

1. One worker as `make bench` starts it (batch 200, short group timeouts, aiomonitor off) with
   ``MIGRATION_STORE=<store>``, a fixed ``MIGRATION_DATA_DIR`` (the pod's volume: kept across
   restarts) and the console closed (read and operator tokens set, as deployed). Once it is
   ready, a result-topic watcher (``result_watch.ResultWatcher``) sits at the topic's end and
   every seeded customer is enqueued (``worker.publisher.publish``, normal producer batches).
2. When the number of distinct customers with a result event crosses each --kills percentage,
   the worker gets SIGKILL at once (batches are in flight then: up to
   ``MIGRATION_PIPELINE_DEPTH`` of them; the worker's /metrics read just before the kill says
   how many batches it had started and not finished), and a new worker starts on the same data
   dir (it waits for /health/ready).
3. Then the run waits until the ``migration_state`` changelog says every customer is terminal
   (and until every customer has a result, or --grace seconds after that), stops the worker
   gracefully, and checks from outside: the WHOLE result topic (``customer-migrations``,
   decoded with the project's Avro codec through the registry) and the WHOLE changelog (latest
   value per key: raw UTF-8 key, Faust JSON of ``MigrationState``).

Reported per store: customers, kills done, customers whose final attempt (the changelog's
``attempt``) has no result event (must be 0), (customer, attempt) pairs with more than one result
event (and whether those repeats are identical), customers not terminal, results whose status
disagrees with the table's, results of attempts past the table's, customers migrated more than
once (the kills' in-flight batches, migrated again), and wall time (enqueue to all terminal).
For each customer without its final result: its attempts in the result topic, its table state
and the worker log lines that name it.

Run: .venv/bin/python -m benchmarks.kill_storm [--customers 3000] [--latency-ms 50]
     [--kills 15,35,55,75] [--stores rocksdb://,memory://] [--timeout 600]
     [--output benchmarks/results/kill_storm.json] [--keep-state]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from benchmarks.probes import SandboxAdmin, http_text, machine_info
from benchmarks.result_watch import ResultWatcher
from benchmarks.run import (
    BenchOptions,
    scratch_database,
    server_database_url,
    stack_config,
    worker_env,
)
from devstack.dev import worker_process
from devstack.probes import free_port
from devstack.process import ChildProcess
from devstack.stack import DevStack
from migration_app.app import APP_ID, TABLE_NAME
from migration_app.client_config import bootstrap_servers, registry_config
from migration_app.contracts.customer_status import TERMINAL_STATUSES
from migration_app.contracts.schemas import RESULT_SUBJECT, RESULT_TOPIC, load_schema
from migration_app.registry.avro import AvroCodec
from migration_app.registry.client import RegistryClient
from migration_app.settings import Settings
from migration_app.worker.publisher import publish

RESULTS_DIR = Path(__file__).parent / "results"
CHANGELOG_TOPIC = f"{APP_ID}-{TABLE_NAME}-changelog"
STORES = ("rocksdb://", "memory://")
KILLS = (15, 35, 55, 75)
BATCH_SIZE = 200
BATCH_WITHIN = 0.5
POLL_S = 0.02  # how often the kill trigger looks at the result count
#: The console closed as deployed: a reader and an operator token (>= 32 chars, no ',' ':').
READ_TOKEN = secrets.token_hex(24)
OPERATOR_TOKEN = secrets.token_hex(24)
LOG_LINES_PER_CUSTOMER = 40


@dataclasses.dataclass(frozen=True)
class Options:
    customers: int = 3000
    latency_ms: int = 50
    kills: tuple[float, ...] = KILLS
    stores: tuple[str, ...] = STORES
    timeout_s: float = 600.0  # enqueue to every customer terminal, per store
    grace_s: float = 30.0  # all terminal in the table: wait this long more for missing results
    output: Path = RESULTS_DIR / "kill_storm.json"
    keep_state: bool = False
    worker_env: tuple[str, ...] = ()


# -- the arithmetic (pure; tests/unit/benchmarks/test_kill_storm.py) -------------------------------
def kill_thresholds(customers: int, percents: Iterable[float]) -> list[int]:
    """Result counts at which to kill, ascending: the first count at or past each percentage
    (at least 1, below ``customers``: a kill after the last result is no kill in flight)."""
    if customers < 2:
        raise ValueError("a kill storm needs at least 2 customers")
    out = []
    for pct in sorted(percents):
        if not 0 < pct < 100:
            raise ValueError(f"kill percentage {pct} is not between 0 and 100")
        out.append(min(customers - 1, max(1, math.ceil(customers * pct / 100))))
    return out


def due(seen: int, threshold: int, baseline: int) -> bool:
    """Kill now: the distinct customers with a result reached ``threshold`` and grew past
    ``baseline`` (the count when the current worker became ready), i.e. the current worker is
    publishing results of a batch (the instant issue 23's loss happened in)."""
    return seen >= threshold and seen > baseline


def parse_kills(text: str) -> tuple[float, ...]:
    """'15,35,55,75' -> (15.0, 35.0, 55.0, 75.0); every item between 0 and 100, exclusive."""
    values = tuple(float(item) for item in text.split(",") if item.strip())
    if not values or any(not 0 < v < 100 for v in values):
        raise ValueError(f"--kills wants percentages between 0 and 100, got {text!r}")
    return values


def table_key(raw: bytes) -> str:
    """The table's raw UTF-8 key; a JSON-string key (older workers) is accepted too."""
    try:
        key = json.loads(raw)
    except ValueError:
        return raw.decode()
    return key if isinstance(key, str) else raw.decode()


def latest_states(records: Iterable[tuple[bytes | None, bytes | None]]) -> dict[str, dict]:
    """Changelog records in offset order -> the latest state per customer (a tombstone, value
    None, deletes the key, as compaction would)."""
    out: dict[str, dict] = {}
    for key, value in records:
        if key is None:
            continue
        if value is None:
            out.pop(table_key(key), None)
        else:
            out[table_key(key)] = json.loads(value)
    return out


def _comparable(result: Mapping[str, Any]) -> dict[str, Any]:
    """A result event without its transport fields, to tell identical repeats from different."""
    return {k: v for k, v in result.items() if k not in ("partition", "offset")}


def check_outcome(
    customers: Sequence[str], results: Sequence[Mapping[str, Any]], states: Mapping[str, Mapping]
) -> dict[str, Any]:
    """The kill storm's verdict from outside: ``results`` are the decoded result events (each
    with ``customer_id``, ``attempt``, ``status``), ``states`` the changelog's latest state per
    customer (``status``, ``attempt``).

    - ``final_attempt_without_result``: terminal customers whose table attempt has no result
      event (issue 23: must be 0);
    - ``duplicate_result_pairs``: (customer, attempt) pairs with more than one result event,
      ``..._differing`` those whose events are not identical;
    - ``not_terminal``: customers whose table state is missing or not terminal;
    - ``status_mismatch``: the final attempt's result status differs from the table's;
    - ``results_past_final_attempt``: a result for an attempt beyond the table's (the table lost
      an attempt);
    - ``results_for_unknown_customers``: results of customers not enqueued in this run.
    """
    expected = list(dict.fromkeys(customers))
    wanted = set(expected)
    by_pair: dict[tuple[str, int], list[Mapping[str, Any]]] = defaultdict(list)
    attempts: dict[str, set[int]] = defaultdict(set)
    unknown = 0
    for result in results:
        cid, attempt = str(result["customer_id"]), int(result["attempt"])
        if cid not in wanted:
            unknown += 1
            continue
        by_pair[(cid, attempt)].append(result)
        attempts[cid].add(attempt)
    missing, not_terminal, mismatch, past = [], [], [], []
    for cid in expected:
        state = states.get(cid)
        if state is None or state.get("status") not in TERMINAL_STATUSES:
            not_terminal.append(cid)
            continue
        final = int(state.get("attempt") or 0)
        mine = by_pair.get((cid, final))
        if not mine:
            missing.append(cid)
        elif any(r.get("status") != state.get("status") for r in mine):
            mismatch.append(cid)
        if any(a > final for a in attempts.get(cid, ())):
            past.append(cid)
    duplicates = {pair: events for pair, events in by_pair.items() if len(events) > 1}
    differing = [
        pair
        for pair, events in duplicates.items()
        if any(_comparable(e) != _comparable(events[0]) for e in events[1:])
    ]
    final_attempts = Counter(int(s.get("attempt") or 0) for c, s in states.items() if c in wanted)
    return {
        "customers": len(expected),
        "result_events": len(results),
        "customers_with_a_result": len(attempts),
        "final_attempt_without_result": len(missing),
        "duplicate_result_pairs": len(duplicates),
        "duplicate_result_pairs_differing": len(differing),
        "not_terminal": len(not_terminal),
        "status_mismatch": len(mismatch),
        "results_past_final_attempt": len(past),
        "results_for_unknown_customers": unknown,
        "migrated_more_than_once": sum(n for a, n in final_attempts.items() if a > 1),
        "final_attempts": {str(a): n for a, n in sorted(final_attempts.items())},
        "by_status": dict(
            Counter(str(s.get("status")) for c, s in states.items() if c in wanted).most_common()
        ),
        "results_by_attempt": {
            f"{a} {st}": n
            for (a, st), n in sorted(
                Counter(
                    (int(r["attempt"]), str(r["status"]))
                    for r in results
                    if str(r["customer_id"]) in wanted
                ).items()
            )
        },
        "error_codes": dict(
            Counter(code for r in results for code in r.get("error_codes") or ()).most_common(10)
        ),
        "missing_customers": missing,
        "not_terminal_customers": not_terminal,
        "status_mismatch_customers": mismatch,
        "past_final_attempt_customers": past,
        "duplicate_pairs": [list(p) for p in sorted(duplicates)][:50],
        "attempts_seen": {cid: sorted(attempts.get(cid, ())) for cid in missing + past},
    }


def passed(outcome: Mapping[str, Any]) -> bool:
    """No lost final result, nothing left unfinished, no result the table contradicts."""
    return (
        outcome["final_attempt_without_result"] == 0
        and outcome["not_terminal"] == 0
        and outcome["status_mismatch"] == 0
        and outcome["results_past_final_attempt"] == 0
        and outcome["duplicate_result_pairs_differing"] == 0
    )


def batches_in_flight(metrics_text: str) -> dict[str, int]:
    """From the worker's /metrics: batches it decoded (started), got past extract, finished; the
    differences are the batches in flight (``started`` also counts batches of duplicates only,
    which end after decode; ``past_extract`` counts batches in load, audit or finish)."""
    counts: dict[str, int] = {}
    for line in metrics_text.splitlines():
        if not line.startswith("migration_app_batch_stage_seconds_count{"):
            continue
        name, _, value = line.rpartition(" ")
        stage = name.split('stage="', 1)[1].split('"', 1)[0]
        counts[stage] = int(float(value))
    finished = counts.get("finish", 0)
    return {
        "started": counts.get("decode", 0),
        "past_extract": counts.get("extract", 0),
        "finished": finished,
        "started_not_finished": counts.get("decode", 0) - finished,
        "past_extract_not_finished": counts.get("extract", 0) - finished,
    }


def log_lines_naming(paths: Iterable[Path], needles: Iterable[str], limit: int) -> dict:
    """Per customer id, the worker log lines that name it (``file: line``), at most ``limit``."""
    wanted = list(needles)
    out: dict[str, list[str]] = {n: [] for n in wanted}
    if not wanted:
        return out
    for path in paths:
        with contextlib.suppress(OSError), open(path, errors="replace") as log:
            for line in log:
                for needle in wanted:
                    if needle in line and len(out[needle]) < limit:
                        out[needle].append(f"{path.name}: {line.rstrip()[:400]}")
    return out


# -- reading topics from outside ---------------------------------------------------------------
async def read_topic(
    settings: Settings, topic: str, quiet_s: float = 2.0, within_s: float = 120.0
) -> list[tuple[int, int, bytes | None, bytes | None]]:
    """Every record of ``topic`` from the beginning: (partition, offset, key, value), in offset
    order per partition. Read past the broker's end offsets until ``quiet_s`` passes without a
    record (Tansu's ListOffsets may stop short of a multi-record batch)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(settings),
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=10_000,
    )
    await consumer.start()
    out: list[tuple[int, int, bytes | None, bytes | None]] = []
    try:
        await consumer.topics()
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return out
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + within_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            for records in batch.values():
                out += [(r.partition, r.offset, r.key, r.value) for r in records]
            behind = [tp for tp in tps if await consumer.position(tp) < ends[tp]]
            if batch or behind:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                break
        else:
            raise TimeoutError(f"{topic}: not read to its end within {within_s}s")
    finally:
        await consumer.stop()
    return out


async def read_results(settings: Settings) -> list[dict[str, Any]]:
    """The whole result topic, each value decoded with the app's Avro codec (registry)."""
    records = await read_topic(settings, RESULT_TOPIC)
    registry = RegistryClient(registry_config(settings))
    out = []
    async with registry:
        codec = AvroCodec(registry, {RESULT_SUBJECT: load_schema(RESULT_SUBJECT)})
        for partition, offset, key, value in records:
            decoded = await codec.decode(value, RESULT_SUBJECT)
            out.append(
                {
                    "customer_id": decoded["customer_id"],
                    "attempt": decoded["attempt"],
                    "status": decoded["status"],
                    "correlation_id": decoded.get("correlation_id"),
                    "v2_account_id": decoded.get("v2_account_id"),
                    "counts": decoded.get("counts"),
                    "error_codes": [e.get("code") for e in decoded.get("errors") or []],
                    "key": key.decode(errors="replace") if key is not None else None,
                    "partition": partition,
                    "offset": offset,
                }
            )
    return out


async def read_states(settings: Settings) -> dict[str, dict]:
    """The changelog's latest state per customer (the table as its source of truth says)."""
    records = await read_topic(settings, CHANGELOG_TOPIC)
    return latest_states((key, value) for _, _, key, value in records)


class ChangelogWatch:
    """Terminal customers per the changelog, read incrementally on a loop of its own."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._loop = asyncio.new_event_loop()
        self._consumer: AIOKafkaConsumer | None = None
        self.states: dict[str, dict] = {}

    def terminal(self, customers: Iterable[str]) -> int:
        self._loop.run_until_complete(self._refresh())
        return sum(
            1 for c in customers if (self.states.get(c) or {}).get("status") in TERMINAL_STATUSES
        )

    async def _refresh(self) -> None:
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(
                CHANGELOG_TOPIC,
                bootstrap_servers=bootstrap_servers(self._settings),
                group_id=None,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                metadata_max_age_ms=1000,
                request_timeout_ms=10_000,
            )
            await self._consumer.start()
        while True:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=10_000)
            if not batch:
                return
            for records in batch.values():
                self.states.update(latest_states((r.key, r.value) for r in records))

    def close(self) -> None:
        if self._consumer is not None:
            self._loop.run_until_complete(self._consumer.stop())
        self._loop.close()


# -- one store ---------------------------------------------------------------------------------
def start_worker(env: dict[str, str], log_dir: Path, n: int) -> ChildProcess:
    worker = worker_process(env, web_port=free_port(), log_dir=log_dir, name=f"worker-{n}")
    worker.start()  # until /health/ready: partitions assigned, table recovered
    return worker


def kill_now(worker: ChildProcess, watcher: ResultWatcher, threshold: int) -> dict[str, Any]:
    """/metrics (batches in flight), then SIGKILL at once; what the kill hit."""
    seen_before = watcher.seen
    flight: dict[str, int] | None = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        flight = batches_in_flight(http_text(f"{worker.url}/metrics", timeout=2))
    pid = worker.pid
    worker.kill()  # SIGKILL, then reaped
    return {
        "threshold": threshold,
        "results_seen_at_kill": seen_before,
        "results_seen_after_kill": watcher.seen,
        "pid": pid,
        "worker_log": str(worker.log_path),
        "batches": flight,
    }


def run_store(opts: Options, store: str, root: Path) -> dict[str, Any]:
    """A fresh stack, one worker killed at every threshold and restarted on the same data dir,
    then the check from outside."""
    state_dir = root / store.split(":", 1)[0]
    log_dir = state_dir / "logs"
    with scratch_database(server_database_url()) as db_url:
        sizes = BenchOptions(customers=opts.customers, latency_ms=opts.latency_ms)
        config = stack_config(sizes, state_dir, db_url)
        t0 = time.perf_counter()
        with DevStack(config) as stack:
            stack_start_s = time.perf_counter() - t0
            ids = SandboxAdmin(stack.sf1.url).customers()  # type: ignore[union-attr]
            env = worker_env(stack, state_dir, BATCH_SIZE, BATCH_WITHIN)
            env.update(
                {
                    "MIGRATION_STORE": store,
                    "MIGRATION_CONSOLE_READ_TOKEN": READ_TOKEN,
                    "MIGRATION_OPERATOR_TOKEN": OPERATOR_TOKEN,
                }
            )
            env.update(dict(item.split("=", 1) for item in opts.worker_env))
            settings = Settings.from_env(env)
            result = storm(opts, settings, env, ids, log_dir)
            result.update(
                {
                    "store": store,
                    "data_dir": env["MIGRATION_DATA_DIR"],
                    "stack_start_s": round(stack_start_s, 2),
                    "database": "embedded pgserver" if not db_url else "postgresql (scratch db)",
                }
            )
    return result


def storm(
    opts: Options, settings: Settings, env: dict[str, str], ids: list[str], log_dir: Path
) -> dict[str, Any]:
    thresholds = kill_thresholds(len(ids), opts.kills)
    workers_started = 1
    worker = start_worker(env, log_dir, 0)
    watcher = ResultWatcher(settings, set(ids))
    changelog = ChangelogWatch(settings)
    kills: list[dict[str, Any]] = []
    restarts_s: list[float] = []
    try:
        watcher.start()
        started = time.perf_counter()
        upstream = dataclasses.replace(settings, producer_max_batch_size=16384)
        asyncio.run(publish(upstream, ids, requested_by="kill_storm"))
        enqueue_s = time.perf_counter() - started
        deadline = time.monotonic() + opts.timeout_s
        baseline = 0  # results seen when the current worker became ready
        for threshold in thresholds:
            # past the threshold, and the current worker itself publishing (its first results
            # seen): a late read of the killed worker's last results does not trigger a kill
            # of a worker that has only just started
            while not due(watcher.seen, threshold, baseline) and watcher.seen < len(ids):
                if time.monotonic() > deadline or watcher.error:
                    raise TimeoutError(
                        f"{watcher.seen}/{len(ids)} results, kill at {threshold} not reached "
                        f"({watcher.error or 'timeout'}); see {worker.log_path}"
                    )
                if not worker.running():
                    raise RuntimeError(worker.exit_report(" on its own"))
                time.sleep(POLL_S)
            if not due(watcher.seen, threshold, baseline):
                break  # every customer has a result: no batch left to kill in flight
            kill = kill_now(worker, watcher, threshold)
            kill["results_by_this_worker_at_kill"] = kill["results_seen_at_kill"] - baseline
            kill["at_s"] = round(time.perf_counter() - started, 2)
            t_restart = time.perf_counter()
            worker = start_worker(env, log_dir, workers_started)
            workers_started += 1
            restarts_s.append(round(time.perf_counter() - t_restart, 2))
            baseline = watcher.seen
            kill["restart_ready_s"] = restarts_s[-1]
            kills.append(kill)
            print(
                f"    kill {len(kills)} at {kill['results_seen_at_kill']} results "
                f"(threshold {threshold}), batches {kill['batches']}; restarted in "
                f"{kill['restart_ready_s']} s",
                flush=True,
            )
        terminal = 0
        all_terminal_at: float | None = None
        while time.monotonic() < deadline:
            terminal = changelog.terminal(ids)
            if terminal == len(ids):
                all_terminal_at = all_terminal_at or time.perf_counter()
                grace_over = time.perf_counter() - all_terminal_at >= opts.grace_s
                if watcher.seen == len(ids) or grace_over:
                    break
            if not worker.running():
                raise RuntimeError(worker.exit_report(" on its own"))
            time.sleep(0.5)
        wall_s = (all_terminal_at or time.perf_counter()) - started
        results_seen_live = watcher.seen
    finally:
        watcher.stop()
        changelog.close()
        worker.stop()
    results = asyncio.run(read_results(settings))
    states = asyncio.run(read_states(settings))
    outcome = check_outcome(ids, results, states)
    suspects = outcome["missing_customers"] + outcome["past_final_attempt_customers"]
    logs = sorted(log_dir.glob("worker-*.log"))
    details = {
        cid: {
            "attempts_in_results": outcome["attempts_seen"].get(cid, []),
            "results": [r for r in results if r["customer_id"] == cid],
            "state": states.get(cid),
            "log_lines": lines,
        }
        for cid, lines in log_lines_naming(logs, suspects, LOG_LINES_PER_CUSTOMER).items()
    }
    return {
        "customers": len(ids),
        "kills_planned": len(thresholds),
        "kills_done": len(kills),
        "kills": kills,
        "workers_started": workers_started,
        "enqueue_s": round(enqueue_s, 2),
        "wall_s": round(wall_s, 2),
        "all_terminal": terminal == len(ids),
        "results_seen_live": results_seen_live,
        **outcome,
        "passed": passed(outcome),
        "suspects": details,
        "worker_logs": [str(p) for p in logs],
    }


# -- report ------------------------------------------------------------------------------------
def print_table(report: dict[str, Any], out: Callable[[str], None] = print) -> None:
    cfg = report["config"]
    out(
        f"\nkill storm: {cfg['customers']} customers, {cfg['latency_ms']} ms per Salesforce call, "
        f"kills at {', '.join(f'{k:g}%' for k in cfg['kills'])}, nproc={report['machine']['nproc']}"
    )
    head = (
        f"{'store':<12}{'customers':>10}{'kills':>7}{'no final result':>17}{'dup pairs':>11}"
        f"{'not terminal':>14}{'re-migrated':>13}{'COMPLETED':>11}{'FAILED':>8}{'wall s':>9}"
        "  verdict"
    )
    out(head)
    out("-" * len(head))
    for r in report["runs"]:
        if "error" in r:
            out(f"{r['store']:<12}  ERROR: {r['error']}")
            continue
        out(
            f"{r['store']:<12}{r['customers']:>10}{r['kills_done']:>7}"
            f"{r['final_attempt_without_result']:>17}{r['duplicate_result_pairs']:>11}"
            f"{r['not_terminal']:>14}{r['migrated_more_than_once']:>13}"
            f"{r['by_status'].get('COMPLETED', 0):>11}{r['by_status'].get('FAILED', 0):>8}"
            f"{r['wall_s']:>9}  {'PASS' if r['passed'] else 'FAIL'}"
        )
    for r in report["runs"]:
        if r.get("results_by_attempt"):
            shown = ", ".join(f"{k}: {n}" for k, n in r["results_by_attempt"].items())
            out(f"  {r['store']} result events by attempt: {shown}")
        if r.get("by_status", {}).get("FAILED"):
            out(f"  {r['store']} error codes in result events: {r['error_codes']}")
    for r in report["runs"]:
        for cid, d in (r.get("suspects") or {}).items():
            state = d["state"] or {}
            out(
                f"  {r['store']} {cid}: table {state.get('status')} attempt "
                f"{state.get('attempt')}, result attempts {d['attempts_in_results']}, "
                f"{len(d['log_lines'])} log line(s)"
            )


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="benchmarks.kill_storm", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--customers", type=int, default=3000, help="seeded V1 customers (3000)")
    parser.add_argument("--latency-ms", type=int, default=50, help="sandbox latency per call")
    parser.add_argument(
        "--kills",
        default=",".join(map(str, KILLS)),
        help="kill at these percentages of customers with a result",
    )
    parser.add_argument("--stores", default=",".join(STORES), help="stores, one run each")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="max seconds per store, enqueue to terminal"
    )
    parser.add_argument(
        "--grace", type=float, default=30.0, help="after all terminal, wait for missing results"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "kill_storm.json")
    parser.add_argument("--keep-state", action="store_true", help="keep the temp state dir")
    parser.add_argument(
        "--worker-env", action="append", default=[], metavar="KEY=VALUE", help="extra worker env"
    )
    args = parser.parse_args(argv)
    try:
        kills = parse_kills(args.kills)
        kill_thresholds(args.customers, kills)
    except ValueError as exc:
        parser.error(str(exc))
    stores = tuple(s.strip() for s in args.stores.split(",") if s.strip())
    if not stores or any(s not in STORES for s in stores):
        parser.error(f"--stores: some of {', '.join(STORES)}")
    return Options(
        customers=args.customers,
        latency_ms=args.latency_ms,
        kills=kills,
        stores=stores,
        timeout_s=args.timeout,
        grace_s=args.grace,
        output=args.output,
        keep_state=args.keep_state,
        worker_env=tuple(args.worker_env),
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = datetime.now(UTC)
    root = Path(tempfile.mkdtemp(prefix="migration-bench-kill-"))
    runs: list[dict[str, Any]] = []
    try:
        for store in opts.stores:
            print(f"{store}: {opts.customers} customers ...", flush=True)
            t0 = time.perf_counter()
            try:
                run = run_store(opts, store, root)
            except (RuntimeError, TimeoutError, OSError) as exc:
                run = {"store": store, "error": f"{type(exc).__name__}: {exc}", "passed": False}
            run["total_s"] = round(time.perf_counter() - t0, 1)
            runs.append(run)
            print(f"    {store}: {'PASS' if run.get('passed') else 'FAIL'}", flush=True)
    finally:
        if opts.keep_state:
            print(f"state kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    report = {
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "machine": machine_info(),
        "config": {
            "customers": opts.customers,
            "latency_ms": opts.latency_ms,
            "kills": list(opts.kills),
            "stores": list(opts.stores),
            "batch_size": BATCH_SIZE,
            "batch_within": BATCH_WITHIN,
            "timeout_s": opts.timeout_s,
            "grace_s": opts.grace_s,
            "worker_env": list(opts.worker_env),
        },
        "method": "per store a fresh dev stack; one worker, SIGKILL when the distinct customers "
        "with a result event cross each threshold, restarted on the same MIGRATION_DATA_DIR; "
        "then the whole result topic (Avro-decoded) and the whole migration_state changelog "
        "(latest per key) are read from outside and compared",
        "passed": all(r.get("passed") for r in runs),
        "runs": runs,
    }
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    opts.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print_table(report)
    print(f"written to {opts.output}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
