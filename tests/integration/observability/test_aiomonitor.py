"""aiomonitor started by the app: a telnet session runs ``ps``, ``health``, ``tasks-top`` and
``leaks``; stopping the app leaves no monitor thread behind."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

from migration_app.health import CheckRegistry
from migration_app.observability import install
from tests.integration.observability.support import (
    TelnetSession,
    free_port,
    make_app,
    obs_settings,
)

PROMPT = "monitor >>> "


async def ok() -> None:
    return None


async def test_telnet_ui_runs_our_commands_and_stops_cleanly(tmp_path: Path) -> None:
    port, webui = free_port(), free_port()
    settings = obs_settings(
        monitor_enabled=True,
        monitor_port=port,
        monitor_webui_port=webui,
        monitor_console_port=free_port(),
    )
    checks = CheckRegistry()
    app = make_app(tmp_path, free_port())

    async def audit(customer_id: str) -> dict[str, object]:
        return {"runs": 2, "customer": customer_id}

    obs = install(app, settings, checks, audit_lookup=audit)
    checks.unregister("kafka")
    checks.register("database", ok)

    threads_before = {t.ident for t in threading.enumerate()}
    await obs.start()
    try:
        assert obs.monitor is not None
        session = await TelnetSession.connect("127.0.0.1", port)
        try:
            intro = await session.read_until(PROMPT)
            assert "Asyncio Monitor:" in intro

            ps = await session.command("ps", "Task ID", PROMPT)
            assert "Task ID" in ps and "loop-lag-monitor" in ps

            out = await session.command("health", "rss_bytes", PROMPT)
            doc = json.loads(out[out.index("{") : out.rindex("}") + 1])
            assert doc["status"] == "UP"
            assert doc["database"]["status"] == "UP"
            assert doc["tasks"] > 0

            top = await session.command("tasks-top -n 3", "task profile", PROMPT)
            assert "task profile: total " in top
            assert " @ " in top

            leaks = await session.command("leaks", "suspect", PROMPT)
            assert '"suspect": false' in leaks

            migration = await session.command("migration 001ABC", "customer_id", PROMPT)
            assert '"state": null' in migration
            assert '"customer": "001ABC"' in migration
        finally:
            await session.close()
    finally:
        await obs.stop()

    leftover = [
        t.name for t in threading.enumerate() if t.ident not in threads_before and t.is_alive()
    ]
    # asyncio.to_thread's executor workers are reused by the loop and stop with it; the
    # monitor's own UI thread must be gone
    assert not [name for name in leftover if not name.startswith("asyncio_")], leftover
    assert obs.monitor is None


async def test_a_taken_port_disables_the_monitor_instead_of_hanging(tmp_path: Path) -> None:
    port = free_port()
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", port)
    try:
        settings = obs_settings(
            monitor_enabled=True,
            monitor_port=port,
            monitor_webui_port=free_port(),
            monitor_console_port=free_port(),
        )
        obs = install(make_app(tmp_path, free_port()), settings, CheckRegistry())
        await asyncio.wait_for(obs.start(), 10)
        try:
            assert obs.monitor is None
        finally:
            await obs.stop()
    finally:
        blocker.close()
        await blocker.wait_closed()
