"""References across customers in the worker (``Account.ParentId``): ask the ledger which
parents are migrated, record what stays pending, and fill pending references when their parent's
customer completes (``migration.cross_references`` has the rules).

Driven by the ledger, never by polling V2. Each batch, after its audit commits:

1. ``record`` (before the runs' audit rows): the batch's COMPLETED customers' pending
   references, in one statement;
2. ``fill`` (after it): one query for the unresolved references whose parent is one of the
   batch's completed customers, or a parent a reference of this batch waits for (a parent that
   completed in another worker while this batch ran: whichever of the two looks last sees the
   other, so none is missed), then one sObject Collections upsert per 200 of them, and one
   statement marking them resolved, or keeping them pending with Salesforce's error (retried on
   later batches, ``MAX_FILL_ATTEMPTS`` times).

A fill that fails never fails the batch: the reference stays listed (console, ``verify``,
``migration-app pending``) with its error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from migration_app.audit import pending_references as store_refs
from migration_app.audit.errors import AuditError
from migration_app.contracts.customer_status import CustomerStatus
from migration_app.migration.chunks import chunked
from migration_app.migration.spec import MappingSpec
from migration_app.salesforce.errors import SalesforcePermanentError, SalesforceTransientError

log = logging.getLogger(__name__)

UPSERTS_PER_CALL = 200


class TargetOrg(Protocol):
    async def upsert_collection(
        self, sobject: str, external_id_field: str, records: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]: ...


class Outcome(Protocol):
    customer_id: str
    status: CustomerStatus
    pending_references: list[Any]
    written_references: list[Any]


class CrossCustomerReferences:
    def __init__(
        self, audit: store_refs.Store, target: TargetOrg, spec: MappingSpec | None
    ) -> None:
        self.audit = audit
        self.target = target
        self.root_object = spec.root.target if spec is not None else ""
        #: the mapping has a reference across customers (else every call here is a no-op)
        self.enabled = spec is not None and any(r.across_customers for r in spec.root.references)

    async def migrated_parents(self, ids: list[str]) -> set[str]:
        """For the pipeline: which of these V1 root ids the ledger holds as migrated. The audit
        database down is a transient failure of the batch (retried like a Salesforce one)."""
        try:
            return await store_refs.migrated_parents(self.audit, self.root_object, ids)
        except AuditError as exc:
            raise SalesforceTransientError(f"ledger lookup of parent accounts: {exc}") from exc

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Before the runs' audit: the COMPLETED customers' pending references (the ones of
        customers with any reference across customers: one statement, none without)."""
        done = [
            o
            for o in outcomes
            if o.status == CustomerStatus.COMPLETED
            and (o.pending_references or o.written_references)
        ]
        if self.enabled and done:
            refs = [r for o in done for r in o.pending_references]
            await store_refs.record_pending(self.audit, [o.customer_id for o in done], refs)
        undone = [o.customer_id for o in outcomes if o.status == CustomerStatus.ROLLED_BACK]
        if self.enabled and undone:  # their records are gone from V2: nothing of theirs waits
            await store_refs.forget_customers(self.audit, undone)

    async def fill(self, outcomes: Sequence[Outcome]) -> int:
        """Write the references that can be now; returns how many were written."""
        if not self.enabled:
            return 0
        done = [o for o in outcomes if o.status == CustomerStatus.COMPLETED]
        keys = {o.customer_id for o in done}
        keys |= {r.parent_legacy_id for o in done for r in o.pending_references}
        if not keys:
            return 0
        try:
            rows = await store_refs.resolvable(self.audit, keys)
        except AuditError as exc:
            log.warning("pending references not looked up (%s); later batches retry", exc)
            return 0
        written = 0
        by_object: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in rows:
            by_object.setdefault((row["object"], row["external_id_field"]), []).append(row)
        for (sobject, external_id), items in by_object.items():
            for chunk in chunked(items, UPSERTS_PER_CALL):
                written += await self._fill_chunk(sobject, external_id, list(chunk))
        return written

    async def _fill_chunk(self, sobject: str, external_id: str, rows: list[dict[str, Any]]) -> int:
        records = [
            {
                "attributes": {"type": sobject},
                external_id: row["legacy_id"],
                row["relationship"]: {row["parent_external_id_field"]: row["parent_legacy_id"]},
            }
            for row in rows
        ]
        try:
            results = await self.target.upsert_collection(sobject, external_id, records)
        except (SalesforceTransientError, SalesforcePermanentError) as exc:
            results = [{"success": False, "errors": [{"message": str(exc)}]} for _ in rows]
        marks = []
        for row, result in zip(rows, results, strict=True):
            error = None
            if not result.get("success"):
                errors = result.get("errors") or [{}]
                error = "; ".join(
                    f"{e.get('statusCode') or e.get('errorCode') or 'UNKNOWN'}: "
                    f"{e.get('message', '')}"
                    for e in errors
                )
                log.warning(
                    "pending %s.%s of %s %s not set: %s",
                    sobject,
                    row["relationship"],
                    sobject,
                    row["legacy_id"],
                    error,
                )
            marks.append(
                {
                    "object": row["object"],
                    "legacy_id": row["legacy_id"],
                    "relationship": row["relationship"],
                    "error": error,
                }
            )
        try:
            await store_refs.mark_filled(self.audit, marks)
        except AuditError as exc:  # written in V2 but still listed: the next fill re-writes it
            log.warning("filled references not marked (%s)", exc)
        return sum(1 for m in marks if m["error"] is None)
