"""`migration-app rollback`: print what would be deleted; with --yes ask the workers to roll the
customers back (a ROLLBACK event, so the owning worker serialises it with migrations and writes
state, audit and result event in the usual order) and wait for each to finish."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from migration_app.audit.store import AuditStore
from migration_app.client_config import audit_config
from migration_app.contracts.customer_status import CustomerStatus
from migration_app.contracts.events import ROLLBACK
from migration_app.migration.salesforce_ids import is_salesforce_id
from migration_app.migration.spec import load_mapping
from migration_app.rollback.plan import plan_rollback
from migration_app.settings import Settings
from migration_app.web.state_client import worker_state
from migration_app.worker.publisher import publish

POLL_S = 1.0


async def run_rollback(
    settings: Settings, customer_ids: list[str], *, execute: bool, wait_s: float = 300.0
) -> tuple[bool, str]:
    ids = list(dict.fromkeys(customer_ids))
    if not ids:
        return False, "rollback: give customer ids"
    invalid = [i for i in ids if not is_salesforce_id(i)]
    if invalid:
        return False, f"rollback: not Salesforce Account ids: {', '.join(invalid[:10])}"
    spec = load_mapping(settings.mapping_file or None)
    store = AuditStore(audit_config(settings, pool_max=1))
    await store.start()
    try:
        plans = plan_rollback(await store.ledger_for(ids), spec, ids)
    finally:
        await store.close()
    lines = []
    for cid in ids:
        plan = plans[cid]
        gone = plan.delete + plan.with_documents  # a file's versions go with its document
        by_object = Counter(r.object for r in gone)
        lines.append(
            f"{cid}: delete {len(gone)} record(s) "
            f"({', '.join(f'{o} {n}' for o, n in by_object.items()) or 'none'})"
            + (
                f"; keep {len(plan.keep_updated)} updated, not created:"
                if plan.keep_updated
                else ""
            )
        )
        lines += [
            f"    keep {r.object} {r.v2_id} (legacy {r.legacy_id})" for r in plan.keep_updated
        ]
        if plan.keep_uncertain:
            lines.append(
                f"  keep {len(plan.keep_uncertain)} found after an interrupted attempt (perhaps "
                "created by it; check and delete by hand):"
            )
            lines += [
                f"    keep {r.object} {r.v2_id} (legacy {r.legacy_id})" for r in plan.keep_uncertain
            ]
    if not execute:
        lines.append("dry run: nothing deleted (add --yes to roll back)")
        return True, "\n".join(lines)
    before: dict[str, int] = {}
    refused = []
    for cid in ids:
        report = await worker_state(settings, cid)
        if report.get("http_status") in (401, 403):
            lines.append(
                f"cannot read customer states from the worker ({report.get('state_error')}): "
                "set MIGRATION_CONSOLE_READ_TOKEN (or MIGRATION_OPERATOR_TOKEN) to a token the "
                "worker accepts; nothing was rolled back"
            )
            return False, "\n".join(lines)
        state = report.get("state") or {}
        if state.get("status") == CustomerStatus.IN_PROGRESS:
            refused.append(cid)
            lines.append(f"{cid}: REFUSED: being migrated right now; try again when it finishes")
        else:
            before[cid] = int(state.get("attempt") or 0)
    finals: dict[str, dict[str, Any] | None] = {}
    if before:
        await publish(
            settings, list(before), action=ROLLBACK, requested_by="migration-app rollback"
        )
        finals = await _wait_finished(settings, before, wait_s)
        for cid, state in finals.items():
            status = state.get("status", "unknown") if state else "not finished in time"
            lines.append(
                f"{cid}: {status}"
                + (f" ({state.get('last_error')})" if state and state.get("last_error") else "")
            )
    rolled_back = all(
        (s or {}).get("status") == CustomerStatus.ROLLED_BACK for s in finals.values()
    )
    ok = not refused and rolled_back
    return ok, "\n".join(lines)


async def _wait_finished(
    settings: Settings, before: dict[str, int], wait_s: float
) -> dict[str, dict[str, Any] | None]:
    """Poll each customer's state (from its owning worker) until a newer attempt finished."""
    deadline = time.monotonic() + wait_s
    finals: dict[str, dict[str, Any] | None] = dict.fromkeys(before)
    while time.monotonic() < deadline and any(v is None for v in finals.values()):
        for cid in [c for c, v in finals.items() if v is None]:
            state = (await worker_state(settings, cid)).get("state") or {}
            if int(state.get("attempt") or 0) > before[cid] and state.get("status") not in (
                CustomerStatus.IN_PROGRESS,
                CustomerStatus.PENDING,
            ):
                finals[cid] = state
        if any(v is None for v in finals.values()):
            await asyncio.sleep(POLL_S)  # polling interval of a deadline loop, not a sync wait
    return finals
