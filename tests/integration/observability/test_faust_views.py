"""install() on a real faust.App: the views through Faust's own aiohttp web server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from migration_app.health import CheckRegistry
from migration_app.observability import install
from tests.integration.observability.support import (
    TOKEN,
    free_port,
    make_app,
    obs_settings,
    running_web,
)

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def ok() -> None:
    return None


async def test_health_views_metrics_and_guarded_debug(tmp_path: Path) -> None:
    app = make_app(tmp_path, free_port())
    checks = CheckRegistry()
    checks.register("database", ok)
    obs = install(app, obs_settings(), checks)
    timeout = aiohttp.ClientTimeout(total=10)
    async with running_web(app) as base, aiohttp.ClientSession(timeout=timeout) as http:
        await obs.start()
        try:
            # kafka: the app's producer is not started (no broker in this test) -> DOWN, 503
            async with http.get(f"{base}/health") as resp:
                doc = await resp.json()
                assert resp.status == 503
            assert doc["status"] == "DOWN"
            assert doc["database"]["status"] == "UP"
            assert doc["kafka"]["status"] == "DOWN"
            assert "NotReady" in doc["kafka"]["error"]
            assert doc["tasks"] > 0 and doc["threads"] > 0 and doc["open_fds"] > 0
            async with http.get(f"{base}/health/ready") as resp:
                ready = await resp.json()
                assert resp.status == 503
            assert "kafka is DOWN" in ready["problems"]
            async with http.get(f"{base}/health/live") as resp:
                assert resp.status == 200
                assert (await resp.json())["status"] == "UP"

            async with http.get(f"{base}/metrics") as resp:
                text = await resp.text()
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/plain; version=")
            assert 'migration_app_health_check_up{dependency="kafka"} 0.0' in text
            assert 'migration_app_health_check_up{dependency="database"} 1.0' in text
            assert "migration_app_asyncio_tasks " in text

            async with http.get(f"{base}/debug/pprof/tasks?debug=1") as resp:
                assert resp.status == 401
            async with http.get(
                f"{base}/debug/pprof/tasks?debug=1", headers={"Authorization": "Bearer x"}
            ) as resp:
                assert resp.status == 401
            async with http.get(f"{base}/debug/pprof/", headers=AUTH) as resp:
                assert resp.status == 200
                assert "tasks?debug=1" in await resp.text()
            async with http.get(f"{base}/debug/pprof/tasks?debug=1", headers=AUTH) as resp:
                body = await resp.text()
                assert resp.status == 200
            assert body.startswith("task profile: total ")
            assert "migration_app.debug.looplag.LoopLagMonitor._run" in body
            async with http.get(f"{base}/debug/pprof/threads", headers=AUTH) as resp:
                body = await resp.text()
            assert '"MainThread" [event loop]' in body

            async def profile(seconds: str) -> tuple[int, str]:
                url = f"{base}/debug/pprof/profile?seconds={seconds}&format=speedscope"
                async with http.get(url, headers=AUTH) as resp:
                    return resp.status, await resp.text()

            first = asyncio.create_task(profile("0.5"))
            await asyncio.sleep(0.1)
            assert (await profile("0.1"))[0] == 409
            status, body = await first
            assert status == 200 and '"type": "sampled"' in body
        finally:
            await obs.stop()


async def test_debug_views_are_404_without_a_token(tmp_path: Path) -> None:
    app = make_app(tmp_path, free_port())
    install(app, obs_settings(debug_token=""), CheckRegistry())
    async with running_web(app) as base, aiohttp.ClientSession() as http:
        for path in ("/debug/pprof/", "/debug/pprof/tasks", "/debug/pprof/heap"):
            async with http.get(base + path, headers=AUTH) as resp:
                assert resp.status == 404, path
