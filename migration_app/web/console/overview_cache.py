"""The overview's data, shared by its page, its live fragment and its JSON: one snapshot of the
audit queries, reused for ``OVERVIEW_TTL`` seconds, so refreshing browsers cost one query set."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import migration_app.audit.console_queries as queries
from migration_app.audit.errors import AuditError
from migration_app.audit.store import AuditStore
from migration_app.ops.health import Health

OVERVIEW_TTL = 2.0  # seconds an overview is reused
DEPENDENCIES = ("sf1", "sf2", "database", "registry", "kafka")


class OverviewCache:
    """The latest overview snapshot (single flight) and the dependencies' health."""

    def __init__(self, audit: AuditStore, health: Health, *, timeout: float) -> None:
        self.audit = audit
        self.health = health
        self.timeout = timeout
        self._overview: tuple[float, queries.Overview] | None = None
        self._overview_lock = asyncio.Lock()
        self._refresh_task: asyncio.Future[queries.Overview] | None = None

    async def snapshot(self) -> queries.Overview:
        """The latest snapshot: a page view never waits on the queries once one exists (an
        expired snapshot is served while one refresh runs in the background), so the overview
        costs the same at 100,000 customers as at 10; the first view waits for the first one."""
        cached = self._overview
        if cached is not None:
            if time.monotonic() - cached[0] >= OVERVIEW_TTL and not self._overview_lock.locked():
                self._refresh_task = asyncio.ensure_future(self._refresh())
            return cached[1]
        return await self._refresh()

    async def _refresh(self) -> queries.Overview:
        async with self._overview_lock:  # single flight
            cached = self._overview
            if cached and time.monotonic() - cached[0] < OVERVIEW_TTL:
                return cached[1]
            try:
                async with asyncio.timeout(self.timeout):
                    result = await queries.overview(self.audit)
            except (AuditError, TimeoutError) as exc:
                result = queries.Overview({}, {}, {}, [0] * 60, [], None, {})
                result.errors.append(f"audit database unavailable ({type(exc).__name__})")
                self._overview = None  # an outage is shown, not a stale picture
                return result
            self._overview = (time.monotonic(), result)
            return result

    async def dependencies(self) -> list[dict[str, Any]]:
        """Each dependency's status from the health report (itself cached)."""
        _, doc = await self.health.report()
        out = []
        for name in DEPENDENCIES:
            entry = doc.get(name) or {}
            out.append(
                {
                    "name": name,
                    "status": entry.get("status", "UNKNOWN"),
                    "latency_ms": entry.get("latency_ms"),
                    "error": entry.get("error"),
                }
            )
        return out
