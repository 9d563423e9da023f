"""Faust web views: /migrations/ (HTML overview), /migrations/summary, /migrations/{customer_id}."""

from __future__ import annotations

import asyncio
import html
import logging
from typing import Any

import aiohttp
import faust
from faust.exceptions import NotReady
from faust.types import TableT
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable

from migration_app.audit_errors import AuditError
from migration_app.compat import faust_internals
from migration_app.runtime import Runtime
from migration_app.state_summary import summarize

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


def register(app: faust.App, migration_state: TableT, runtime: Runtime) -> None:
    """/migrations/ (HTML), /migrations/summary (JSON) and /migrations/{id} (table-routed)."""

    @app.page("/migrations/summary")
    class SummaryView(View):
        """Counts by status of the customers this worker owns (JSON, for scripts and `dev`)."""

        async def get(self, request: Request) -> Response:
            return self.json(summarize(migration_state.values()))

    @app.page("/migrations/{customer_id}")
    class MigrationView(View):
        """A customer's migration state, answered by the worker that owns its partition."""

        async def get(self, request: Request, customer_id: str) -> Response:
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

    @app.page("/migrations/")
    class OverviewView(View):
        """A small HTML page: counts by status, throughput, recent failures with their errors."""

        async def get(self, request: Request) -> Response:
            summary = summarize(migration_state.values())
            failures: list[dict] = []
            note = ""
            try:
                failures = await asyncio.wait_for(runtime.audit.recent_failures(20), timeout=2.0)
            except (AuditError, TimeoutError, RuntimeError) as exc:
                note = f"audit database unavailable: {html.escape(type(exc).__name__)}"
            return self.html(_render(summary, failures, note))


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


def _render(summary: dict, failures: list[dict], note: str) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(status)}</td><td>{count}</td></tr>"
        for status, count in summary["by_status"].items()
    )
    failure_rows = "".join(
        f"<tr><td><a href='/migrations/{esc(f['customer_id'])}'>{esc(f['customer_id'])}</a></td>"
        f"<td>{f.get('attempt', '')}</td><td>{esc(str(f.get('finished_at', '')))}</td>"
        f"<td>{esc(str(f.get('error') or ''))}</td></tr>"
        for f in failures
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>migration-app</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px 8px}}
table{{border-collapse:collapse;margin-bottom:1.5em}}</style></head><body>
<h1>Customer migrations</h1>
<p>{summary["total"]} customers on this worker; {summary["throughput_per_s"]}/s over the last
minute; {summary["warnings"]} warnings, {summary["errors"]} errors.
(<a href="/migrations/summary">JSON</a>, <a href="/health">health</a>,
<a href="/metrics">metrics</a>)</p>
<table><tr><th>status</th><th>customers</th></tr>{rows}</table>
<h2>Recent failures</h2>{f"<p>{note}</p>" if note else ""}
<table><tr><th>customer</th><th>attempt</th><th>finished</th><th>error</th></tr>
{failure_rows}</table></body></html>"""
