"""Migrate a batch of customers: extract from V1, transform, upsert into V2.

One SOQL (with child subqueries) extracts the whole batch; the transform is the pure domain in
``migration/``. Two load strategies (``MIGRATION_LOAD_STRATEGY``):

* ``graph`` (default): one Composite Graph per customer, graphs packed into as few requests as
  the limits allow, requests sent concurrently. A graph commits or rolls back as a whole, so a
  customer is complete in V2 or absent. Graphs Salesforce did not process (``PROCESSING_HALTED``
  after 14 failed graphs) are resent.
* ``collections``: sObject Collections upserts shared across the batch's customers, parents
  before children, ``allOrNone`` false. Fewer constraints, no atomicity: a customer whose
  Contact fails keeps its Account in V2.

Whole-call transient failures propagate (the caller retries the batch: upserts by external id
make that safe); per-record failures make their customer FAILED.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from migration_app.audit.records import LedgerEntry
from migration_app.contracts.customer_status import CustomerStatus
from migration_app.migration.chunks import chunked
from migration_app.migration.collections_plan import UpsertChunk, plan_upserts
from migration_app.migration.customer_transform import CustomerPlan, transform_customer
from migration_app.migration.graph_plan import (
    CustomerGraph,
    GraphNode,
    GraphRequest,
    customer_graph,
    fits_one_graph,
    pack_requests,
)
from migration_app.migration.issues import CREATED_DATE_NOT_SET, ERROR, WARNING, Issue
from migration_app.migration.load_options import LoadOptions
from migration_app.migration.reference_rules import ReferenceData
from migration_app.migration.salesforce_ids import is_salesforce_id
from migration_app.migration.spec import MappingSpec
from migration_app.ops import metrics
from migration_app.salesforce.errors import TRANSIENT_RECORD_ERRORS, SalesforceTransientError

EXTRACT_IDS_PER_QUERY = 200
HALTED = "PROCESSING_HALTED"
NOT_ATOMIC = "NOT_ATOMIC"
INVALID_FOR_UPDATE = "INVALID_FIELD_FOR_INSERT_UPDATE"
#: audit fields the mapping may set on insert (Salesforce: "Set Audit Fields upon Record
#: Creation"); an upsert that finds the record already in V2 is an update, which refuses them
AUDIT_FIELDS = frozenset({"CreatedDate"})


class SourceOrg(Protocol):
    async def query_all(self, soql: str) -> list[dict[str, Any]]: ...


class TargetOrg(Protocol):
    async def upsert_collection(
        self,
        sobject: str,
        external_id_field: str,
        records: Sequence[dict[str, Any]],
        *,
        allow_duplicates: bool = False,
    ) -> list[dict[str, Any]]: ...

    async def composite_graph(
        self, payload: dict[str, Any], *, allow_duplicates: bool = False
    ) -> dict[str, Any]: ...


#: Rounds of resending graphs Salesforce halted (each round processes at least 15 graphs).
MAX_HALTED_ROUNDS = 20


@dataclass(frozen=True)
class MigrationRequest:
    customer_id: str
    correlation_id: str
    attempt: int
    dry_run: bool = False
    #: the attempt before this one, when it was interrupted (IN_PROGRESS in the table: killed or
    #: stopped before its audit): it may have written to V2 without the ledger knowing
    interrupted_attempt: int | None = None


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
    records: list[LedgerEntry] = field(default_factory=list)  # what V2 now holds, per record

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
        options: LoadOptions | None = None,
        reference: Callable[[], ReferenceData | None] | None = None,
    ) -> None:
        self.spec = spec
        self.source = source
        self.target = target
        self.options = options or LoadOptions()
        #: the current snapshot of V2's users and record types (the runtime's cache), read once
        #: per batch; None from it means not loaded yet
        self.reference = reference
        self._load_slots = asyncio.Semaphore(load_concurrency)
        self._chunk_size = chunk_size

    async def migrate(self, requests: Sequence[MigrationRequest]) -> list[CustomerOutcome]:
        started = time.time()
        reference = self.reference() if self.reference is not None else None
        if reference is None and self.reference is not None and self.spec.needs_reference_data:
            raise SalesforceTransientError("V2 users and record types are not loaded yet")
        outcomes = [
            CustomerOutcome(request=r, status=CustomerStatus.IN_PROGRESS, started_at=started)
            for r in requests
        ]
        with metrics.BATCH_STAGE_SECONDS.labels(stage="extract").time():
            records = await self._extract(
                [o for o in outcomes if o.status != CustomerStatus.FAILED]
            )
        with metrics.BATCH_STAGE_SECONDS.labels(stage="transform").time():
            plans = self._transform(outcomes, records, reference)
        by_customer = {o.customer_id: o for o in outcomes}
        with metrics.BATCH_STAGE_SECONDS.labels(stage="load").time():
            await self._load(list(plans.values()), by_customer)
        finished = time.time()
        for outcome in outcomes:
            if outcome.status == CustomerStatus.IN_PROGRESS:
                outcome.status = CustomerStatus.COMPLETED
            outcome.finished_at = finished
        return outcomes

    def _transform(
        self,
        outcomes: list[CustomerOutcome],
        records: dict[str, dict[str, Any]],
        reference: ReferenceData | None,
    ) -> dict[str, CustomerPlan]:
        """V1 rows to V2 plans (pure); customers missing in V1 or rejected fail here."""
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
            plan = transform_customer(self.spec, record, reference)
            outcome.issues.extend(plan.issues)
            outcome.rejected = dict(plan.rejected)
            if plan.account_rejected:
                outcome.fail("the V1 Account cannot be migrated: " + _first_error(plan))
            elif outcome.request.dry_run:
                outcome.status = CustomerStatus.DRY_RUN
                outcome.counts = {o: len(r) for o, r in plan.records_by_object.items() if r}
            else:
                plans[outcome.customer_id] = plan
        return plans

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
        if self.options.strategy == "collections":
            await self._load_collections(plans, outcomes)
        else:
            await self._load_graphs(plans, outcomes)

    # composite graph ---------------------------------------------------------------------------
    async def _load_graphs(
        self, plans: list[CustomerPlan], outcomes: dict[str, CustomerOutcome]
    ) -> None:
        graphs, too_large = [], []
        for plan in {p.customer_id: p for p in plans}.values():
            graph = customer_graph(plan, self.spec)
            reason = fits_one_graph(graph, self.spec)
            if reason is None:
                graphs.append(graph)
                continue
            outcome = outcomes[plan.customer_id]
            if self.options.require_atomic:
                outcome.fail(
                    f"cannot load atomically: {reason}",
                    Issue(ERROR, self.spec.root.source, plan.customer_id, None, NOT_ATOMIC, reason),
                )
            else:
                outcome.issues.append(
                    Issue(
                        WARNING,
                        self.spec.root.source,
                        plan.customer_id,
                        None,
                        NOT_ATOMIC,
                        f"loaded with sObject Collections, not atomically: {reason}",
                    )
                )
                too_large.append(plan)
        transient: list[str] = []
        pending = graphs
        halted_rounds = 0
        while pending:
            if halted_rounds >= MAX_HALTED_ROUNDS:  # still halted: leave the batch to a retry
                transient.append(HALTED)
                break
            rounds = await asyncio.gather(
                *(self._send_graphs(r, outcomes, transient) for r in pack_requests(pending))
            )
            halted = [graph for halted, _ in rounds for graph in halted]
            halted_rounds += bool(halted)
            # graphs resent without the audit fields of records already in V2 (each resend
            # strips at least one field, so this ends)
            pending = halted + [graph for _, resend in rounds for graph in resend]
        if too_large:
            await self._load_collections(too_large, outcomes)
        if transient:
            raise SalesforceTransientError(f"graph errors worth retrying: {sorted(set(transient))}")

    async def _send_graphs(
        self,
        request: GraphRequest,
        outcomes: dict[str, CustomerOutcome],
        transient: list[str],
    ) -> tuple[list[CustomerGraph], list[CustomerGraph]]:
        """One composite/graph call; returns the graphs Salesforce halted and the graphs to
        resend without the audit fields of records that were already in V2."""
        async with self._load_slots:
            response = await self.target.composite_graph(
                request.payload(self.options.api_version),
                allow_duplicates=self.options.allow_duplicate_save,
            )
        by_id = {graph.graph_id: graph for graph in request.graphs}
        halted, resend = [], []
        for result in response.get("graphs") or []:
            graph = by_id.pop(str(result.get("graphId")), None)
            if graph is None:
                continue
            nodes = (result.get("graphResponse") or {}).get("compositeResponse") or []
            if result.get("isSuccessful"):
                self._graph_succeeded(graph, nodes, outcomes[graph.customer_id])
            elif _all_halted(nodes):
                halted.append(graph)
            elif (stripped := self._without_audit_fields(graph, nodes, outcomes)) is not None:
                resend.append(stripped)
            else:
                transient += self._graph_failed(graph, nodes, outcomes[graph.customer_id])
        halted.extend(by_id.values())  # graphs the answer left out: not processed either
        return halted, resend

    def _without_audit_fields(
        self,
        graph: CustomerGraph,
        nodes: list[dict[str, Any]],
        outcomes: dict[str, CustomerOutcome],
    ) -> CustomerGraph | None:
        """The graph again without audit fields on any node, when V2 refusing them on a node is
        the graph's only failure (those records exist: a re-run or a retried batch).

        Salesforce sets audit fields on insert only; an upsert that matches is an update and
        answers INVALID_FIELD_FOR_INSERT_UPDATE. Not confirmed from the docs: whether an upsert
        that inserts accepts them (a Salesforce KB says audit fields work "for insert, not
        upsert"); the sandbox accepts them on the inserting upsert.
        """
        refused: set[str] = set()  # reference ids of the nodes V2 named
        for result in nodes:
            body = result.get("body")
            for error in body if isinstance(body, list) else []:
                code = error.get("errorCode") or error.get("statusCode")
                if code == HALTED:
                    continue
                fields = set(error.get("fields") or [])
                if code != INVALID_FOR_UPDATE or not fields or not fields <= AUDIT_FIELDS:
                    return None
                refused.add(str(result.get("referenceId")))
        if not refused:
            return None
        # Salesforce stops a graph at its first failing node, so it names one refused record per
        # round; the customer is evidently in V2 already (a re-run, a retried batch), so every
        # node goes without audit fields at once. Resending one node's worth per round took a
        # round per record, ran past MAX_HALTED_ROUNDS on a batch of re-runs and failed it whole.
        changed = []
        outcome = outcomes[graph.customer_id]
        for node in graph.nodes:
            drop = AUDIT_FIELDS & node.record.keys()
            if drop:
                source = self.spec.by_target(node.object).source
                named = node.reference_id in refused
                outcome.issues.append(_audit_kept(source, node, KEPT if named else NOT_SENT))
                node = replace(node, record={k: v for k, v in node.record.items() if k not in drop})
            changed.append(node)
        if changed == list(graph.nodes):
            return None
        return CustomerGraph(graph.customer_id, tuple(changed))

    def _graph_succeeded(
        self, graph: CustomerGraph, nodes: list[dict[str, Any]], outcome: CustomerOutcome
    ) -> None:
        bodies = {n.get("referenceId"): n.get("body") for n in nodes}
        root = self.spec.root.target
        for node in graph.nodes:
            outcome.counts[node.object] = outcome.counts.get(node.object, 0) + 1
            body = bodies.get(node.reference_id)
            if not isinstance(body, dict):
                continue
            if node.object == root and outcome.v2_account_id is None:
                outcome.v2_account_id = body.get("id")
            _ledger(outcome, node.object, node.legacy_id, body)

    def _graph_failed(
        self, graph: CustomerGraph, nodes: list[dict[str, Any]], outcome: CustomerOutcome
    ) -> list[str]:
        """Every node error (not the rolled-back siblings) becomes an audit issue."""
        by_ref = {node.reference_id: node for node in graph.nodes}
        transient = []
        for result in nodes:
            node = by_ref.get(result.get("referenceId"))
            body = result.get("body")
            errors = body if isinstance(body, list) else []
            for error in errors:
                code = error.get("errorCode") or error.get("statusCode") or "UNKNOWN"
                if code == HALTED:
                    continue
                if code in TRANSIENT_RECORD_ERRORS:
                    transient.append(code)
                obj = node.object if node else graph.nodes[0].object
                legacy = node.legacy_id if node else graph.customer_id
                outcome.fail(
                    f"{obj} {legacy}: {code} (customer rolled back, nothing written to V2)",
                    Issue(
                        ERROR,
                        self.spec.by_target(obj).source,
                        legacy,
                        ",".join(error.get("fields") or []) or None,
                        code,
                        error.get("message", ""),
                    ),
                )
        if outcome.status != CustomerStatus.FAILED:  # a failed graph with no readable error
            outcome.fail(f"composite graph {graph.graph_id} failed without a node error")
        outcome.counts.clear()
        return transient

    # sObject collections -----------------------------------------------------------------------
    async def _load_collections(
        self, plans: list[CustomerPlan], outcomes: dict[str, CustomerOutcome]
    ) -> None:
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
                chunk.object,
                chunk.external_id_field,
                chunk.records,
                allow_duplicates=self.options.allow_duplicate_save,
            )
        source_object = self.spec.by_target(chunk.object).source
        root = self.spec.root.target
        transient = []
        resend: list[tuple[dict[str, Any], str]] = []
        for record, customer_id, result in zip(
            chunk.records, chunk.customer_ids, results, strict=True
        ):
            outcome = outcomes[customer_id]
            if result.get("success"):
                outcome.counts[chunk.object] = outcome.counts.get(chunk.object, 0) + 1
                if chunk.object == root:
                    outcome.v2_account_id = result.get("id")
                _ledger(outcome, chunk.object, str(record[chunk.external_id_field]), result)
                continue
            stripped = _without_refused_audit_fields(record, result.get("errors") or [])
            if stripped is not None:  # already in V2: keep its creation date, send the rest
                outcome.issues.append(_audit_kept(source_object, record[chunk.external_id_field]))
                resend.append((stripped, customer_id))
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
        if resend:
            again = replace(
                chunk,
                records=tuple(r for r, _ in resend),
                customer_ids=tuple(c for _, c in resend),
            )
            await self._upsert(again, outcomes)
        if transient:
            raise SalesforceTransientError(
                f"record errors worth retrying: {sorted(set(transient))}"
            )


#: ledger action of a record found in V2 right after an interrupted attempt (see ``_ledger``)
UNCERTAIN = "uncertain"
INTERRUPTED_ATTEMPT = "INTERRUPTED_ATTEMPT"


def _ledger(outcome: CustomerOutcome, sobject: str, legacy_id: str, result: dict) -> None:
    """A written record, for the ledger: created unless Salesforce says it updated; after an
    interrupted attempt an update is ``uncertain``: that attempt may have created the record
    (its graph committed, its audit never did), or the record was there before. Rollback keeps
    such records and names them rather than deleting what might not be ours."""
    v2_id = result.get("id")
    if not v2_id:
        return
    action = "created"
    if result.get("created") is False:
        action = "updated"
        interrupted = outcome.request.interrupted_attempt
        if interrupted is not None:
            action = UNCERTAIN
            if not any(i.code == INTERRUPTED_ATTEMPT for i in outcome.issues):
                outcome.issues.append(
                    Issue(
                        WARNING,
                        "Account",
                        outcome.customer_id,
                        None,
                        INTERRUPTED_ATTEMPT,
                        f"attempt {interrupted} was interrupted before its audit: records this "
                        "attempt found in V2 may have been created by it (ledger: uncertain; "
                        "rollback keeps and lists them)",
                    )
                )
    outcome.records.append(LedgerEntry(sobject, legacy_id, str(v2_id), action))


def _without_refused_audit_fields(
    record: dict[str, Any], errors: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The record without the audit fields V2 refused, when that is its only error."""
    drop: set[str] = set()
    for error in errors:
        code = error.get("statusCode") or error.get("errorCode")
        fields = set(error.get("fields") or [])
        if code != INVALID_FOR_UPDATE or not fields or not fields <= AUDIT_FIELDS:
            return None
        drop |= fields & record.keys()
    if not drop:
        return None
    return {k: v for k, v in record.items() if k not in drop}


#: why a record's CreatedDate was not set (the CREATED_DATE_NOT_SET warning's message)
KEPT = (
    "already in V2 (the upsert updated it): audit fields are set on insert only, so V2 keeps "
    "the creation date it has"
)
NOT_SENT = (
    "not sent: other records of this customer were already in V2 (a re-run), so its graph went "
    "without audit fields; if this record was new to V2 it has V2's creation date"
)


def _audit_kept(v1_object: str, node_or_id: Any, why: str = KEPT) -> Issue:
    legacy = node_or_id.legacy_id if isinstance(node_or_id, GraphNode) else str(node_or_id)
    return Issue(WARNING, v1_object, legacy, "CreatedDate", CREATED_DATE_NOT_SET, why)


def _all_halted(nodes: list[dict[str, Any]]) -> bool:
    """True when Salesforce did not process the graph at all (every node PROCESSING_HALTED)."""
    codes = [
        (error.get("errorCode") or error.get("statusCode"))
        for node in nodes
        for error in (node.get("body") if isinstance(node.get("body"), list) else [])
    ]
    return bool(nodes) and bool(codes) and all(code == HALTED for code in codes)


def _first_error(plan: CustomerPlan) -> str:
    errors = plan.errors
    return f"{errors[0].code}: {errors[0].message}" if errors else "rejected"
