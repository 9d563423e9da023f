"""The views of a real worker (``migration-app worker``, the app from ``build(settings)``) against
the session dev stack: every dependency check is the app's own, through its own clients."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import aiohttp

from migration_app.app import build
from migration_app.settings import Secret, Settings
from tests.integration.observability.support import free_port, running_web
from tests.support.workers import DEBUG_TOKEN

AUTH = {"Authorization": f"Bearer {DEBUG_TOKEN}"}
DEPENDENCIES = ("sf1", "sf2", "database", "registry", "kafka")


async def until(condition, deadline: float = 30.0, step: float = 0.05):  # type: ignore[no-untyped-def]
    """Await ``condition()`` until it returns something truthy (or fail at the deadline)."""
    async with asyncio.timeout(deadline):
        while True:
            value = await condition()
            if value:
                return value
            await asyncio.sleep(step)  # polling a remote process: no event to wait on


async def test_health_views_metrics_and_guarded_debug(start_worker) -> None:  # type: ignore[no-untyped-def]
    worker = start_worker()  # returns once /health/ready answered 200
    base = worker.url
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async with http.get(f"{base}/health") as resp:
            doc = await resp.json()
            assert resp.status == 200, doc
        assert doc["status"] == "UP"
        for name in DEPENDENCIES:  # the real checks against the real services
            assert doc[name]["status"] == "UP", (name, doc[name])
            assert "error" not in doc[name]
        assert doc["kafka"]["brokers"] >= 1
        assert doc["kafka"]["assigned_partitions"] >= 1
        assert doc["tasks"] > 0 and doc["threads"] > 0 and doc["open_fds"] > 0
        async with http.get(f"{base}/health/ready") as resp:
            ready = await resp.json()
            assert resp.status == 200, ready
        assert ready["problems"] == [] and ready["assigned_partitions"] >= 1
        async with http.get(f"{base}/health/live") as resp:
            assert resp.status == 200
            assert (await resp.json())["status"] == "UP"

        async with http.get(f"{base}/metrics") as resp:
            text = await resp.text()
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain; version=")
        for name in DEPENDENCIES:
            assert f'migration_app_health_check_up{{dependency="{name}"}} 1.0' in text, name
        assert "migration_app_asyncio_tasks " in text
        assert "migration_app_consumer_lag" in text

        async with http.get(f"{base}/debug/pprof/tasks?debug=1") as resp:
            assert resp.status == 401
        async with http.get(
            f"{base}/debug/pprof/tasks?debug=1", headers={"Authorization": "Bearer x"}
        ) as resp:
            assert resp.status == 401
            assert DEBUG_TOKEN not in await resp.text()
        async with http.get(f"{base}/debug/pprof/", headers=AUTH) as resp:
            assert resp.status == 200
            assert "tasks?debug=1" in await resp.text()
        async with http.get(f"{base}/debug/pprof/tasks?debug=1", headers=AUTH) as resp:
            body = await resp.text()
            assert resp.status == 200
        assert body.startswith("task profile: total ")
        assert "migration_app.ops.debug.looplag.LoopLagMonitor._run" in body
        async with http.get(f"{base}/debug/pprof/threads", headers=AUTH) as resp:
            body = await resp.text()
        assert '"MainThread" [event loop]' in body

        async def profile(seconds: str) -> tuple[int, str]:
            # wall mode: an idle worker may have no on-CPU sample at all in 3 s (CPU mode)
            url = f"{base}/debug/pprof/profile?seconds={seconds}&format=speedscope&mode=wall"
            async with http.get(url, headers=AUTH) as resp:
                return resp.status, await resp.text()

        async def sampler_running() -> bool:
            async with http.get(f"{base}/debug/pprof/threads", headers=AUTH) as resp:
                return "sample_stacks" in await resp.text()

        first = asyncio.create_task(profile("3"))
        await until(sampler_running)  # the first profile's sampler thread is in the dump
        assert (await profile("0.1"))[0] == 409
        status, body = await first
        assert status == 200 and '"type": "sampled"' in body


async def test_debug_views_are_404_without_a_token(tmp_path: Path) -> None:
    """The app from build(): without a debug token the views do not exist (nothing to guess)."""
    settings = dataclasses.replace(
        Settings(dev_mode=True).with_dev_defaults(),
        debug_token=Secret(""),
        web_port=free_port(),
        web_bind="127.0.0.1",
        data_dir=str(tmp_path),
        monitor_enabled=False,
    )
    app = build(settings).app
    async with running_web(app) as base, aiohttp.ClientSession() as http:
        for path in ("/debug/pprof/", "/debug/pprof/tasks", "/debug/pprof/heap"):
            async with http.get(base + path, headers=AUTH) as resp:
                assert resp.status == 404, path
        async with http.get(base + "/health/live") as resp:  # the app's views are served
            assert resp.status == 200
