"""`python -m devstack.sandbox --org v1|v2 ...`: run one org until SIGTERM/SIGINT.

Prints ``SANDBOX READY http://host:port org=... username=... password=****`` (flushed) once it
listens; with ``--port 0`` the kernel picks the port and this line is how to learn it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from .config import SandboxConfig
from .cost_model import CostModel, parse_record_ms
from .runner import start_sandbox


def _int_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition(":")
    return int(low), int(high or low)


def _float_range(text: str) -> tuple[float, float]:
    low, _, high = text.partition(":")
    return float(low), float(high or low)


def parse_args(argv: list[str] | None) -> SandboxConfig:
    p = argparse.ArgumentParser(
        prog="python -m devstack.sandbox",
        description="Local Salesforce REST API sandbox (one org).",
    )
    p.add_argument("--org", choices=("v1", "v2"), default="v1")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help="default 8101 (v1) / 8102 (v2); 0 picks a free port (see the READY line)",
    )
    p.add_argument("--customers", type=int, default=None, help="default 200 (v1) / 0 (v2)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--username")
    p.add_argument("--password")
    p.add_argument("--security-token")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p.add_argument("--dirty-rate", type=float, default=0.05)
    p.add_argument(
        "--state-dir",
        default=None,
        help="where the org keeps the files' bytes (files/); default: a temporary directory",
    )
    p.add_argument("--file-rate", type=float, default=0.2, help="V1: customers with files")
    p.add_argument(
        "--files-per-customer", type=_int_range, default=(1, 3), metavar="MIN:MAX", help="V1"
    )
    p.add_argument(
        "--file-kb",
        type=_float_range,
        default=(4.0, 4096.0),
        metavar="MIN:MAX",
        help="V1: a file's size in KB, log-uniform (default 4:4096)",
    )
    p.add_argument(
        "--files-total-mb",
        type=float,
        default=None,
        help="V1: scale the files' sizes so they weigh this many MB in all",
    )
    p.add_argument("--task-rate", type=float, default=0.6, help="V1: customers with Tasks")
    p.add_argument("--email-rate", type=float, default=0.35, help="V1: Cases with e-mails")
    p.add_argument(
        "--site-rate",
        type=float,
        default=0.05,
        help="V1 seed: share of customers that are sites of another (Account.ParentId)",
    )
    p.add_argument("--api-daily-max", type=int, default=100_000)
    p.add_argument("--client-id", default="sandbox-client-id", help="External Client App key")
    p.add_argument("--client-secret", default="sandbox-client-secret")
    p.add_argument("--jwt-cert", default=None, help="PEM certificate/public key: enables JWT")
    p.add_argument("--soap-login", choices=("enabled", "disabled"), default="enabled")
    p.add_argument("--per-record-ms", type=float, default=0.0, help="server time per record saved")
    p.add_argument(
        "--fail-records",
        action="append",
        default=[],
        metavar="OBJ=RATE[:CODE[:FIELD]]",
        help="e.g. Contact=0.1:FIELD_CUSTOM_VALIDATION_EXCEPTION:Email (repeatable)",
    )
    p.add_argument(
        "--duplicate-rule", action="append", default=[], metavar="OBJ.FIELD", help="repeatable"
    )
    p.add_argument(
        "--set-audit-fields",
        choices=("enabled", "disabled"),
        default=None,
        help='"Set Audit Fields upon Record Creation" (audit fields createable on a POST create, '
        "never on an upsert); default: v2 only",
    )
    p.add_argument(
        "--allow-inactive-owners",
        action="store_true",
        help='"Update Records with Inactive Owners": accept an inactive OwnerId',
    )
    p.add_argument(
        "--allow-hierarchy-loops",
        action="store_true",
        help="sandbox only: accept an Account.ParentId loop (A -> B -> A); Salesforce refuses it",
    )
    d = CostModel()
    c = p.add_argument_group("org cost model (docs/orgs.md: Org cost model)")
    c.add_argument(
        "--cost-model",
        action="store_true",
        help="charge server time: request overhead, time per record, Bulk API 2.0 batches",
    )
    c.add_argument("--request-overhead-ms", type=float, default=d.request_overhead_ms)
    c.add_argument(
        "--record-ms",
        action="append",
        default=[],
        metavar="OBJ=MS",
        help="server time per record of an object (repeatable; defaults in docs/orgs.md)",
    )
    c.add_argument("--other-record-ms", type=float, default=d.other_record_ms)
    c.add_argument(
        "--automation-multiplier",
        type=float,
        default=d.automation_multiplier,
        help="triggers/flows: multiplies the time per record",
    )
    c.add_argument("--long-request-limit", type=int, default=d.long_request_limit)
    c.add_argument(
        "--long-request-s",
        type=float,
        default=d.long_request_s,
        help="a request running this long counts against --long-request-limit (always on)",
    )
    c.add_argument("--bulk-parallel-batches", type=int, default=d.bulk_parallel_batches)
    c.add_argument("--bulk-batch-overhead-ms", type=float, default=d.bulk_batch_overhead_ms)
    c.add_argument("--bulk-job-start-ms", type=float, default=d.bulk_job_start_ms)
    a = p.parse_args(argv)
    cost = CostModel(
        enabled=a.cost_model,
        request_overhead_ms=a.request_overhead_ms,
        record_ms=parse_record_ms(tuple(a.record_ms)),
        other_record_ms=a.other_record_ms,
        automation_multiplier=a.automation_multiplier,
        long_request_limit=a.long_request_limit,
        long_request_s=a.long_request_s,
        bulk_parallel_batches=a.bulk_parallel_batches,
        bulk_batch_overhead_ms=a.bulk_batch_overhead_ms,
        bulk_job_start_ms=a.bulk_job_start_ms,
    )
    return SandboxConfig(
        org=a.org,
        host=a.host,
        port=a.port,
        customers=a.customers,
        seed=a.seed,
        username=a.username,
        password=a.password,
        security_token=a.security_token,
        latency_ms=a.latency_ms,
        jitter_ms=a.jitter_ms,
        dirty_rate=a.dirty_rate,
        site_rate=a.site_rate,
        state_dir=a.state_dir,
        file_rate=a.file_rate,
        files_per_customer=a.files_per_customer,
        file_kb=a.file_kb,
        files_total_mb=a.files_total_mb,
        task_rate=a.task_rate,
        email_rate=a.email_rate,
        api_daily_max=a.api_daily_max,
        client_id=a.client_id,
        client_secret=a.client_secret,
        jwt_cert=a.jwt_cert,
        soap_login=a.soap_login == "enabled",
        per_record_ms=a.per_record_ms,
        fail_records=tuple(a.fail_records),
        duplicate_rules=tuple(a.duplicate_rule),
        set_audit_fields=None if a.set_audit_fields is None else a.set_audit_fields == "enabled",
        allow_inactive_owners=a.allow_inactive_owners,
        allow_hierarchy_loops=a.allow_hierarchy_loops,
        cost_model=cost,
    ).resolved()


async def serve(config: SandboxConfig) -> None:
    """Serve until SIGTERM or SIGINT, then stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sandbox = await start_sandbox(config)
    try:
        print(
            # The URL first (the port actually bound: --port 0 lets the kernel pick), flushed:
            # a supervisor reads this line instead of sleeping or pre-picking a port.
            f"SANDBOX READY {sandbox.url} org={config.org} username={config.username} "
            "password=****",
            flush=True,
        )
        await stop.wait()
    finally:
        await sandbox.stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def main(argv: list[str] | None = None) -> int:
    try:
        config = parse_args(argv)
        asyncio.run(serve(config))
    except (OSError, ValueError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
