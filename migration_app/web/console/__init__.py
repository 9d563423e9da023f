"""The operator console: server-rendered Faust web views over the audit database.

``register(...)`` is the one call ``app.build`` makes: it adds the views (``views.py``) and a
service that writes this worker's heartbeat (consumer lag, table counts, API allocation) to the
audit database every few seconds, which is how the overview sees the whole cluster.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from faust.types import TableT
from mode import Service

import migration_app.audit.console_queries as queries
from migration_app.audit.errors import AuditError
from migration_app.ops.health import Health
from migration_app.settings import Settings
from migration_app.web.console.views import Console
from migration_app.web.console.views import register as register_views
from migration_app.worker.runtime import Runtime
from migration_app.worker.state_counts import StateCounts

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 5.0
HEARTBEAT_TIMEOUT = 3.0


class HeartbeatService(Service):
    """Writes ``console_worker`` for this worker; failures are logged, never raised."""

    def __init__(self, console: Console, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.console = console

    @Service.timer(HEARTBEAT_INTERVAL)
    async def _beat(self) -> None:
        await self.beat()

    async def beat(self) -> None:
        console = self.console
        if not console.runtime.audit.started:
            return
        try:
            async with asyncio.timeout(HEARTBEAT_TIMEOUT):
                await queries.heartbeat(
                    console.runtime.audit,
                    worker=console.runtime.worker_name + f":{console.settings.web_port}",
                    url=str(console.app.conf.canonical_url),
                    lag=console.local_lag(),
                    by_status=console.local_summary(),
                    api=console.api_allocation(),
                )
        except (AuditError, TimeoutError) as exc:
            log.warning("console heartbeat not written: %s", type(exc).__name__)


def register(
    app: faust.App,
    settings: Settings,
    table: TableT,
    runtime: Runtime,
    health: Health,
    counts: StateCounts | None = None,
) -> Console:
    """The console's views and heartbeat; call before web.register (route order matters)."""
    console = register_views(app, settings, table, runtime, health, counts)
    app.service(HeartbeatService(console))
    app.service(console.sessions)  # sign-outs shared by the workers
    if settings.console_public and not settings.dev_mode:
        log.warning(
            "MIGRATION_CONSOLE_PUBLIC=true outside dev mode: customer pages are served without "
            "a token; only do this behind the cluster's auth proxy"
        )
    return console
