"""The audit reads and writes of ``migration-app resync`` (delta re-sync for the cutover).

- Since when a customer's V1 changes count: the ``started_at`` of its last COMPLETED attempt
  (that attempt read V1 after it started), with its latest status (a ROLLED_BACK customer is no
  longer migrated). Read only for the customers V1 says changed, never for every customer.
- What a resync did: one ``console_action`` row per customer (action ``resync``: enqueued, or
  not, and why) and per record deleted in V1 (``resync: deleted in V1``: reported, deleted,
  kept), shown in the console's action log; the last ``resync`` row of a customer is also how
  the next resync knows it is still waiting for that re-migration.
- A V2 record the resync deleted: a ``deleted`` ledger row (``migration_record``), attached to
  the customer's latest run, so idmap, the console and a rollback see it (a rollback deletes
  nothing that the ledger says is deleted, and restores nothing).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from migration_app.audit.store import AuditStore

#: every customer with a COMPLETED attempt whose latest attempt did not undo it; the earliest
#: baseline is where the change queries start
_MIGRATED_SUMMARY = """
SELECT count(*) AS customers, min(since) AS earliest FROM (
    SELECT (array_agg(started_at ORDER BY attempt DESC)
                FILTER (WHERE status = 'COMPLETED'))[1] AS since,
           (array_agg(status ORDER BY attempt DESC) FILTER (WHERE status <> 'DRY_RUN'))[1] AS latest
    FROM migration_run GROUP BY customer_id
) c
WHERE since IS NOT NULL AND latest <> 'ROLLED_BACK'"""

_BASELINES = """
SELECT customer_id,
       (array_agg(started_at ORDER BY attempt DESC) FILTER (WHERE status = 'COMPLETED'))[1]
           AS since,
       (array_agg(finished_at ORDER BY attempt DESC) FILTER (WHERE status = 'COMPLETED'))[1]
           AS completed_at,
       (array_agg(status ORDER BY attempt DESC) FILTER (WHERE status <> 'DRY_RUN'))[1]
           AS latest_status
FROM migration_run WHERE customer_id = ANY(%(ids)s)
GROUP BY customer_id"""

# console_action_customer_idx (customer_id, at DESC) answers it
_RECENT_RESYNCS = """
SELECT customer_id, max(at) AS at FROM console_action
WHERE customer_id = ANY(%(ids)s) AND action = %(action)s
  AND at > now() - make_interval(secs => %(within)s)
GROUP BY customer_id"""

_RECORD_ACTIONS = """
INSERT INTO console_action (actor, action, customer_id, outcome, detail)
SELECT %(actor)s, x.action, x.customer_id, x.outcome, x.detail
FROM jsonb_to_recordset(%(rows)s::jsonb) AS x(action text, customer_id text, outcome text,
                                                detail text)"""

_RECORD_DELETED = """
INSERT INTO migration_record (run_id, customer_id, object, legacy_id, v2_id, action)
SELECT latest.id, x.customer_id, x.object, x.legacy_id, x.v2_id, 'deleted'
FROM jsonb_to_recordset(%(rows)s::jsonb) AS x(customer_id text, object text, legacy_id text,
                                                v2_id text)
CROSS JOIN LATERAL (
    SELECT r.id FROM migration_run r WHERE r.customer_id = x.customer_id
    ORDER BY r.attempt DESC LIMIT 1
) latest
RETURNING id"""


async def migrated_summary(audit: AuditStore) -> tuple[int, datetime | None]:
    """(customers migrated, the earliest of their baselines): one aggregate over the runs."""
    rows = await audit.fetch(_MIGRATED_SUMMARY)
    row = rows[0] if rows else {"customers": 0, "earliest": None}
    return int(row["customers"] or 0), row["earliest"]


async def baselines(audit: AuditStore, customer_ids: Sequence[str]) -> list[dict[str, Any]]:
    """customer_id, since (last COMPLETED started_at, or None), completed_at, latest_status of
    these customers (those the audit knows)."""
    if not customer_ids:
        return []
    return await audit.fetch(_BASELINES, {"ids": list(customer_ids)})


async def recent_resyncs(
    audit: AuditStore, customer_ids: Sequence[str], action: str, within_s: float
) -> dict[str, datetime]:
    """customer_id -> when a resync last recorded ``action`` for it, within ``within_s``."""
    if not customer_ids or within_s <= 0:
        return {}
    rows = await audit.fetch(
        _RECENT_RESYNCS, {"ids": list(customer_ids), "action": action, "within": within_s}
    )
    return {row["customer_id"]: row["at"] for row in rows}


async def record_actions(audit: AuditStore, actor: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """console_action rows ({action, customer_id, outcome, detail}) in one statement."""
    payload = [dict(row) for row in rows]
    if payload:
        await audit.execute(
            _RECORD_ACTIONS, {"actor": actor, "rows": json.dumps(payload, default=str)}
        )


async def record_deleted(audit: AuditStore, rows: Iterable[Mapping[str, Any]]) -> int:
    """``deleted`` ledger rows ({customer_id, object (V2), legacy_id, v2_id}) in one
    statement, each on its customer's latest run; returns the rows written."""
    payload = [dict(row) for row in rows]
    if not payload:
        return 0
    written = await audit.fetch(_RECORD_DELETED, {"rows": json.dumps(payload)})
    return len(written)
