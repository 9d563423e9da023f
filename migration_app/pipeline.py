"""Migrate a batch of customers: extract from V1, transform, upsert into V2.

One SOQL (with child subqueries) extracts the whole batch; the transform is the pure domain in
``migration/``; the load shares sObject Collections upserts across the batch's customers, parents
before children. Whole-call transient failures propagate (the caller retries the batch: upserts by
external id make that safe); per-record failures make their customer FAILED.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from migration_app.customer_status import CustomerStatus
from migration_app.migration.customer_transform import CustomerPlan, transform_customer
from migration_app.migration.issues import ERROR, Issue
from migration_app.migration.plan import UpsertChunk, chunked, plan_upserts
from migration_app.migration.salesforce_ids import is_salesforce_id
from migration_app.migration.spec import MappingSpec
from migration_app.salesforce_errors import TRANSIENT_RECORD_ERRORS, SalesforceTransientError

EXTRACT_IDS_PER_QUERY = 200


class SourceOrg(Protocol):
    async def query_all(self, soql: str) -> list[dict[str, Any]]: ...


class TargetOrg(Protocol):
    async def upsert_collection(
        self, sobject: str, external_id_field: str, records: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class MigrationRequest:
    customer_id: str
    correlation_id: str
    attempt: int
    dry_run: bool = False


@dataclass
class CustomerOutcome:
    """What happened to one customer in one attempt: state, audit rows and result event."""

    request: MigrationRequest
    status: CustomerStatus
    started_at: float
    finished_at: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    v2_account_id: str | None = None
    error: str | None = None

    @property
    def customer_id(self) -> str:
        return self.request.customer_id

    def fail(self, error: str, issue: Issue | None = None) -> None:
        self.status = CustomerStatus.FAILED
        self.error = self.error or error
        if issue is not None:
            self.issues.append(issue)


class MigrationPipeline:
    """Extract -> transform -> load for a batch; I/O only through the two org clients."""

    def __init__(
        self,
        spec: MappingSpec,
        source: SourceOrg,
        target: TargetOrg,
        *,
        load_concurrency: int = 4,
        chunk_size: int = 200,
    ) -> None:
        self.spec = spec
        self.source = source
        self.target = target
        self._load_slots = asyncio.Semaphore(load_concurrency)
        self._chunk_size = chunk_size

    async def migrate(self, requests: Sequence[MigrationRequest]) -> list[CustomerOutcome]:
        started = time.time()
        outcomes = [
            CustomerOutcome(request=r, status=CustomerStatus.IN_PROGRESS, started_at=started)
            for r in requests
        ]
        records = await self._extract([o for o in outcomes if o.status != CustomerStatus.FAILED])
        plans: dict[str, CustomerPlan] = {}
        for outcome in outcomes:
            if outcome.status == CustomerStatus.FAILED:
                continue
            record = records.get(outcome.customer_id[:15])
            if record is None:
                outcome.fail(
                    f"customer {outcome.customer_id} not found in V1",
                    Issue(
                        ERROR,
                        "Account",
                        outcome.customer_id,
                        None,
                        "CUSTOMER_NOT_FOUND",
                        "no V1 Account with this Id",
                    ),
                )
                continue
            plan = transform_customer(self.spec, record)
            outcome.issues.extend(plan.issues)
            outcome.rejected = dict(plan.rejected)
            if plan.account_rejected:
                outcome.fail("the V1 Account cannot be migrated: " + _first_error(plan))
            elif outcome.request.dry_run:
                outcome.status = CustomerStatus.DRY_RUN
                outcome.counts = {o: len(r) for o, r in plan.records_by_object.items() if r}
            else:
                plans[outcome.customer_id] = plan
        by_customer = {o.customer_id: o for o in outcomes}
        await self._load(list(plans.values()), by_customer)
        finished = time.time()
        for outcome in outcomes:
            if outcome.status == CustomerStatus.IN_PROGRESS:
                outcome.status = CustomerStatus.COMPLETED
            outcome.finished_at = finished
        return outcomes

    async def _extract(self, outcomes: Sequence[CustomerOutcome]) -> dict[str, dict[str, Any]]:
        ids = []
        for outcome in outcomes:
            if is_salesforce_id(outcome.customer_id):
                ids.append(outcome.customer_id)
            else:
                outcome.fail(
                    f"invalid customer id {outcome.customer_id!r}",
                    Issue(
                        ERROR,
                        "Account",
                        outcome.customer_id,
                        None,
                        "INVALID_ID",
                        "customer_id is not a Salesforce Id",
                    ),
                )
        if not ids:
            return {}
        # One query per EXTRACT_IDS_PER_QUERY ids: the SOQL travels in a GET URL, and URLs are
        # bounded (Salesforce ~16 KB; 200 ids take ~6 KB).
        pages = await asyncio.gather(
            *(
                self.source.query_all(self.spec.extract_soql(chunk))
                for chunk in chunked(sorted(set(ids)), EXTRACT_IDS_PER_QUERY)
            )
        )
        return {row["Id"][:15]: row for rows in pages for row in rows}

    async def _load(self, plans: list[CustomerPlan], outcomes: dict[str, CustomerOutcome]) -> None:
        chunks = plan_upserts(plans, self.spec, max_batch=self._chunk_size)
        levels: dict[int, list[UpsertChunk]] = defaultdict(list)
        for chunk in chunks:
            levels[chunk.level].append(chunk)
        for level in sorted(levels):
            live = [c for c in (self._without_failed(c, outcomes) for c in levels[level]) if c]
            await asyncio.gather(*(self._upsert(chunk, outcomes) for chunk in live))

    @staticmethod
    def _without_failed(
        chunk: UpsertChunk, outcomes: dict[str, CustomerOutcome]
    ) -> UpsertChunk | None:
        """Children of a customer that already failed are not loaded (their parent is missing)."""
        keep = [
            i
            for i, cid in enumerate(chunk.customer_ids)
            if outcomes[cid].status != CustomerStatus.FAILED
        ]
        if len(keep) == len(chunk.records):
            return chunk
        if not keep:
            return None
        return UpsertChunk(
            object=chunk.object,
            external_id_field=chunk.external_id_field,
            records=tuple(chunk.records[i] for i in keep),
            customer_ids=tuple(chunk.customer_ids[i] for i in keep),
            level=chunk.level,
        )

    async def _upsert(self, chunk: UpsertChunk, outcomes: dict[str, CustomerOutcome]) -> None:
        async with self._load_slots:
            results = await self.target.upsert_collection(
                chunk.object, chunk.external_id_field, chunk.records
            )
        source_object = self.spec.by_target(chunk.object).source
        root = self.spec.root.target
        transient = []
        for record, customer_id, result in zip(
            chunk.records, chunk.customer_ids, results, strict=True
        ):
            outcome = outcomes[customer_id]
            if result.get("success"):
                outcome.counts[chunk.object] = outcome.counts.get(chunk.object, 0) + 1
                if chunk.object == root:
                    outcome.v2_account_id = result.get("id")
                continue
            for error in result.get("errors") or [{"statusCode": "UNKNOWN", "message": "failed"}]:
                code = error.get("statusCode") or error.get("errorCode") or "UNKNOWN"
                if code in TRANSIENT_RECORD_ERRORS:
                    transient.append(code)
                fields = error.get("fields") or []
                outcome.fail(
                    f"{chunk.object} {record[chunk.external_id_field]}: {code}",
                    Issue(
                        ERROR,
                        source_object,
                        record[chunk.external_id_field],
                        ",".join(fields) or None,
                        code,
                        error.get("message", ""),
                    ),
                )
        if transient:
            raise SalesforceTransientError(
                f"record errors worth retrying: {sorted(set(transient))}"
            )


def _first_error(plan: CustomerPlan) -> str:
    errors = plan.errors
    return f"{errors[0].code}: {errors[0].message}" if errors else "rejected"
