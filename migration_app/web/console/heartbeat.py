"""This worker's heartbeat in the audit database (``console_worker``): its consumer lag, the
counts of the partitions it owns and its API allocation, every few seconds. The overview reads
every worker's row: that is how one worker's console sees the whole cluster."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mode import Service

import migration_app.audit.console_queries as queries
from migration_app.audit.errors import AuditError
from migration_app.contracts.schemas import CUSTOMER_TOPIC
from migration_app.ops import faust_introspection
from migration_app.web.console.base import Console

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
                    lag=local_lag(console),
                    by_status=console.counts.by_status(),
                    api=api_allocation(console),
                )
        except (AuditError, TimeoutError) as exc:
            log.warning("console heartbeat not written: %s", type(exc).__name__)


def local_lag(console: Console) -> dict[str, int]:
    """Consumer lag of this worker's customer-topic partitions, keyed ``topic:partition``."""
    lag = faust_introspection.consumer_lag(console.app)
    return {f"{t}:{p}": n for (t, p), n in lag.items() if t == CUSTOMER_TOPIC}


def api_allocation(console: Console) -> dict[str, dict[str, int]]:
    """Each org's API calls used and allowed, as its client last saw them."""
    out = {}
    for org, client in (("sf1", console.runtime.sf1), ("sf2", console.runtime.sf2)):
        if client.api_used is not None and client.api_max is not None:
            out[org] = {"used": client.api_used, "max": client.api_max}
    return out
