"""`make bench-files`: customers carrying files, end to end (issue 27).

1. ``files``: a fresh dev stack whose V1 seeds --customers (1,000) with files on a share of them
   (--file-rate) scaled to --files-total-mb (500) in all, both orgs at --latency-ms (50) per call.
   One worker (default settings: MIGRATION_FILE_BYTES_IN_FLIGHT 64 MB) migrates every customer
   through Kafka. Measured: MB/s of file bytes and customers/s (first event to last result), the
   worker's peak RSS (the kernel's VmHWM, and sampled RSS; goal < 300 MB whatever the total
   size), the API calls per file (the worker's ``migration_app_file_api_calls_total`` over its
   files, and every call of both orgs over the files), and that every file is in V2 with V1's
   Checksum.
2. ``no_files``: a second fresh stack of --no-files-customers (3,000) without files, for graph
   and for collections, two rounds each (one in each order) of three workers: the packaged
   mapping (files on, none to copy), one without its ``files:`` section (the code before files,
   in effect), and one without anything issue 27 added (files, e-mails, tasks, the account
   hierarchy: the mapping before it). Customers/s and API calls per customer of each, so the
   cost of files for customers without files shows, and what e-mails and tasks add.

Writes benchmarks/results/files.json. Run: .venv/bin/python -m benchmarks.files
[--customers 1000] [--files-total-mb 500] [--file-rate 0.5] [--file-kb MIN:MAX] [--latency-ms 50]
[--timeout 1800] [--no-files-customers 3000]
[--only files|no_files]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from benchmarks.baseline import connect, sandbox_login
from benchmarks.probes import SandboxAdmin, WorkerProbe, http_text, machine_info, wait_until
from benchmarks.report import write_json
from benchmarks.resync import migrate_all, per, stats_delta, work_calls
from benchmarks.run import scratch_database, server_database_url, worker_env
from devstack.dev import worker_process
from devstack.probes import free_port
from devstack.stack import DevStack, DevStackConfig
from migration_app.migration.chunks import chunked
from migration_app.migration.spec import default_mapping_path
from migration_app.settings import Settings

RESULTS = Path(__file__).parent / "results" / "files.json"
GOAL_PEAK_RSS_MB = 300
MB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Options:
    customers: int = 1000
    #: customers of the no-files comparison (twelve rounds: 2 strategies x 3 mappings x 2)
    no_files_customers: int = 3000
    files_total_mb: float = 500.0
    file_rate: float = 0.5
    #: a file's size range in KB "MIN:MAX" before the scaling to files_total_mb (None: the
    #: sandbox's 4:4096)
    file_kb: str | None = None
    latency_ms: int = 50
    timeout_s: float = 1800.0
    only: str = ""
    output: Path = RESULTS


# -- pure arithmetic (tests/unit/benchmarks/test_files_bench.py) --------------------------------
def metric_sum(text: str, name: str, labels: str = "") -> float:
    """Sum of a Prometheus text family's samples (optionally those whose labels contain
    ``labels``)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if head.split("{", 1)[0] != name or (labels and labels not in head):
            continue
        with contextlib.suppress(ValueError):
            total += float(value)
    return total


def without_files(mapping_text: str) -> str:
    """The mapping YAML without its ``files:`` section (the code's behaviour before files)."""
    document = yaml.safe_load(mapping_text)
    document.pop("files", None)
    return yaml.safe_dump(document, sort_keys=False)


def before_issue_27(mapping_text: str) -> str:
    """The mapping YAML without files, follow-up objects (e-mails, tasks) and references across
    customers (the account hierarchy): what the mapping held before issue 27."""
    document = yaml.safe_load(mapping_text)
    document.pop("files", None)
    document["objects"] = [o for o in document["objects"] if "extract_by" not in o]
    for obj in document["objects"]:
        refs = [r for r in obj.get("references") or [] if not r.get("across_customers")]
        if "references" in obj:
            obj["references"] = refs
    return yaml.safe_dump(document, sort_keys=False)


def rate(n: float, seconds: float) -> float | None:
    return round(n / seconds, 3) if seconds > 0 else None


# -- the run -----------------------------------------------------------------------------------
@contextlib.contextmanager
def rss_sampler(probe: WorkerProbe, every: float = 0.2) -> Iterator[None]:
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            probe.sample()
            stop.wait(every)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def v1_files(stack: DevStack, ids: list[str]) -> dict[str, dict[str, Any]]:
    """V1 ContentVersion Id -> {size, checksum} of the customers' files (Account and Case)."""
    sf1 = connect(sandbox_login(stack.sf1.url, "v1"))  # type: ignore[union-attr]
    entities = list(ids)
    for chunk in chunked(ids, 200):
        soql = f"SELECT Id FROM Case WHERE AccountId IN ({_in(chunk)})"
        entities += [r["Id"] for r in sf1.query_all(soql)["records"]]
    documents: set[str] = set()
    for chunk in chunked(entities, 200):
        soql = (
            "SELECT ContentDocumentId FROM ContentDocumentLink "
            f"WHERE LinkedEntityId IN ({_in(chunk)})"
        )
        documents |= {r["ContentDocumentId"] for r in sf1.query_all(soql)["records"]}
    out: dict[str, dict[str, Any]] = {}
    for chunk in chunked(sorted(documents), 200):
        soql = (
            "SELECT Id, ContentSize, Checksum FROM ContentVersion "
            f"WHERE ContentDocumentId IN ({_in(chunk)}) AND IsLatest = true"
        )
        for r in sf1.query_all(soql)["records"]:
            out[r["Id"]] = {"size": int(r["ContentSize"]), "checksum": r["Checksum"]}
    return out


def v2_checksums(stack: DevStack, legacy_ids: list[str]) -> dict[str, str]:
    sf2 = connect(sandbox_login(stack.sf2.url, "v2"))  # type: ignore[union-attr]
    out: dict[str, str] = {}
    for chunk in chunked(legacy_ids, 200):
        soql = (
            "SELECT Legacy_Id__c, Checksum FROM ContentVersion "
            f"WHERE Legacy_Id__c IN ({_in(chunk)})"
        )
        out.update({r["Legacy_Id__c"]: r["Checksum"] for r in sf2.query_all(soql)["records"]})
    return out


def _in(ids: Any) -> str:
    return ",".join(f"'{i}'" for i in ids)


def migrate_with_worker(
    stack: DevStack, state_dir: Path, ids: list[str], timeout_s: float, env: dict[str, str]
) -> dict[str, Any]:
    """One worker migrates ``ids``: seconds, statuses, RSS, its /metrics, both orgs' calls."""
    admin1, admin2 = SandboxAdmin(stack.sf1.url), SandboxAdmin(stack.sf2.url)  # type: ignore[union-attr]
    full_env = {**worker_env(stack, state_dir, 200, 0.5), **env}
    settings = Settings.from_env(full_env)
    worker = worker_process(
        full_env,
        web_port=free_port(),
        log_dir=state_dir / f"logs-{len(list(state_dir.glob('logs-*')))}",
        ready_path="/migrations/summary",
    )
    worker.start()
    try:
        probe = WorkerProbe(worker)
        wait_until(probe.consuming, 120, what="the worker to join its group")
        before1, before2 = admin1.stats(), admin2.stats()
        with rss_sampler(probe):
            seconds = migrate_all(settings, ids, timeout_s)
        d1, d2 = stats_delta(before1, admin1.stats()), stats_delta(before2, admin2.stats())
        statuses = probe.summary().get("by_status", {})
        metrics_text = http_text(f"{worker.url}/metrics")
        hwm = probe.vm_hwm()
    finally:
        worker.stop()
    work, health = work_calls(d1, d2)
    return {
        "seconds": seconds,
        "statuses": statuses,
        "peak_rss_mb": round((hwm or probe.peak_rss) / MB, 1),
        "sampled_peak_rss_mb": round(probe.peak_rss / MB, 1),
        "metrics": metrics_text,
        "calls": work,
        "health_calls": health,
        "calls_by_org": {"v1": d1, "v2": d2},
    }


def stack_config(
    opts: Options, state_dir: Path, db_url: str, *, file_rate: float, customers: int | None = None
) -> Any:
    return DevStackConfig(
        broker_port=free_port(),
        registry_port=free_port(),
        sf1_port=free_port(),
        sf2_port=free_port(),
        database_url=db_url,
        state_dir=state_dir,
        customers=customers or opts.customers,
        sandbox_latency_ms=opts.latency_ms,
        sandbox_dirty_rate=0.0,
        sandbox_file_rate=file_rate,
        sandbox_files_total_mb=opts.files_total_mb if file_rate > 0 else None,
        sandbox_file_kb=opts.file_kb if file_rate > 0 else None,
    )


def run_files(opts: Options, root: Path) -> dict[str, Any]:
    state_dir = root / "files"
    with scratch_database(server_database_url()) as db_url:
        config = stack_config(opts, state_dir, db_url, file_rate=opts.file_rate)
        with DevStack(config) as stack:
            ids = SandboxAdmin(stack.sf1.url).customers()  # type: ignore[union-attr]
            files = v1_files(stack, ids)
            total = sum(f["size"] for f in files.values())
            print(f"V1: {len(ids)} customers, {len(files)} files, {total / MB:.0f} MB", flush=True)
            got = migrate_with_worker(stack, state_dir, ids, opts.timeout_s, {})
            checksums = v2_checksums(stack, list(files))
    text = got.pop("metrics")
    file_calls = metric_sum(text, "migration_app_file_api_calls_total")
    handled = metric_sum(text, "migration_app_files_total")
    uploaded = metric_sum(text, "migration_app_file_bytes_uploaded_total")
    identical = sum(1 for v, f in files.items() if checksums.get(v) == f["checksum"])
    return {
        "customers": len(ids),
        "files": len(files),
        "file_mb": round(total / MB, 1),
        "statuses": got["statuses"],
        "seconds": round(got["seconds"], 1),
        "mb_per_s": rate(total / MB, got["seconds"]),
        "customers_per_s": rate(len(ids), got["seconds"]),
        "peak_rss_mb": got["peak_rss_mb"],
        "sampled_peak_rss_mb": got["sampled_peak_rss_mb"],
        "goal_peak_rss_mb": GOAL_PEAK_RSS_MB,
        "goal_met": got["peak_rss_mb"] < GOAL_PEAK_RSS_MB,
        "bytes_uploaded": int(uploaded),
        "files_in_v2_with_v1_checksum": identical,
        "file_api_calls": int(file_calls),
        "file_api_calls_per_file": per(file_calls, int(handled)),
        "file_api_calls_by_kind": {
            kind: int(metric_sum(text, "migration_app_file_api_calls_total", f'kind="{kind}"'))
            for kind in ("download", "upload", "query", "link")
        },
        "all_api_calls": got["calls"],
        "all_api_calls_per_customer": per(got["calls"], len(ids)),
        "all_api_calls_by_org": got["calls_by_org"],
    }


def run_no_files(opts: Options, root: Path) -> dict[str, Any]:
    """Customers without files, per load strategy: the packaged mapping against the mapping
    without ``files:`` and the mapping before issue 27, in alternating rounds on one stack (one
    round in each order), so the order of the runs and the stack warming up weigh on all alike."""
    state_dir = root / "no-files"
    state_dir.mkdir(parents=True, exist_ok=True)
    packaged = default_mapping_path().read_text()
    mappings: dict[str, dict[str, str]] = {"mapping_with_files": {}}
    for name, shape in (
        ("mapping_without_files", without_files),
        ("mapping_before_issue_27", before_issue_27),
    ):
        path = state_dir / f"{name}.yaml"
        path.write_text(shape(packaged))
        mappings[name] = {"MIGRATION_MAPPING_FILE": str(path)}
    variants = {
        f"{strategy}/{name}": {**env, "MIGRATION_LOAD_STRATEGY": strategy}
        for strategy in ("graph", "collections")
        for name, env in mappings.items()
    }
    totals: dict[str, dict[str, Any]] = {
        name: {"customers": 0, "seconds": 0.0, "calls": 0, "rounds": [], "peak_rss_mb": 0.0}
        for name in variants
    }
    with scratch_database(server_database_url()) as db_url:
        config = stack_config(
            opts, state_dir, db_url, file_rate=0.0, customers=opts.no_files_customers
        )
        with DevStack(config) as stack:
            ids = SandboxAdmin(stack.sf1.url).customers()  # type: ignore[union-attr]
            order = list(variants)
            order += list(reversed(order))
            size = len(ids) // len(order)
            for n, name in enumerate(order):
                chunk = ids[n * size : (n + 1) * size]
                got = migrate_with_worker(stack, state_dir, chunk, opts.timeout_s, variants[name])
                text = got.pop("metrics")
                total = totals[name]
                for stage in ("extract", "load", "files"):
                    seconds = metric_sum(
                        text, "migration_app_batch_stage_seconds_sum", f'stage="{stage}"'
                    )
                    total.setdefault("stage_s", {}).setdefault(stage, 0.0)
                    total["stage_s"][stage] = round(total["stage_s"][stage] + seconds, 3)
                total["customers"] += len(chunk)
                total["seconds"] += got["seconds"]
                total["calls"] += got["calls"]
                total["rounds"].append(rate(len(chunk), got["seconds"]))
                total["peak_rss_mb"] = max(total["peak_rss_mb"], got["peak_rss_mb"])
                total.setdefault("statuses", []).append(got["statuses"])
                print(f"{name}: {rate(len(chunk), got['seconds'])} customers/s", flush=True)
    return {
        name: {
            "customers": t["customers"],
            "statuses": t["statuses"],
            "seconds": round(t["seconds"], 1),
            "customers_per_s": rate(t["customers"], t["seconds"]),
            "customers_per_s_by_round": t["rounds"],
            "api_calls_per_customer": per(t["calls"], t["customers"]),
            "peak_rss_mb": t["peak_rss_mb"],
            "batch_stage_seconds": t.get("stage_s", {}),
        }
        for name, t in totals.items()
    }


def print_table(report: dict[str, Any]) -> None:
    rows: list[tuple[str, str]] = []
    if f := report.get("files"):
        rows += [
            ("customers / files / MB", f"{f['customers']} / {f['files']} / {f['file_mb']}"),
            ("MB/s, customers/s", f"{f['mb_per_s']}, {f['customers_per_s']}"),
            ("peak worker RSS (goal < 300 MB)", f"{f['peak_rss_mb']} MB"),
            ("file API calls per file",
             f"{f['file_api_calls_per_file']} {f['file_api_calls_by_kind']}"),
            ("all API calls per customer", str(f["all_api_calls_per_customer"])),
            ("files in V2 with V1's Checksum", f"{f['files_in_v2_with_v1_checksum']}/{f['files']}"),
            ("statuses", str(f["statuses"])),
        ]  # fmt: skip
    for name, r in (report.get("no_files") or {}).items():
        rows.append(
            (
                f"no files, {name}",
                f"{r['customers_per_s']} customers/s, {r['api_calls_per_customer']} calls/customer",
            )
        )
    width = max((len(n) for n, _ in rows), default=0)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="benchmarks.files", description=__doc__)
    p.add_argument("--customers", type=int, default=1000)
    p.add_argument("--no-files-customers", type=int, default=3000)
    p.add_argument("--files-total-mb", type=float, default=500.0)
    p.add_argument("--file-rate", type=float, default=0.5)
    p.add_argument("--file-kb", default=None, metavar="MIN:MAX")
    p.add_argument("--latency-ms", type=int, default=50)
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--only", choices=("files", "no_files"), default="")
    p.add_argument("--output", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    return Options(
        customers=a.customers,
        no_files_customers=a.no_files_customers,
        files_total_mb=a.files_total_mb,
        file_rate=a.file_rate,
        file_kb=a.file_kb,
        latency_ms=a.latency_ms,
        timeout_s=a.timeout,
        only=a.only,
        output=a.output,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    root = Path(tempfile.mkdtemp(prefix="migration-bench-files-"))
    started = datetime.now(UTC)
    result: dict[str, Any] = {}
    try:
        if opts.only in ("", "files"):
            result["files"] = run_files(opts, root)
        if opts.only in ("", "no_files"):
            result["no_files"] = run_no_files(opts, root)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(root)
    report = {
        "benchmark": "files",
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "config": {
            k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(opts).items()
        },
        "machine": machine_info(),
        **result,
    }
    write_json(opts.output, report)
    print_table(report)
    print(f"written to {opts.output}")
    files = result.get("files")
    return 0 if files is None or files["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
