"""The state views, JSON for scripts: ``/summary`` (counts, open) and ``/{customer_id}`` (a
customer's table state, answered by the worker that owns it; personal data, so only for callers
with a console token). ``web.routes`` mounts them under /migrations/, after the console.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from faust.web import Blueprint, Request, Response

from migration_app.audit.errors import AuditError
from migration_app.ops.faust_introspection import app_state
from migration_app.web.console.base import ConsoleView
from migration_app.web.table_routing import ROUTING_UNAVAILABLE, at_owner
from migration_app.worker.runtime import Runtime

log = logging.getLogger(__name__)

blueprint = Blueprint("state")


@blueprint.route("/summary", name="summary")
class SummaryView(ConsoleView):
    """Counts by status of the customers this worker owns (JSON, for scripts and `dev`):
    kept at each write (``state_counts``), so a call costs the same at any table size.

    ``rebalancing`` / ``recovering`` say why the counts may cover fewer partitions than usual
    (none at all during a rebalance: a script polling the total saw it drop to 0 and back)."""

    async def get(self, request: Request) -> Response:
        state = app_state(self.console.app)
        return self.json(
            {
                **self.console.counts.summary(time.time()),
                "rebalancing": state.rebalancing,
                "recovering": state.recovering,
            }
        )


@blueprint.route("/{customer_id}", name="customer")
class MigrationView(ConsoleView):
    """A customer's migration state, answered by the worker that owns its partition."""

    async def get(self, request: Request, customer_id: str) -> Response:
        if not self.console.can_read(request):
            return self.json(
                {"error": "a console token is required (Authorization: Bearer ...)"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="migration-console"'},
            )
        try:
            return await at_owner(
                self, request, self.console.table, customer_id, lambda: self._owned(customer_id)
            )
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

    async def _owned(self, customer_id: str) -> Response:
        """On the owner (this worker, or the one a request was forwarded to)."""
        state = self.console.table.get(customer_id.encode())
        if state is None:
            return self.json({"customer_id": customer_id, "error": "unknown customer"}, status=404)
        verification = await latest_verification(self.console.runtime, customer_id)
        return self.json({**state.asdict(), "verification": verification})


async def latest_verification(runtime: Runtime, customer_id: str) -> dict[str, Any] | None:
    """The customer's latest verify verdict, or a note when the audit cannot say right now."""
    try:
        found = await asyncio.wait_for(runtime.audit.latest_verification(customer_id), 2.0)
    except (AuditError, TimeoutError, RuntimeError) as exc:
        return {"verdict": "UNKNOWN", "error": f"audit database unavailable: {type(exc).__name__}"}
    return found or {"verdict": "NOT_VERIFIED"}
