"""The watchdog finds a leaking health check: the Python twin of the Go registry-check bug.

The check below is written the wrong way on purpose: a new ClientSession per call with no timeout,
never closed, and ``asyncio.wait(..., timeout=...)``, which stops waiting but does not cancel the
request. Against a server that accepts connections and never answers, every run leaves one task
(and two sockets) behind, as the Go client left two goroutines per probe.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

import aiohttp

from migration_app.ops import metrics
from migration_app.ops.health import CheckRegistry
from migration_app.ops.observability import install
from tests.integration.observability.support import (
    TOKEN,
    SilentServer,
    free_port,
    make_app,
    obs_settings,
    running_web,
)

AUTH = {"Authorization": f"Bearer {TOKEN}"}
# a directory: save outputs for the README "Operating it" section
CAPTURE = os.environ.get("MIGRATION_OBS_CAPTURE")


class LeakyRegistryCheck:
    """How NOT to write a health check (see module docstring)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sessions: list[aiohttp.ClientSession] = []
        self.requests: list[asyncio.Task[Any]] = []

    async def __call__(self) -> None:
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        self.sessions.append(session)

        async def fetch_subjects() -> aiohttp.ClientResponse:
            return await session.get(f"{self.url}/subjects")

        request = asyncio.create_task(fetch_subjects())
        self.requests.append(request)
        done, _ = await asyncio.wait({request}, timeout=0.05)  # gives up, does not cancel
        if not done:
            raise TimeoutError("schema registry did not answer within 0.05s")

    async def cleanup(self) -> None:
        for task in self.requests:
            task.cancel()
        await asyncio.gather(*self.requests, return_exceptions=True)
        for session in self.sessions:
            await session.close()


async def until(predicate, deadline: float, step: float = 0.05):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        value = predicate()
        if value:
            return value
        assert loop.time() < end, "condition not met before the deadline"
        await asyncio.sleep(step)


def save(name: str, text: str) -> None:
    if CAPTURE:
        Path(CAPTURE).mkdir(parents=True, exist_ok=True)
        Path(CAPTURE, name).write_text(text)


async def test_watchdog_names_the_leaking_stack(tmp_path: Path, silent: SilentServer) -> None:
    settings = obs_settings(health_cache_ttl=0.05, watchdog_interval=0.2, watchdog_window=5)
    checks = CheckRegistry()
    app = make_app(tmp_path, free_port())
    obs = install(app, settings, checks)
    checks.unregister("kafka")  # no broker here; this test is about the registry check
    leaky = LeakyRegistryCheck(silent.url)
    checks.register("registry", leaky, critical=False)

    async with running_web(app) as base, aiohttp.ClientSession() as http:
        await obs.start()
        try:

            async def get(path: str, **kw: Any) -> tuple[int, str]:
                async with http.get(base + path, **kw) as resp:
                    return resp.status, await resp.text()

            _, before = await get("/health")
            save("health-before.json", json.dumps(json.loads(before), indent=2))

            async def probe_forever() -> None:  # an uptime checker that never stops
                while True:
                    await get("/health")
                    await asyncio.sleep(0.02)

            prober = asyncio.create_task(probe_forever())
            # growth must persist over watchdog_windows consecutive windows
            window_seconds = (
                settings.watchdog_interval * settings.watchdog_window * settings.watchdog_windows
            )
            try:

                def tasks_leak() -> Any:
                    # fds may qualify a window before tasks do (seen on a loaded CI machine):
                    # wait for the verdict this test is about, the growing task count
                    verdict = obs.watchdog.verdict
                    grew = {g.name for g in verdict.grew}
                    return verdict if verdict.suspect and "tasks" in grew else None

                verdict = await until(tasks_leak, deadline=window_seconds + 3.0)
            finally:
                prober.cancel()
                await asyncio.gather(prober, return_exceptions=True)

            leaking = [g for g in verdict.groups if "fetch_subjects" in g.summary(depth=99)]
            assert leaking, verdict.describe()
            top = leaking[0]
            functions = [f.function for f in top.stack]
            assert functions[-1].endswith("LeakyRegistryCheck.__call__.<locals>.fetch_subjects")
            assert "aiohttp.client.ClientSession._request" in functions
            assert top.delta >= 5
            assert "tasks" in {g.name for g in verdict.grew}

            status, after = await get("/health")
            doc = json.loads(after)
            assert status == 200 and doc["status"] == "DEGRADED"
            tops = [s["top"] for s in doc["leak_suspect"]["stacks"]]
            assert top.stack[0].function in tops
            assert doc["tasks"] > json.loads(before)["tasks"] + 5
            assert "migration_app_leak_suspect 1.0" in metrics.generate_latest().decode()

            _, tasks_text = await get("/debug/pprof/tasks?debug=1", headers=AUTH)
            groups = tasks_text.split("\n\n")
            leak_block = next(g for g in groups if "fetch_subjects" in g)
            count = re.search(r"^(\d+) @ ", leak_block, re.MULTILINE)
            assert count is not None and int(count.group(1)) >= top.last  # still growing
            save("health-after.json", json.dumps(doc, indent=2))
            save("tasks-debug1.txt", tasks_text)
            save("verdict.txt", verdict.describe())
        finally:
            await obs.stop()
            await leaky.cleanup()
