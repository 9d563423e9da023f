"""Faust web views: /migrations/summary and /migrations/{customer_id} (JSON for scripts).

The HTML pages under /migrations/ are the operator console (``migration_app.web.console``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import faust
from faust.exceptions import NotReady
from faust.types import TableT
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable

from migration_app.audit.errors import AuditError
from migration_app.compat import faust_internals
from migration_app.worker.runtime import Runtime
from migration_app.worker.state_counts import StateCounts

log = logging.getLogger(__name__)

#: Routing failures that mean "ask again shortly": no owner known for the partition yet (Faust's
#: ServiceUnavailable), the producer not started, the changelog metadata not loaded in time, or
#: the owning worker unreachable (it is leaving the group). Anything else is a bug: 500 + stack.
ROUTING_UNAVAILABLE: tuple[type[BaseException], ...] = (
    ServiceUnavailable,
    NotReady,
    TimeoutError,
    aiohttp.ClientError,
)
ROUTING_METADATA_TIMEOUT = 2.0


def register(
    app: faust.App,
    migration_state: TableT,
    runtime: Runtime,
    *,
    can_read: Callable[[Request], bool] = lambda request: False,
    counts: StateCounts | None = None,
) -> None:
    """/migrations/summary (JSON, aggregate: open) and /migrations/{id} (table-routed, personal
    data: only for ``can_read`` callers, the console's token rule)."""
    state_counts = counts if counts is not None else StateCounts()

    @app.page("/migrations/summary")
    class SummaryView(View):
        """Counts by status of the customers this worker owns (JSON, for scripts and `dev`):
        kept at each write (``state_counts``), so a call costs the same at any table size."""

        async def get(self, request: Request) -> Response:
            return self.json(state_counts.summary(time.time()))

    @app.page("/migrations/{customer_id}")
    class MigrationView(View):
        """A customer's migration state, answered by the worker that owns its partition."""

        async def get(self, request: Request, customer_id: str) -> Response:
            if not can_read(request):
                return self.json(
                    {"error": "a console token is required (Authorization: Bearer ...)"},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="migration-console"'},
                )
            try:
                await ensure_routing_metadata(app, migration_state)
                return await self._routed(request, customer_id=customer_id)
            except ROUTING_UNAVAILABLE as exc:
                log.info("table route for %s not available yet: %r", customer_id, exc)
                return self.json(
                    {"customer_id": customer_id, "error": "partition assignment in progress"},
                    status=503,
                    headers={"Retry-After": "1"},
                )
            except Exception:
                log.exception("table route for %s failed", customer_id)
                return self.json(
                    {"customer_id": customer_id, "error": "internal error (see worker log)"},
                    status=500,
                )

        @app.table_route(table=migration_state, match_info="customer_id")
        async def _routed(self, request: Request, customer_id: str) -> Response:
            state = migration_state.get(customer_id.encode())
            if state is None:
                return self.json(
                    {"customer_id": customer_id, "error": "unknown customer"}, status=404
                )
            return self.json(
                {**state.asdict(), "verification": await latest_verification(runtime, customer_id)}
            )


async def latest_verification(runtime: Runtime, customer_id: str) -> dict[str, Any] | None:
    """The customer's latest verify verdict, or a note when the audit cannot say right now."""
    try:
        found = await asyncio.wait_for(runtime.audit.latest_verification(customer_id), 2.0)
    except (AuditError, TimeoutError, RuntimeError) as exc:
        return {"verdict": "UNKNOWN", "error": f"audit database unavailable: {type(exc).__name__}"}
    return found or {"verdict": "NOT_VERIFIED"}


async def ensure_routing_metadata(app: faust.App, table: TableT) -> None:
    """table_route hashes the key with the producer's partitioner, which needs the changelog
    topic in the producer's metadata; before the first table write it is not there (and the
    route fails). Asking for its partitions loads it; immediate once known."""
    producer = faust_internals.kafka_producer(app)
    topic = table.changelog_topic.get_topic_name()
    await asyncio.wait_for(producer.partitions_for(topic), timeout=ROUTING_METADATA_TIMEOUT)
