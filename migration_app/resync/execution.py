"""Delta re-sync against the orgs and the audit: find the customers changed in V1 since their
last COMPLETED migration, decide (and, by policy, carry out) what a V1 deletion does to V2, and
record it. The plan is ``resync.plan``; ``resync.command`` enqueues the re-migrations.

API calls: finding the changes is one ``queryAll`` per mapped V1 object per page (plus the
login, and for e-mails and tasks on Cases one per 200 changed Cases' parents), whatever the
number of migrated customers. Deciding deletions (``--deleted delete``)
adds one V2 query for the integration user's Id and one per object per 200 records deleted in
V1, then one sObject Collections delete per 200. Never a call per customer or per record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from migration_app.audit import resync_queries
from migration_app.audit.store import AuditStore
from migration_app.migration.chunks import chunked
from migration_app.migration.spec import MappingSpec
from migration_app.resync.plan import (
    DELETE,
    DELETE_FAILED,
    DELETED_IN_V1_ACTION,
    DELETED_IN_V2,
    KEEP_REPORTED,
    RESYNC_ACTION,
    WOULD_DELETE,
    Baseline,
    ChangedRecord,
    CustomerResync,
    Deletion,
    ResyncPlan,
    baseline_ids,
    change_queries,
    changed_records,
    check_queries,
    deletion_order,
    iso,
    judge_deletions,
    owner_queries,
    owners_of,
    parse_check_rows,
    plan_deletions,
    plan_resync,
    unchecked_objects,
)
from migration_app.salesforce.users import user_id_of

MAX_DELETE_IDS = 200  # sObject Collections delete: at most 200 ids per call
ALREADY_GONE = "ENTITY_IS_DELETED"
MAX_DETAIL_CHARS = 1000  # console_action.detail shown in the console's action log


class QueryOrg(Protocol):
    async def query_all(
        self, soql: str, *, include_deleted: bool = False
    ) -> list[dict[str, Any]]: ...


class DeletingOrg(QueryOrg, Protocol):
    async def delete_collection(self, ids: Sequence[str]) -> list[dict[str, Any]]: ...


@dataclass
class Found:
    """What the change queries found, before any decision about deletions."""

    plan: ResyncPlan
    checked_customers: int  # migrated customers the queries covered
    query_since: datetime | None  # the queries' threshold (None: nobody migrated, no query)
    unchecked: list[str] = field(default_factory=list)  # mapped objects without a root lookup
    find_s: float = 0.0


async def find_changes(
    spec: MappingSpec,
    source: QueryOrg,
    audit: AuditStore,
    *,
    since: datetime | None = None,
    requeue_after_s: float = 3600.0,
) -> Found:
    """The migrated customers with V1 changes after their baseline (``since`` replaces it)."""
    started = time.perf_counter()
    checked, earliest = await resync_queries.migrated_summary(audit)
    query_since = since if since is not None else earliest
    if checked == 0 or query_since is None:
        empty = ResyncPlan(customers=[], not_migrated={})
        return Found(empty, 0, None, unchecked_objects(spec), time.perf_counter() - started)
    queries = change_queries(spec, query_since)
    answers = await asyncio.gather(
        *(source.query_all(soql, include_deleted=True) for _, soql in queries)
    )
    by_object = list(zip((obj for obj, _ in queries), answers, strict=True))
    lookups = owner_queries(spec, by_object)
    parents = await asyncio.gather(
        *(source.query_all(soql, include_deleted=True) for _, soql in lookups)
    )
    owners = owners_of(zip((lookup for lookup, _ in lookups), parents, strict=True))
    changes = changed_records(spec, by_object, owners)
    rows = await resync_queries.baselines(audit, baseline_ids(changes))
    baselines = [Baseline(r["customer_id"], r["since"], r["latest_status"]) for r in rows]
    migrated = [b.customer_id for b in baselines if b.migrated]
    queued = await resync_queries.recent_resyncs(audit, migrated, RESYNC_ACTION, requeue_after_s)
    plan = plan_resync(changes, baselines, since=since, queued=queued)
    return Found(plan, checked, query_since, unchecked_objects(spec), time.perf_counter() - started)


async def decide_deletions(
    spec: MappingSpec,
    plan: ResyncPlan,
    audit: AuditStore,
    target: QueryOrg | None,
    *,
    policy: str,
    integration_username: str | None,
) -> list[Deletion]:
    """What happens to each record deleted in V1 (the ledger, then V2 for those we created)."""
    deleted = plan.deleted_records()
    if not deleted:
        return []
    ledger = await audit.ledger_for(list(dict.fromkeys(c.customer_id for c, _ in deleted)))
    deletions = plan_deletions(spec, deleted, ledger)
    if policy != DELETE or target is None:
        for deletion in deletions:
            if deletion.decision == WOULD_DELETE:
                deletion.decision = KEEP_REPORTED
        return deletions
    queries = check_queries(deletions)
    if queries:
        user_id = await user_id_of(target, integration_username)
        answers = await asyncio.gather(*(target.query_all(soql) for _, soql in queries))
        judge_deletions(deletions, parse_check_rows(r for rows in answers for r in rows), user_id)
    return deletions


async def apply_deletions(
    spec: MappingSpec, deletions: Sequence[Deletion], target: DeletingOrg
) -> None:
    """Delete the deletable V2 records, children first, ≤ 200 per call; each decision becomes
    DELETED_IN_V2 (already gone counts: ENTITY_IS_DELETED) or DELETE_FAILED with the codes."""
    for chunk in chunked(deletion_order(spec, deletions), MAX_DELETE_IDS):
        results = await target.delete_collection([d.v2_id for d in chunk if d.v2_id])
        for deletion, result in zip(chunk, results, strict=True):
            errors = result.get("errors") or []
            codes = [str(e.get("statusCode") or e.get("errorCode") or "UNKNOWN") for e in errors]
            if result.get("success") or codes == [ALREADY_GONE]:
                deletion.decision = DELETED_IN_V2
            else:
                deletion.decision = DELETE_FAILED
                deletion.detail = "; ".join(
                    f"{c}: {e.get('message', '')}" for c, e in zip(codes, errors, strict=True)
                )


async def record(
    audit: AuditStore,
    plan: ResyncPlan,
    deletions: Sequence[Deletion],
    enqueued: Sequence[str],
    *,
    actor: str,
) -> int:
    """The ledger rows of what was deleted, and the action log: one row per customer enqueued
    (or deleted in V1: nothing to enqueue) with what changed, and one per record deleted in V1.
    The next resync takes a customer's last ``resync`` row for "already handled". Returns the
    ledger rows written."""
    written = await resync_queries.record_deleted(
        audit,
        (
            {
                "customer_id": d.customer_id,
                "object": d.target,
                "legacy_id": d.record.v1_id,
                "v2_id": d.v2_id,
            }
            for d in deletions
            if d.decision == DELETED_IN_V2
        ),
    )
    queued = set(enqueued)
    rows: list[dict[str, Any]] = []
    for customer in plan.customers:
        # a customer whose enqueue failed gets no row: the next resync must take it again
        handled = customer.customer_id in queued or customer.root_deleted
        if customer.queued_at is not None or not handled:
            continue
        outcome = "enqueued" if customer.customer_id in queued else resync_outcome(customer)
        rows.append(
            {
                "action": RESYNC_ACTION,
                "customer_id": customer.customer_id,
                "outcome": outcome,
                "detail": _clip(
                    "V1 changes: " + "; ".join(_change_text(c) for c in customer.changes)
                ),
            }
        )
    for deletion in deletions:
        rows.append(
            {
                "action": DELETED_IN_V1_ACTION,
                "customer_id": deletion.customer_id,
                "outcome": "deleted" if deletion.decision == DELETED_IN_V2 else "warning",
                "detail": _clip(deletion_text(deletion)),
            }
        )
    await resync_queries.record_actions(audit, actor, rows)
    return written


def resync_outcome(
    customer: CustomerResync, *, enqueued: bool = False, dry_run: bool = False
) -> str:
    """What the resync does with the customer, in words."""
    if customer.queued_at is not None:
        return f"already handled by the resync of {iso(customer.queued_at)}, not migrated since"
    if customer.root_deleted:
        return "not enqueued: the customer was deleted in V1"
    if dry_run:
        return "would be enqueued (dry run)"
    return "enqueued" if enqueued else "not enqueued"


def deletion_text(deletion: Deletion) -> str:
    record = deletion.record
    text = f"{record.object} {record.v1_id} deleted in V1 at {iso(record.system_modstamp)}"
    where = f"V2 {deletion.target} {deletion.v2_id}" if deletion.v2_id else "V2"
    detail = f" ({deletion.detail})" if deletion.detail else ""
    return f"{text}; {where}: {deletion.decision}{detail}"


def _change_text(change: ChangedRecord) -> str:
    return f"{change.object} {change.v1_id} {change.change} at {iso(change.system_modstamp)}"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 1] + "…"
