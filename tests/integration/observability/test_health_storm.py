"""The proof against the seed service's bug (a health check with no timeout): the app from
``build(settings)`` with its REAL checks and clients (registry, both Salesforce orgs, the audit
store, the Kafka check) points at servers that accept TCP connections and never answer a byte;
a probe storm comes from another process, and nothing piles up."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys
from collections import Counter
from pathlib import Path

from migration_app.app import build
from migration_app.ops.process import process_stats
from migration_app.settings import Secret, Settings
from tests.integration.observability.support import SilentServer, free_port, running_web

REPO = str(Path(__file__).resolve().parents[3])
CHECK_TIMEOUT = 0.5
TTL = 0.2
REQUESTS = 2000
CONCURRENCY = 100
SF_WORKERS = 2  # each org's bounded executor: its threads are reused, never one per probe
TIMED_OUT = f"timed out after {CHECK_TIMEOUT:g}s (cancelled)"
DEPENDENCIES = ("sf1", "sf2", "registry", "database", "kafka")


async def settled(baseline, margin: dict[str, int], deadline: float = 30.0):  # type: ignore[no-untyped-def]
    """Poll until tasks/threads/fds are back within ``margin`` of ``baseline``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        now = process_stats()
        over = {
            k: (getattr(baseline, k), getattr(now, k))
            for k in margin
            if getattr(now, k) > getattr(baseline, k) + margin[k]
        }
        if not over or loop.time() > end:
            return now, over
        await asyncio.sleep(0.1)  # polling process counters: there is no event to wait on


def hanging_settings(servers: dict[str, SilentServer], data_dir: Path) -> Settings:
    host, port = servers["database"].address
    broker_host, broker_port = servers["kafka"].address
    base = Settings(dev_mode=True).with_dev_defaults()
    return dataclasses.replace(
        base,
        registry_url=servers["registry"].url,
        sf1=dataclasses.replace(base.sf1, url=servers["sf1"].url),
        sf2=dataclasses.replace(base.sf2, url=servers["sf2"].url),
        database_url=Secret(f"postgresql://audit:audit-pw@{host}:{port}/audit"),
        broker_url=f"kafka://{broker_host}:{broker_port}",
        web_port=free_port(),
        web_bind="127.0.0.1",
        data_dir=str(data_dir),
        health_check_timeout=CHECK_TIMEOUT,
        health_cache_ttl=TTL,
        monitor_enabled=False,
        watchdog_interval=10,  # production cadence: this test is about /health
        # the clients' own bounds, shorter than production so the test drains quickly
        sf_connect_timeout=1.0,
        sf_read_timeout=1.0,
        sf_max_workers=SF_WORKERS,
        database_timeout=1.0,
    )


async def test_2000_probes_against_hanging_dependencies_leave_nothing_behind(
    tmp_path: Path,
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        servers = {name: await stack.enter_async_context(SilentServer()) for name in DEPENDENCIES}
        components = build(hanging_settings(servers, tmp_path))
        assert {c.name for c in components.checks.checks()} == set(DEPENDENCIES)
        obs, runtime = components.observability, components.runtime
        # the web views and the runtime's real clients; the Faust consumer and producer are not
        # started (no broker answers), so the kafka check meets a producer that is not ready
        base = await stack.enter_async_context(running_web(components.app))
        await runtime.start()
        stack.push_async_callback(runtime.stop)
        await obs.start()
        stack.push_async_callback(obs.stop)

        async def storm(n: int, concurrency: int) -> tuple[Counter[str], float]:
            """Probes from another process, so the client's CPU is not on this loop."""
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.integration.observability.loadgen",
                f"{base}/health",
                str(n),
                str(concurrency),
                stdout=asyncio.subprocess.PIPE,
                cwd=REPO,
            )
            out, _ = await asyncio.wait_for(proc.communicate(), 300)  # hang guard only
            assert proc.returncode == 0
            result = json.loads(out)
            assert result["statuses"] == {"503 DOWN": n}  # every probe answered
            assert len(result["latencies"]) == n
            return Counter(result["reasons"]), result["elapsed"]

        await storm(CONCURRENCY, CONCURRENCY)  # warm-up: executor threads, imports, caches
        await settled(process_stats(), {"open_fds": 0, "tasks": 0}, deadline=10)
        baseline = process_stats()
        runs_before = obs.health.aggregator.runs
        accepted_before = {name: s.accepted for name, s in servers.items()}
        reasons, elapsed = await storm(REQUESTS, CONCURRENCY)
        accepted = {name: s.accepted - accepted_before[name] for name, s in servers.items()}
        runs = obs.health.aggregator.runs - runs_before
        # a hanging login pins an executor thread until the client's read timeout; the pools
        # are bounded, so at most SF_WORKERS more threads per org than the warm-up left
        after, over = await settled(
            baseline, {"tasks": 3, "threads": 2 * SF_WORKERS, "open_fds": 5}
        )
        open_connections = {name: s.open_connections for name, s in servers.items()}

    print(
        f"\n{REQUESTS} /health calls, {CONCURRENCY} concurrent, in {elapsed:.2f}s; {runs} check "
        f"runs; accepted connections {accepted}; baseline {baseline}, after {after}; "
        f"reasons {dict(reasons)}"
    )
    # every answer names every dependency DOWN, the hanging HTTP ones with the timeout
    by_dependency: dict[str, Counter[str]] = {name: Counter() for name in DEPENDENCIES}
    for reason, count in reasons.items():
        name, status, error = reason.split(" ", 2)
        assert status == "DOWN", reason
        by_dependency[name][error] += count
    assert {name: c.total() for name, c in by_dependency.items()} == dict.fromkeys(
        DEPENDENCIES, REQUESTS
    )
    for name in ("sf1", "sf2", "registry"):
        assert set(by_dependency[name]) == {TIMED_OUT}, (name, by_dependency[name])
    # the audit pool cannot be created against a silent server: the check says why, at once
    assert set(by_dependency["database"]) <= {
        TIMED_OUT,
        "AuditError: audit store is not started",
    }, by_dependency["database"]
    assert all("NotReady" in error for error in by_dependency["kafka"]), by_dependency["kafka"]

    assert over == {}, f"not back to baseline: {over}"
    # single flight + TTL: one run per dependency per TTL window at most (a window is TTL plus
    # the check's time, so elapsed / TTL over-counts them), never one per probe
    windows = elapsed / TTL + 1
    assert runs <= len(DEPENDENCIES) * windows, (runs, windows)
    assert all(n <= windows + 2 for n in accepted.values()), (accepted, windows)
    assert sum(open_connections.values()) <= len(DEPENDENCIES) * 2, open_connections
