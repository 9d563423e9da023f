"""Undo a customer: delete from V2 what this project created for it (the worker runs this for a
ROLLBACK event, so state, audit and result event follow the same order as a migration)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

from migration_app.audit.records import LedgerEntry
from migration_app.contracts.customer_status import CustomerStatus
from migration_app.migration.chunks import chunked
from migration_app.migration.issues import ERROR, WARNING, Issue
from migration_app.migration.spec import MappingSpec
from migration_app.rollback.plan import plan_rollback
from migration_app.worker.pipeline import CustomerOutcome, MigrationRequest

MAX_DELETE_IDS = 200  # sObject Collections delete: at most 200 ids per call
ALREADY_GONE = "ENTITY_IS_DELETED"


class Ledger(Protocol):
    async def ledger_for(self, customer_ids: Sequence[str]) -> list[dict[str, Any]]: ...


class DeletingOrg(Protocol):
    async def delete_collection(self, ids: Sequence[str]) -> list[dict[str, Any]]: ...


async def roll_back(
    requests: Sequence[MigrationRequest], spec: MappingSpec, ledger: Ledger, target: DeletingOrg
) -> list[CustomerOutcome]:
    """One outcome per request: ROLLED_BACK when every created record is gone, else FAILED
    with the records that could not be deleted (the ledger keeps what was, so a retry resumes)."""
    started = time.time()
    ids = [r.customer_id for r in requests]
    plans = plan_rollback(await ledger.ledger_for(ids), spec, ids)
    outcomes = []
    for request in requests:
        plan = plans[request.customer_id]
        outcome = CustomerOutcome(
            request=request, status=CustomerStatus.ROLLED_BACK, started_at=started
        )
        for code, kept_records, why in (
            (
                "KEPT_UPDATED",
                plan.keep_updated,
                "existed before the migration (updated, not created): left in V2",
            ),
            (
                "KEPT_UNCERTAIN",
                plan.keep_uncertain,
                "was found in V2 after an interrupted attempt: it may have been created by "
                "this migration; left in V2, delete it by hand if it was",
            ),
        ):
            for kept in kept_records:
                source = _v1_object(spec, kept.object)
                message = f"{kept.object} {kept.v2_id} {why}"
                outcome.issues.append(Issue(WARNING, source, kept.legacy_id, None, code, message))
        for chunk in chunked(plan.delete, MAX_DELETE_IDS):
            results = await target.delete_collection([r.v2_id for r in chunk])
            for record, result in zip(chunk, results, strict=True):
                errors = result.get("errors") or []
                codes = [e.get("statusCode") or e.get("errorCode") for e in errors]
                if result.get("success") or codes == [ALREADY_GONE]:
                    outcome.records.append(
                        LedgerEntry(record.object, record.legacy_id, record.v2_id, "deleted")
                    )
                    outcome.counts[record.object] = outcome.counts.get(record.object, 0) + 1
                    continue
                for error in errors:
                    outcome.fail(
                        f"{record.object} {record.v2_id}: {error.get('statusCode')}",
                        Issue(
                            ERROR,
                            _v1_object(spec, record.object),
                            record.legacy_id,
                            None,
                            str(error.get("statusCode") or error.get("errorCode") or "UNKNOWN"),
                            str(error.get("message", "")),
                        ),
                    )
        if outcome.status != CustomerStatus.FAILED:
            for version in plan.with_documents:  # gone with their ContentDocument
                outcome.records.append(
                    LedgerEntry(version.object, version.legacy_id, version.v2_id, "deleted")
                )
        outcome.finished_at = time.time()
        outcomes.append(outcome)
    return outcomes


def _v1_object(spec: MappingSpec, v2_object: str) -> str:
    """The V1 name of a V2 object for an issue (files keep theirs: ContentVersion, ...)."""
    try:
        return spec.by_target(v2_object).source
    except KeyError:
        return v2_object
