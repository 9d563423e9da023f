"""The proof against the original bug: every dependency hangs, the probes keep coming, and nothing
piles up. Checks are built the right way: one long-lived client per dependency with an explicit
timeout, created before and closed after."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path

import aiohttp

from migration_app.debug.process import process_stats
from migration_app.health import CheckRegistry, http_check
from migration_app.observability import install
from tests.integration.observability.support import (
    SilentServer,
    free_port,
    make_app,
    obs_settings,
    running_web,
)

REPO = str(Path(__file__).resolve().parents[3])
CHECK_TIMEOUT = 0.5
REQUESTS = 2000
CONCURRENCY = 100


def tcp_check(host: str, port: int, limit: float):  # type: ignore[no-untyped-def]
    """A protocol-level ping (like a PostgreSQL or Kafka handshake) with its own deadline."""

    async def check() -> None:
        async with asyncio.timeout(limit):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(b"ping\n")
                await writer.drain()
                await reader.readexactly(1)
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()

    return check


async def settled(baseline, margin: dict[str, int], deadline: float = 10.0):  # type: ignore[no-untyped-def]
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
        await asyncio.sleep(0.1)


async def test_2000_probes_against_hanging_dependencies_leave_nothing_behind(
    tmp_path: Path,
) -> None:
    # the production watchdog cadence: this test is about /health, not about the watchdog
    settings = obs_settings(
        health_check_timeout=CHECK_TIMEOUT, health_cache_ttl=0.2, watchdog_interval=10
    )
    checks = CheckRegistry()
    app = make_app(tmp_path, free_port())
    obs = install(app, settings, checks)
    async with contextlib.AsyncExitStack() as stack:
        servers = {
            name: await stack.enter_async_context(SilentServer())
            for name in ("sf1", "sf2", "database", "kafka", "registry")
        }
        # one long-lived client per HTTP dependency, explicit connect and total timeouts
        for name in ("sf1", "sf2", "registry"):
            session = await stack.enter_async_context(
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=CHECK_TIMEOUT, connect=CHECK_TIMEOUT),
                    connector=aiohttp.TCPConnector(limit=4),
                )
            )
            checks.register(name, http_check(session, servers[name].url + "/health"))
        for name in ("database", "kafka"):  # replaces install()'s kafka check: no broker here
            checks.register(name, tcp_check(*servers[name].address, CHECK_TIMEOUT))

        base = await stack.enter_async_context(running_web(app))
        await obs.start()
        stack.push_async_callback(obs.stop)

        async def storm(n: int, concurrency: int) -> tuple[list[float], float]:
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
            out, _ = await asyncio.wait_for(proc.communicate(), 120)
            assert proc.returncode == 0
            result = json.loads(out)
            assert result["statuses"] == {"503 DOWN": n}
            return result["latencies"], result["elapsed"]

        await storm(CONCURRENCY, CONCURRENCY)  # warm-up: executor threads, imports, caches
        _, over = await settled(process_stats(), {"open_fds": 0, "tasks": 0}, deadline=5)
        baseline = process_stats()
        runs_before = obs.health.aggregator.runs
        latencies, elapsed = await storm(REQUESTS, CONCURRENCY)
        after, over = await settled(baseline, {"tasks": 3, "threads": 2, "open_fds": 5})

    latencies.sort()
    p50, p99, worst = (
        latencies[len(latencies) // 2],
        latencies[int(len(latencies) * 0.99)],
        latencies[-1],
    )
    runs = obs.health.aggregator.runs - runs_before
    print(
        f"\n{REQUESTS} /health calls, {CONCURRENCY} concurrent, in {elapsed:.2f}s: "
        f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {worst * 1000:.0f} ms; "
        f"{runs} check runs for 5 dependencies; baseline {baseline}, after {after}"
    )
    assert len(latencies) == REQUESTS
    assert worst < 2 * CHECK_TIMEOUT
    assert over == {}, f"not back to baseline: {over}"
    # single flight + TTL: one run per dependency per (TTL + check time) at most, plus one
    cycles = elapsed / settings.health_cache_ttl + 1
    assert runs <= 5 * cycles, (runs, cycles)
    accepted = {name: s.accepted for name, s in servers.items()}
    assert all(n <= cycles + 2 for n in accepted.values()), accepted
