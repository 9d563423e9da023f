"""A customer's state, asked over HTTP from the worker that owns it (the state view,
``state_views.py``), and its last audit run: the work behind `status`; `rollback` polls
``worker_state``."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from migration_app.audit.errors import AuditUnavailable
from migration_app.audit.store import AuditStore
from migration_app.client_config import audit_config
from migration_app.settings import Settings


async def status_report(settings: Settings, customer_id: str) -> dict[str, Any]:
    """The owning worker's table entry (through the web view) and the last audit run."""
    report: dict[str, Any] = {
        "customer_id": customer_id,
        **await worker_state(settings, customer_id),
    }
    store = AuditStore(audit_config(settings, pool_max=1))
    try:
        await store.start()
        report["last_run"] = await store.last_run(customer_id)
    except AuditUnavailable as exc:
        report["audit_error"] = str(exc)
    finally:
        await store.close()
    return report


async def worker_state(settings: Settings, customer_id: str) -> dict[str, Any]:
    """``{"state": ...}`` from the worker that owns the customer, or ``state_error`` saying why
    not (HTTP only: pollers such as `rollback` need no database connection per poll)."""
    report: dict[str, Any] = {}
    url = f"http://{settings.web_host}:{settings.web_port}/migrations/{customer_id}"
    timeout = aiohttp.ClientTimeout(total=5, connect=2)
    headers = {"Accept": "application/json"}
    if token := console_token(settings):
        headers["Authorization"] = f"Bearer {token}"
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=headers) as response,
        ):
            body = json.loads(await response.text() or "{}")
            report["http_status"] = response.status
            report["state"] = body if response.status == 200 else None
            if response.status != 200:
                report["state_error"] = body.get("error", f"HTTP {response.status}")
    except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
        report["state"] = None
        report["state_error"] = f"worker not reachable at {url}: {type(exc).__name__}"
    return report


def console_token(settings: Settings) -> str:
    """The token the state view asks for (customer data): the read token, else the operator's
    (the part after ``name:`` when tokens are named)."""
    for raw in (settings.console_read_token.reveal(), settings.operator_token.reveal()):
        first = raw.split(",")[0].strip()
        if first:
            return first.partition(":")[2] or first
    return ""
