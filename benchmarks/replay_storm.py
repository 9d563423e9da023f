"""`make bench` section "replay": a storm of duplicate events for COMPLETED customers (issue 23).

Upstream services republish (at-least-once producers, topic resets), so a replay of a finished
customer's event must cost the worker almost nothing: no state change, no Salesforce call, no
wait behind batches of real work. Goal: 10,000 duplicate events/s on the dev stack.

Per store (rocksdb:// as deployed, memory:// as the dev default), on a fresh dev stack (V1
seeded with --replay-customers clean customers, dirty rate 0, no sandbox latency):

1. One worker (as `make bench` starts it: batch 200, short group timeouts; a console read token
   set, as deployed; ``BROKER_COMMIT_INTERVAL`` at 0.1 s instead of Faust's 2.8 s, so the moment
   its committed offset reaches the end is seen within 0.1 s rather than 2.8 s).
2. Each customer's event is encoded once by confluent-kafka's ``AvroSerializer`` against the dev
   registry and published by a librdkafka ``Producer`` (``partitioner=murmur2_random``, so keys
   land where the worker's aiokafka producers put them); the run waits for every customer's
   result event and checks the table says COMPLETED for all.
3. The storm: the very same bytes (same correlation ids: duplicates) published --replays times,
   round-robin over the customers as a replayed topic would hold them, as fast as the producer
   goes. A thread reads the worker group's committed offsets every 0.05 s (OffsetFetch, which
   costs the broker, not the worker) until they have advanced by --replays past where they were
   before the storm, or the deadline (--replay-timeout) passes; what is then still
   uncommitted is ``left_behind``.

Figures: ``duplicates_per_s`` = replays consumed / seconds from the first replay produced to the
last committed (producer time included: a storm is over when the worker has skipped it);
``steady_duplicates_per_s`` = the rate between 10% and 90% consumed (no start-up or tail);
``produce_s`` (the producer's own time: when it is close to ``wall_s``, the producer bounds the
figure, not the worker); the worker's CPU seconds over the storm and per 1,000 duplicates and
its share of one core (near 1.0: the worker's event loop bounds it); the broker's CPU;
``migration_app_duplicate_events_total`` and ``migration_app_events_consumed_total`` deltas
from /metrics (the duplicates counter counts a customer once per batch: a batch holding one
customer's event several times keeps only its latest, so it may be below --replays); the
worker's "producer buffer full" log lines during the storm (the issue's symptom).

Run: .venv/bin/python -m benchmarks.run --only replay [--replays 20000] [--replay-customers 200]
     [--replay-stores rocksdb://,memory://] [--replay-timeout 120]
Or:  .venv/bin/python -m benchmarks.replay_storm (the same options, without the --replay- prefix)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from benchmarks.probes import (
    ProfileFetch,
    SandboxAdmin,
    StackCpu,
    WorkerProbe,
    cpu_seconds,
    http_text,
    machine_info,
    wait_until,
)
from benchmarks.result_watch import ResultWatcher
from benchmarks.run import RESULTS_DIR, scratch_database, server_database_url, worker_env
from devstack.dev import worker_process
from devstack.probes import free_port
from devstack.stack import DevStack, DevStackConfig
from migration_app.app import APP_ID
from migration_app.client_config import bootstrap_servers
from migration_app.contracts.schemas import CUSTOMER_SUBJECT, CUSTOMER_TOPIC, load_schema
from migration_app.settings import Settings

GOAL_DUPLICATES_PER_S = 10_000.0
DUPLICATES_METRIC = "migration_app_duplicate_events_total"
CONSUMED_METRIC = "migration_app_events_consumed_total"
BUFFER_FULL_LINE = "producer buffer full"
POLL_S = 0.05
#: The worker's Faust commit interval during the bench (Faust reads BROKER_COMMIT_INTERVAL).
COMMIT_INTERVAL_S = 0.1


@dataclasses.dataclass(frozen=True)
class ReplayOptions:
    customers: int = 200
    replays: int = 20_000
    stores: tuple[str, ...] = ("rocksdb://", "memory://")
    timeout_s: float = 120.0  # the storm's deadline, from its first replay
    batch_size: int = 200
    batch_within: float = 0.5
    output: Path = RESULTS_DIR / "replay_storm.json"
    keep_state: bool = False
    worker_env: tuple[str, ...] = ()
    profile_seconds: float = 0.0  # >0: the worker's CPU profile from the storm's start


# -- the arithmetic (pure; tests/unit/benchmarks/test_replay_storm.py) -----------------------------
def replay_order(customers: int, replays: int) -> list[int]:
    """Index of the customer each replay repeats: round-robin, as a replayed topic holds them
    (every customer once, then every customer again, ...)."""
    if customers < 1:
        raise ValueError("no customers to replay")
    return [i % customers for i in range(replays)]


def end_offsets(deliveries: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Per partition, the offset after the last delivered record, from (partition, offset)
    delivery reports (Tansu's own ListOffsets(latest) is wrong after multi-record batches)."""
    out: dict[int, int] = {}
    for partition, offset in deliveries:
        out[partition] = max(out.get(partition, 0), offset + 1)
    return out


def progress(start: Mapping[int, int], committed: Mapping[int, int | None]) -> int:
    """Records committed past ``start`` (the committed offsets before the storm), all
    partitions summed; a partition with no commit yet counts as still at its start."""
    done = 0
    for partition, base in start.items():
        now = committed.get(partition)
        done += max(0, (base if now is None else now) - base)
    for partition, now in committed.items():
        if partition not in start and now is not None:
            done += max(0, now)
    return done


def crossing_time(samples: Sequence[tuple[float, int]], target: float) -> float | None:
    """When ``target`` records were first committed, linearly interpolated between the two
    samples (seconds, count) around it; None if never reached."""
    previous: tuple[float, int] | None = None
    for t, n in samples:
        if n >= target:
            if previous is None or n == previous[1]:
                return t
            t0, n0 = previous
            return t0 + (t - t0) * (target - n0) / (n - n0)
        previous = (t, n)
    return None


def steady_rate(
    samples: Sequence[tuple[float, int]], total: int, lo: float = 0.1, hi: float = 0.9
) -> float | None:
    """Records per second between ``lo`` and ``hi`` of ``total`` committed: the worker's rate
    without the start of the storm and the last commit's wait."""
    t_lo, t_hi = crossing_time(samples, lo * total), crossing_time(samples, hi * total)
    if t_lo is None or t_hi is None or t_hi <= t_lo:
        return None
    return (hi - lo) * total / (t_hi - t_lo)


def metric_total(text: str, name: str) -> float | None:
    """Sum of every sample of ``name`` (any labels) in a Prometheus text exposition."""
    total: float | None = None
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        rest = line[len(name) :]
        if not rest or rest[0] not in " {":
            continue  # another metric whose name starts with this one
        total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    return total


def delta(after: float | None, before: float | None) -> float | None:
    if after is None:
        return None
    return after - (before or 0.0)


def storm_figures(
    replays: int,
    consumed: int,
    wall_s: float,
    produce_s: float,
    worker_cpu_s: float,
) -> dict[str, Any]:
    """Rates and costs of one storm: consumed in wall_s (first replay produced to the last
    committed, or to the deadline when some were left behind)."""
    per_s = consumed / wall_s if wall_s > 0 else 0.0
    return {
        "replays": replays,
        "consumed": consumed,
        "left_behind": replays - consumed,
        "wall_s": round(wall_s, 3),
        "produce_s": round(produce_s, 3),
        "tail_after_produce_s": round(max(0.0, wall_s - produce_s), 3),
        "produce_per_s": round(replays / produce_s, 1) if produce_s > 0 else None,
        "duplicates_per_s": round(per_s, 1),
        "ratio_to_goal": round(per_s / GOAL_DUPLICATES_PER_S, 3),
        "goal_met": consumed == replays and per_s >= GOAL_DUPLICATES_PER_S,
        "worker_cpu_s": round(worker_cpu_s, 2),
        "worker_cpu_ms_per_1000_duplicates": (
            round(worker_cpu_s * 1e6 / consumed, 1) if consumed else None
        ),
        "worker_cpu_share_of_one_core": round(worker_cpu_s / wall_s, 3) if wall_s > 0 else None,
    }


# -- the measurement ---------------------------------------------------------------------------
class CommitWatch:
    """The worker group's committed offsets on ``customer``, read from outside (confluent-kafka
    ``Consumer.committed``: an OffsetFetch; this consumer never subscribes, so never joins)."""

    def __init__(self, settings: Settings, partitions: int) -> None:
        from confluent_kafka import Consumer, TopicPartition

        self._tps = [TopicPartition(CUSTOMER_TOPIC, p) for p in range(partitions)]
        self._consumer = Consumer(
            {
                "bootstrap.servers": ",".join(bootstrap_servers(settings)),
                "group.id": APP_ID,
                "enable.auto.commit": False,
                "socket.timeout.ms": 10000,
            }
        )

    def committed(self) -> dict[int, int | None]:
        out: dict[int, int | None] = {}
        for tp in self._consumer.committed(self._tps, timeout=10):
            out[tp.partition] = tp.offset if tp.offset >= 0 else None
        return out

    def close(self) -> None:
        self._consumer.close()


class StormSampler:
    """A thread sampling (seconds since the storm began, records committed past the start,
    worker CPU seconds) every POLL_S until ``replays`` are committed or the deadline."""

    def __init__(
        self,
        watch: CommitWatch,
        start: Mapping[int, int],
        replays: int,
        worker: psutil.Process,
        timeout_s: float,
    ) -> None:
        self._watch, self._start, self._replays = watch, start, replays
        self._worker, self._timeout_s = worker, timeout_s
        self.samples: list[tuple[float, int]] = []
        self.cpu_start = cpu_seconds(worker)
        self.cpu_end: float | None = None
        self.done_s: float | None = None
        self.error: str | None = None
        self.t0 = 0.0
        self._thread = threading.Thread(target=self._run, name="bench-storm", daemon=True)

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self._thread.start()

    def join(self) -> None:
        self._thread.join(self._timeout_s + 30)

    def _run(self) -> None:
        try:
            while True:
                committed = self._watch.committed()
                now = time.perf_counter() - self.t0
                cpu = cpu_seconds(self._worker)
                n = progress(self._start, committed)
                self.samples.append((round(now, 3), n))
                if n >= self._replays or now > self._timeout_s:
                    self.cpu_end = cpu
                    self.done_s = now
                    return
                time.sleep(POLL_S)
        except Exception as exc:  # reported in the run; the caller's join is bounded
            self.error = f"{type(exc).__name__}: {exc}"


class StormProducer:
    """confluent-kafka: AvroSerializer against the dev registry, librdkafka's murmur2_random."""

    def __init__(self, settings: Settings, replays: int) -> None:
        from confluent_kafka import Producer
        from confluent_kafka.schema_registry import SchemaRegistryClient
        from confluent_kafka.schema_registry.avro import AvroSerializer

        registry = SchemaRegistryClient({"url": settings.registry_url, "timeout": 10})
        self._serializer = AvroSerializer(registry, json.dumps(load_schema(CUSTOMER_SUBJECT)))
        self._producer = Producer(
            {
                "bootstrap.servers": ",".join(bootstrap_servers(settings)),
                "partitioner": "murmur2_random",
                "linger.ms": 5,
                "queue.buffering.max.messages": max(100_000, replays + 1000),
                "message.timeout.ms": 60000,
                "socket.timeout.ms": 10000,
            }
        )
        self.deliveries: list[tuple[int, int]] = []
        self.errors: list[str] = []

    def encode(self, customer_id: str) -> bytes:
        from confluent_kafka.serialization import MessageField, SerializationContext

        event = {
            "customer_id": customer_id,
            "occurred_at": datetime.now(UTC),
            "correlation_id": str(uuid.uuid4()),
            "requested_by": "benchmark-replay",
            "dry_run": False,
            "force": False,
            "action": "MIGRATE",
        }
        value = self._serializer(event, SerializationContext(CUSTOMER_TOPIC, MessageField.VALUE))
        assert value is not None
        return value

    def partitions(self) -> int:
        meta = self._producer.list_topics(CUSTOMER_TOPIC, timeout=10)
        return len(meta.topics[CUSTOMER_TOPIC].partitions)

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors.append(str(err))
        else:
            self.deliveries.append((msg.partition(), msg.offset()))

    def send(self, records: Iterable[tuple[bytes, bytes]], timeout_s: float = 60.0) -> None:
        """Produce every (key, value) as fast as librdkafka takes them, then flush."""
        for key, value in records:
            while True:
                try:
                    self._producer.produce(
                        CUSTOMER_TOPIC, value=value, key=key, on_delivery=self._delivered
                    )
                    break
                except BufferError:  # local queue full: let deliveries drain it
                    self._producer.poll(0.05)
            self._producer.poll(0)
        left = self._producer.flush(timeout_s)
        if left or self.errors:
            raise RuntimeError(
                f"{left} replays not delivered; errors: {sorted(set(self.errors))[:3]}"
            )


def _log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _log_lines_since(path: Path, offset: int, needle: str) -> int:
    with contextlib.suppress(OSError), open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace").count(needle)
    return 0


def wait_committed(watch: CommitWatch, ends: Mapping[int, int], deadline_s: float) -> None:
    """Until the worker has committed every record before the storm (its start line)."""

    def caught_up() -> bool:
        committed = watch.committed()
        return all((committed.get(p) or 0) >= end for p, end in ends.items())

    wait_until(caught_up, deadline_s, every=0.1, what="the worker to commit the first events")


def measure_store(opts: ReplayOptions, store: str, root: Path) -> dict[str, Any]:
    """A fresh stack and worker; migrate the customers; then the storm."""
    state_dir = root / f"replay-{store.split(':')[0]}"
    with scratch_database(server_database_url()) as db_url:
        config = DevStackConfig(
            broker_port=free_port(),
            registry_port=free_port(),
            sf1_port=free_port(),
            sf2_port=free_port(),
            database_url=db_url,
            state_dir=state_dir,
            customers=opts.customers,
            sandbox_latency_ms=0,
            sandbox_dirty_rate=0.0,  # every customer COMPLETED: a FAILED one's replay is work
        )
        with DevStack(config) as stack:
            return _measure_worker(stack, opts, store, state_dir)


def _measure_worker(
    stack: DevStack, opts: ReplayOptions, store: str, state_dir: Path
) -> dict[str, Any]:
    ids = SandboxAdmin(stack.sf1.url).customers()[: opts.customers]  # type: ignore[union-attr]
    env = worker_env(stack, state_dir, opts.batch_size, opts.batch_within)
    env.update(
        {
            "MIGRATION_STORE": store,
            "MIGRATION_CONSOLE_READ_TOKEN": uuid.uuid4().hex + uuid.uuid4().hex,
            "BROKER_COMMIT_INTERVAL": str(COMMIT_INTERVAL_S),
        }
    )
    if opts.profile_seconds > 0:
        env["MIGRATION_DEBUG_TOKEN"] = uuid.uuid4().hex + uuid.uuid4().hex
    env.update(dict(item.split("=", 1) for item in opts.worker_env))
    settings = Settings.from_env(env)
    worker = worker_process(
        env, web_port=free_port(), log_dir=state_dir / "logs", ready_path="/migrations/summary"
    )
    worker.start()
    watch: CommitWatch | None = None
    try:
        probe = WorkerProbe(worker)
        wait_until(probe.consuming, 90, what="the worker to join its group")
        producer = StormProducer(settings, opts.replays)
        originals = [(cid.encode(), producer.encode(cid)) for cid in ids]
        watch = CommitWatch(settings, producer.partitions())
        watcher = ResultWatcher(settings, set(ids))
        watcher.start()
        migrate_started = time.perf_counter()
        try:
            producer.send(originals)
            wait_until(
                lambda: watcher.all_seen_at is not None or watcher.error is not None,
                opts.timeout_s,
                what=f"a result for each of {len(ids)} customers",
            )
        finally:
            watcher.stop()
        if watcher.error:
            raise RuntimeError(f"result watcher: {watcher.error}")
        migrate_s = time.perf_counter() - migrate_started
        summary = probe.summary()
        completed = summary.get("by_status", {}).get("COMPLETED", 0)
        if completed < len(ids):
            raise RuntimeError(f"not every customer COMPLETED before the storm: {summary}")
        start = end_offsets(producer.deliveries)
        wait_committed(watch, start, 30)
        start = {p: max(start.get(p, 0), c or 0) for p, c in watch.committed().items()}

        metrics_before = http_text(f"{worker.url}/metrics")
        log_offset = _log_size(worker.log_path)
        stack_cpu = StackCpu(stack)
        order = replay_order(len(originals), opts.replays)
        storm = [originals[i] for i in order]
        producer.deliveries.clear()
        sampler = StormSampler(watch, start, opts.replays, probe.proc, opts.timeout_s)
        profile = None
        if opts.profile_seconds > 0:
            name = f"{opts.output.stem}-{store.split(':')[0]}-profile.txt"
            profile = ProfileFetch(
                worker.url,
                env["MIGRATION_DEBUG_TOKEN"],
                opts.profile_seconds,
                opts.output.with_name(name),
            )
            profile.start()
        sampler.start()
        producer.send(storm, timeout_s=opts.timeout_s)
        produce_s = time.perf_counter() - sampler.t0
        sampler.join()
        if sampler.error or sampler.done_s is None:
            raise RuntimeError(f"committed offsets not readable: {sampler.error}")
        broker_cpu = stack_cpu.used()
        metrics_after = http_text(f"{worker.url}/metrics")
        consumed = min(opts.replays, sampler.samples[-1][1])
        after = probe.summary()
        probe.sample()
        figures = storm_figures(
            opts.replays,
            consumed,
            sampler.done_s,
            produce_s,
            (sampler.cpu_end or sampler.cpu_start) - sampler.cpu_start,
        )
        steady = steady_rate(sampler.samples, opts.replays)
        profiled = profile.result() if profile is not None else None
        return {
            "store": store,
            "customers": len(ids),
            "migrate_s": round(migrate_s, 2),
            **figures,
            "steady_duplicates_per_s": round(steady, 1) if steady is not None else None,
            "duplicate_events_counted": delta(
                metric_total(metrics_after, DUPLICATES_METRIC),
                metric_total(metrics_before, DUPLICATES_METRIC),
            ),
            "events_consumed_counted": delta(
                metric_total(metrics_after, CONSUMED_METRIC),
                metric_total(metrics_before, CONSUMED_METRIC),
            ),
            "producer_buffer_full_logged": _log_lines_since(
                worker.log_path, log_offset, BUFFER_FULL_LINE
            ),
            "stack_cpu_s": broker_cpu,
            "by_status_after": after.get("by_status", {}),
            "state_unchanged": after.get("by_status", {}).get("COMPLETED") == completed,
            "peak_rss_bytes": probe.vm_hwm() or probe.peak_rss,
            "commit_samples": sampler.samples[:: max(1, len(sampler.samples) // 200)],
            "cpu_profile": profiled,
            "worker_log": str(worker.log_path),
        }
    finally:
        if watch is not None:
            watch.close()
        worker.stop()


def run_section(opts: ReplayOptions, out: Callable[[str], None] = print) -> dict[str, Any]:
    """Every store in turn; the report (also written to opts.output)."""
    started = datetime.now(UTC)
    root = Path(tempfile.mkdtemp(prefix="migration-bench-replay-"))
    runs = []
    try:
        for store in opts.stores:
            out(f"running replay storm {store}: {opts.replays} replays of {opts.customers} ...")
            runs.append(measure_store(opts, store, root))
    finally:
        if opts.keep_state:
            out(f"state kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    report = {
        "goal_duplicates_per_s": GOAL_DUPLICATES_PER_S,
        "goal_met": all(r["goal_met"] for r in runs),
        "config": {
            "customers": opts.customers,
            "replays": opts.replays,
            "stores": list(opts.stores),
            "timeout_s": opts.timeout_s,
            "batch_size": opts.batch_size,
            "batch_within": opts.batch_within,
            "worker_env": list(opts.worker_env),
            "worker_commit_interval_s": COMMIT_INTERVAL_S,
            "producer": "confluent-kafka Producer, AvroSerializer, partitioner=murmur2_random, "
            "linger.ms=5; each customer's event encoded once, its bytes replayed round-robin",
        },
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "machine": machine_info(),
        "runs": runs,
    }
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    opts.output.write_text(json.dumps(report, indent=2) + "\n")
    return report


def print_table(report: dict[str, Any], out: Callable[[str], None] = print) -> None:
    cfg = report["config"]
    out(
        f"\nreplay storm: {cfg['replays']} duplicates of {cfg['customers']} COMPLETED customers "
        "(confluent-kafka, murmur2_random)"
    )
    out(
        f"{'run':<40}{'dup/s':>10}{'vs goal':>9}{'steady/s':>10}{'wall s':>8}{'produce s':>10}"
        f"{'CPU s':>7}{'CPU ms/1k':>10}{'left':>6}"
    )
    for r in report["runs"]:
        label = f"replay {r['store']}"
        out(
            f"{label:<40}{r['duplicates_per_s']:>10}{r['ratio_to_goal']:>8}x"
            f"{r['steady_duplicates_per_s']!s:>10}{r['wall_s']:>8}{r['produce_s']:>10}"
            f"{r['worker_cpu_s']:>7}{r['worker_cpu_ms_per_1000_duplicates']!s:>10}"
            f"{r['left_behind']:>6}"
        )
    for r in report["runs"]:
        out(
            f"  {r['store']}: duplicates counter +{r['duplicate_events_counted']}, events "
            f"consumed +{r['events_consumed_counted']}, worker at "
            f"{r['worker_cpu_share_of_one_core']} of a core, broker etc. CPU {r['stack_cpu_s']}, "
            f"'{BUFFER_FULL_LINE}' logged {r['producer_buffer_full_logged']}x, "
            f"statuses after {r['by_status_after']}"
        )
    out(
        f"goal >= {report['goal_duplicates_per_s']:g} duplicate events/s, none left behind: "
        f"{'MET' if report['goal_met'] else 'NOT MET'}"
    )


def add_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """The section's options: --replays, and --customers, --stores, --timeout, each with
    ``prefix`` ("replay-") when they sit among run.py's own."""
    parser.add_argument(
        "--replays", type=int, default=None, help="replays published (20000; --quick: 2000)"
    )
    parser.add_argument(
        f"--{prefix}customers",
        type=int,
        default=200,
        help="COMPLETED customers whose events are replayed (200)",
    )
    parser.add_argument(
        f"--{prefix}stores",
        default="rocksdb://,memory://",
        help="table stores, one fresh stack each (rocksdb://,memory://)",
    )
    parser.add_argument(
        f"--{prefix}timeout", type=float, default=120.0, help="the storm's deadline, s (120)"
    )


def options_from(
    args: argparse.Namespace, prefix: str = "", *, quick: bool = False, **extra: Any
) -> ReplayOptions:
    """ReplayOptions from what ``add_arguments(parser, prefix)`` parsed."""
    attr = prefix.replace("-", "_")
    replays = args.replays if args.replays is not None else (2_000 if quick else 20_000)
    stores = tuple(s.strip() for s in getattr(args, f"{attr}stores").split(",") if s.strip())
    if replays < 1 or getattr(args, f"{attr}customers") < 1 or not stores:
        raise ValueError("replays, customers and stores must be given")
    return ReplayOptions(
        customers=getattr(args, f"{attr}customers"),
        replays=replays,
        stores=stores,
        timeout_s=getattr(args, f"{attr}timeout"),
        **extra,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.replay_storm", description=__doc__)
    add_arguments(parser)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "replay_storm.json")
    parser.add_argument("--keep-state", action="store_true")
    parser.add_argument(
        "--profile-seconds",
        type=float,
        default=0.0,
        help="the worker's CPU profile for N s (<= 60) from the storm's first replay, saved "
        "as <output stem>-<store>-profile.txt next to the results",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    opts = options_from(
        args,
        output=args.output,
        keep_state=args.keep_state,
        profile_seconds=min(args.profile_seconds, 60.0),
    )
    report = run_section(opts)
    print_table(report)
    print(f"written to {opts.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
