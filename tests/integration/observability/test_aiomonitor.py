"""aiomonitor of a real worker against the session dev stack: a telnet session runs ``ps``,
``health`` (the app's real checks), ``tasks-top``, ``leaks`` and ``migration`` (the real audit
lookup, ``runtime.audit.customer_report``: last run and verdict); in-process, the monitor of
the app from ``build()`` stops without leaving its thread behind."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
import uuid
from pathlib import Path

from migration_app.app import build
from migration_app.audit.records import RunRecord
from migration_app.audit.store import AuditStore
from migration_app.client_config import audit_config
from migration_app.settings import Settings
from tests.integration.observability.support import TelnetSession, free_port

PROMPT = "monitor >>> "
DEPENDENCIES = ("sf1", "sf2", "database", "registry", "kafka")


def _json_in(out: str) -> dict:
    return json.loads(out[out.index("{") : out.rindex("}") + 1])


async def write_audit_run(settings: Settings, customer_id: str) -> RunRecord:
    """One audit row through the real AuditStore, for the monitor's `migration` to find."""
    now = time.time()
    run = RunRecord(
        customer_id=customer_id,
        attempt=3,
        status="FAILED",
        correlation_id=f"corr-{customer_id}",
        started_at=now - 5,
        finished_at=now,
        worker="obs-test",
        error="sf2: HTTP 400 INVALID_FIELD",
    )
    store = AuditStore(audit_config(settings, pool_max=1))
    await store.start()
    try:
        await store.record_runs([run])
    finally:
        await store.close()
    return run


async def test_telnet_ui_runs_our_commands_on_a_real_worker(devstack, start_worker) -> None:  # type: ignore[no-untyped-def]
    customer_id = f"001OBS{uuid.uuid4().hex[:12].upper()}"  # not a seeded customer: no events
    run = await write_audit_run(Settings.from_env(devstack.env()), customer_id)
    port = free_port()
    start_worker(MIGRATION_MONITOR_PORT=str(port))  # ready: /health/ready answered 200
    session = await TelnetSession.connect("127.0.0.1", port)
    try:
        intro = await session.read_until(PROMPT)
        assert "Asyncio Monitor:" in intro

        ps = await session.command("ps", "Task ID", PROMPT)
        assert "Task ID" in ps and "loop-lag-monitor" in ps

        doc = _json_in(await session.command("health", "rss_bytes", PROMPT))
        assert doc["status"] == "UP", doc
        for name in DEPENDENCIES:
            assert doc[name]["status"] == "UP", (name, doc[name])
        assert doc["tasks"] > 0

        top = await session.command("tasks-top -n 3", "task profile", PROMPT)
        assert "task profile: total " in top
        assert " @ " in top

        leaks = _json_in(await session.command("leaks", "suspect", PROMPT))
        assert leaks["suspect"] is False

        out = await session.command(f"migration {customer_id}", "customer_id", PROMPT)
        found = _json_in(out)
        assert found["customer_id"] == customer_id
        assert found["state"] is None  # never enqueued: nothing in the table
        assert found["audit"]["verification"] is None  # never verified
        audit = found["audit"]["last_run"]
        assert (audit["customer_id"], audit["attempt"], audit["status"]) == (
            customer_id,
            run.attempt,
            run.status,
        )
        assert audit["correlation_id"] == run.correlation_id
        assert audit["error"] == run.error

        missing = _json_in(await session.command("migration 001NOAUDIT", "customer_id", PROMPT))
        assert missing == {
            "customer_id": "001NOAUDIT",
            "state": None,
            "audit": {"last_run": None, "verification": None},
        }
    finally:
        await session.close()


def _settings(tmp_path: Path, monitor_port: int) -> Settings:
    return dataclasses.replace(
        Settings(dev_mode=True).with_dev_defaults(),
        web_port=free_port(),
        data_dir=str(tmp_path),
        monitor_enabled=True,
        monitor_port=monitor_port,
        monitor_webui_port=free_port(),
        monitor_console_port=free_port(),
        watchdog_interval=0.2,
    )


async def test_the_apps_monitor_stops_without_leaving_its_thread(tmp_path: Path) -> None:
    port = free_port()
    obs = build(_settings(tmp_path, port)).observability
    threads_before = {t.ident for t in threading.enumerate()}
    await asyncio.wait_for(obs.start(), 30)
    try:
        assert obs.monitor is not None
        session = await TelnetSession.connect("127.0.0.1", port)
        try:
            assert "Asyncio Monitor:" in await session.read_until(PROMPT)
        finally:
            await session.close()
    finally:
        await asyncio.wait_for(obs.stop(), 30)

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
        obs = build(_settings(tmp_path, port)).observability
        await asyncio.wait_for(obs.start(), 10)
        try:
            assert obs.monitor is None
        finally:
            await obs.stop()
    finally:
        blocker.close()
        await blocker.wait_closed()
