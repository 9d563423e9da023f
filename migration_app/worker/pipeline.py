"""Migrate a batch of customers: extract from V1, transform, write into V2.

One SOQL (with child subqueries) extracts the whole batch, then one follow-up query per
grandchild object (e-mails by their Cases, tasks by their Accounts and Cases: SOQL nests one level
only; ``migration/extract_plan.py``); the transform is the pure domain in ``migration/``. A
reference to another customer (``Account.ParentId``) is written when the ledger has that
customer migrated, else left pending for ``worker/hierarchy.py``.

Records new to V2 are created with their audit fields, records already in V2
upserted by external id without them, and records someone else changed in V2 since our last
write follow the mapping's ``on_conflict`` (``migration/write_plan.py``). What V2 already holds is
read (one query per object per batch, ``migration/v2_state.py``) only for customers this project
may have written before: a re-migration, a retry, an interrupted attempt. A first attempt creates
everything; a record there after all (an earlier call whose answer was lost) shows as
``DUPLICATE_VALUE`` on its external id, and only then is V2 read: the graph path re-plans its
customer, collections and bulk re-read the records met so and decide them alike
(``worker/conflict_guard.py``).

Two load strategies (``MIGRATION_LOAD_STRATEGY``):

* ``graph`` (default): one Composite Graph per customer, graphs packed into as few requests as
  the limits allow, requests sent concurrently. A graph commits or rolls back as a whole, so a
  customer is complete in V2 or absent. Graphs Salesforce did not process (``PROCESSING_HALTED``
  after 14 failed graphs) are resent.
* ``collections``: sObject Collections upserts shared across the batch's customers, parents
  before children, ``allOrNone`` false. Fewer constraints, no atomicity: a customer whose
  Contact fails keeps its Account in V2.
* ``bulk``: Bulk API 2.0 ingest jobs, one per object per level per batch; per customer all or
  nothing by compensation (``worker/bulk_load.py``). ``auto``: bulk for a batch writing more
  than ``MIGRATION_BULK_THRESHOLD`` records, graph otherwise.

Files (the mapping's ``files:``) load after the records commit (``worker/files.py``); a customer
is COMPLETED only when they are in V2 too.

Whole-call transient failures propagate (the caller retries the batch: upserts by external id
make that safe); per-record failures make their customer FAILED.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from migration_app.audit.records import LedgerEntry
from migration_app.contracts.customer_status import CustomerStatus
from migration_app.migration.chunks import chunked
from migration_app.migration.collections_plan import UpsertChunk, plan_upserts
from migration_app.migration.cross_references import CrossReference, pending_issue, split
from migration_app.migration.customer_transform import CustomerPlan, transform_customer
from migration_app.migration.extract_plan import attach, follow_up_queries, parent_owners, waves
from migration_app.migration.graph_plan import (
    CustomerGraph,
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
from migration_app.migration.v2_state import V2Record, parse_rows, record_queries, state_queries
from migration_app.migration.write_plan import (
    AUDIT_FIELDS,
    CustomerWrites,
    plan_writes,
    without_audit_fields,
)
from migration_app.ops import metrics
from migration_app.salesforce.errors import TRANSIENT_RECORD_ERRORS, SalesforceTransientError
from migration_app.salesforce.users import user_id_of
from migration_app.worker.bulk_load import BulkLoad, JobJournal
from migration_app.worker.conflict_guard import V2State, guard_duplicates
from migration_app.worker.files import FileLoader

EXTRACT_IDS_PER_QUERY = 200
HALTED = "PROCESSING_HALTED"
NOT_ATOMIC = "NOT_ATOMIC"
INVALID_FOR_UPDATE = "INVALID_FIELD_FOR_INSERT_UPDATE"
#: a create whose external id V2 already holds (Salesforce: "duplicate value found: <field>
#: duplicates value on record with id: <id>")
DUPLICATE_VALUE = "DUPLICATE_VALUE"
#: rounds of re-reading and re-planning customers whose creates met DUPLICATE_VALUE (a second
#: round means another writer raced us; after it the customer fails)
MAX_DUPLICATE_ROUNDS = 2


class SourceOrg(Protocol):
    async def query_all(self, soql: str) -> list[dict[str, Any]]: ...


class TargetOrg(Protocol):
    async def query_all(self, soql: str) -> list[dict[str, Any]]: ...

    async def create_collection(
        self, records: Sequence[dict[str, Any]], *, allow_duplicates: bool = False
    ) -> list[dict[str, Any]]: ...

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
    #: V2 held records this attempt took for new (DUPLICATE_VALUE): an earlier call of ours
    #: whose answer was lost may have created them, so their updates are ``uncertain``
    found_after_duplicate: bool = False
    #: references to other customers not written (their parent is not migrated yet): the
    #: processor records them as pending (``migration.cross_references``)
    pending_references: list[CrossReference] = field(default_factory=list)
    #: references to other customers written directly (their parent is migrated)
    written_references: list[CrossReference] = field(default_factory=list)

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
        integration_username: str | None = None,
        migrated_parents: Callable[[list[str]], Awaitable[set[str]]] | None = None,
        files: FileLoader | None = None,
    ) -> None:
        self.spec = spec
        #: copies the customers' files after their records commit (``worker/files.py``)
        self.files = files
        self.source = source
        self.target = target
        self.options = options or LoadOptions()
        #: the current snapshot of V2's users and record types (the runtime's cache), read once
        #: per batch; None from it means not loaded yet
        self.reference = reference
        self._load_slots = asyncio.Semaphore(load_concurrency)
        self._chunk_size = chunk_size
        #: V2's Username of the session's user: every write of ours carries its Id as
        #: LastModifiedById, which is how the conflict guard tells our writes from people's
        self._integration_username = integration_username or None
        self._integration_user_id: str | None = None
        #: which of these V1 root ids are migrated (the ledger; None: none known)
        self.migrated_parents = migrated_parents
        #: where Bulk API jobs are recorded before their upload (crash safety: ``bulk_load``)
        self.bulk_journal: JobJournal | None = None
        #: the worker's fault points (``during-bulk-job``)
        self.fault_reached: Callable[[str], None] | None = None

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
            await self._cross_references(plans, outcomes)
        by_customer = {o.customer_id: o for o in outcomes}
        # V1's file metadata is read while the records load (files load after them)
        files = asyncio.ensure_future(self.files.extract(plans)) if self.files and plans else None
        try:
            with metrics.BATCH_STAGE_SECONDS.labels(stage="load").time():
                writes = await self._plan_writes(list(plans.values()), by_customer)
                await self._load(writes, by_customer)
        except BaseException:
            await _cancelled(files)
            raise
        if files is not None and self.files is not None:
            with metrics.BATCH_STAGE_SECONDS.labels(stage="files").time():
                await self.files.load(await files, by_customer)
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

    async def _cross_references(
        self, plans: dict[str, CustomerPlan], outcomes: list[CustomerOutcome]
    ) -> None:
        """References to other customers: written through the parent's external id when the
        ledger says the parent is migrated (one lookup per batch), else left pending."""
        refs = [ref for plan in plans.values() for ref in plan.cross_references]
        if not refs:
            return
        parents = sorted({ref.parent_legacy_id for ref in refs})
        migrated = await self.migrated_parents(parents) if self.migrated_parents else set()
        now, pending = split(refs, migrated)
        by_customer = {o.customer_id: o for o in outcomes}
        for ref in now:
            by_customer[ref.customer_id].written_references.append(ref)
            for record in plans[ref.customer_id].records_by_object.get(ref.target_object, ()):
                if record.get(ref.external_id_field) == ref.legacy_id:
                    record[ref.relationship] = ref.value()
        for ref in pending:
            outcome = by_customer[ref.customer_id]
            outcome.pending_references.append(ref)
            outcome.issues.append(pending_issue(ref))

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
        roots = {row["Id"][:15]: row for rows in pages for row in rows}
        await read_follow_ups(self.spec, self.source, roots)  # grandchildren: extract_plan
        return roots

    # what V2 holds, and what to write ----------------------------------------------------------
    async def _plan_writes(
        self,
        plans: list[CustomerPlan],
        outcomes: dict[str, CustomerOutcome],
        *,
        reread: bool = False,
    ) -> list[CustomerWrites]:
        """Each plan as writes; V2 is read first for the customers we may have written before
        (all of ``plans`` when ``reread``). A customer the conflict guard fails is dropped."""
        plans = list({p.customer_id: p for p in plans}.values())
        known = [p for p in plans if reread or _may_be_in_v2(outcomes[p.customer_id].request)]
        existing: dict[tuple[str, str], V2Record] = {}
        user_id = None
        if known:
            existing = await self._read_v2([self._root_legacy_id(p) for p in known], known)
            user_id = await self._user_id()
        known_ids = {p.customer_id for p in known}
        out = []
        for plan in plans:
            outcome = outcomes[plan.customer_id]
            read = plan.customer_id in known_ids
            writes = plan_writes(plan, self.spec, existing if read else None, user_id)
            outcome.issues.extend(writes.issues)
            if writes.failure is not None:
                outcome.fail(writes.failure)
                continue
            for obj, kept in writes.kept.items():
                outcome.counts[obj] = outcome.counts.get(obj, 0) + kept
            out.append(writes)
        return out

    def _root_legacy_id(self, plan: CustomerPlan) -> str:
        root = self.spec.root
        records = plan.records_by_object.get(root.target) or ()
        return str(records[0][root.external_id]) if records else plan.customer_id

    async def _read_v2(
        self, root_ids: list[str], plans: Sequence[CustomerPlan] = ()
    ) -> dict[tuple[str, str], V2Record]:
        """One query per object per batch (``v2_state``); objects without a lookup to the root
        (follow-ups) by their planned records' external ids."""
        own = {
            obj.target: [
                str(r[obj.external_id])
                for p in plans
                for r in p.records_by_object.get(obj.target, ())
            ]
            for obj in self.spec.follow_ups
        }
        return await self._query_v2(state_queries(self.spec, root_ids, own))

    async def _query_v2(self, queries: list[tuple[str, str]]) -> dict[tuple[str, str], V2Record]:
        async with self._load_slots:
            pages = await asyncio.gather(*(self.target.query_all(soql) for _, soql in queries))
        return parse_rows(self.spec, zip((t for t, _ in queries), pages, strict=True))

    async def _reread(self, obj: str, legacy_ids: list[str]) -> V2State:
        """These records of one object as V2 holds them, for the conflict guard (bulk and
        collections, after DUPLICATE_VALUE: ``conflict_guard``): one query per 200; nothing to
        compare without the integration user."""
        user_id = await self._user_id()
        if user_id is None:
            return {}, None
        return await self._query_v2(record_queries(self.spec.by_target(obj), legacy_ids)), user_id

    async def _user_id(self) -> str | None:
        """The integration user's V2 Id, read once (None without a username: no guard)."""
        if self._integration_user_id is None and self._integration_username:
            self._integration_user_id = await user_id_of(self.target, self._integration_username)
        return self._integration_user_id

    async def _load(
        self, writes: list[CustomerWrites], outcomes: dict[str, CustomerOutcome]
    ) -> None:
        strategy = self.options.strategy_for(sum(len(w.writes) for w in writes))
        if strategy == "collections":
            await self._load_collections(writes, outcomes)
        elif strategy == "bulk":
            await self._load_bulk(writes, outcomes)
        else:
            await self._load_graphs(writes, outcomes)

    async def _load_bulk(
        self, writes: list[CustomerWrites], outcomes: dict[str, CustomerOutcome]
    ) -> None:
        """Bulk API 2.0 jobs, per customer all or nothing by compensation (``bulk_load``)."""
        load = BulkLoad(
            self.spec,
            self.target,  # type: ignore[arg-type]
            _ledger,
            slots=self._load_slots,
            deadline_s=self.options.bulk_deadline_s,
            journal=self.bulk_journal,
            reached=self.fault_reached,
            reread=self._reread,
        )
        await load.load(writes, outcomes)

    # composite graph ---------------------------------------------------------------------------
    async def _load_graphs(
        self, writes: list[CustomerWrites], outcomes: dict[str, CustomerOutcome]
    ) -> None:
        graphs, too_large = self._graphs(writes, outcomes)
        transient: list[str] = []
        pending = graphs
        halted_rounds = 0
        duplicate_rounds: dict[str, int] = defaultdict(int)
        while pending:
            if halted_rounds >= MAX_HALTED_ROUNDS:  # still halted: leave the batch to a retry
                transient.append(HALTED)
                break
            rounds = await asyncio.gather(
                *(self._send_graphs(r, outcomes, transient) for r in pack_requests(pending))
            )
            halted = [graph for sent in rounds for graph in sent.halted]
            halted_rounds += bool(halted)
            # graphs resent without audit fields V2 refused (each resend strips at least one
            # field, so this ends)
            pending = halted + [graph for sent in rounds for graph in sent.resend]
            duplicates = [c for sent in rounds for c in sent.duplicates]
            if duplicates:
                pending += await self._replanned(duplicates, outcomes, duplicate_rounds)
        if too_large:
            await self._load_collections(too_large, outcomes)
        if transient:
            raise SalesforceTransientError(f"graph errors worth retrying: {sorted(set(transient))}")

    def _graphs(
        self, writes: list[CustomerWrites], outcomes: dict[str, CustomerOutcome]
    ) -> tuple[list[CustomerGraph], list[CustomerWrites]]:
        """One graph per customer; customers too large for one go to collections (or fail)."""
        graphs, too_large = [], []
        for customer in writes:
            graph = customer_graph(customer, self.spec)
            reason = fits_one_graph(graph, self.spec)
            if reason is None:
                graphs.append(graph)
                continue
            outcome = outcomes[customer.customer_id]
            if self.options.require_atomic:
                outcome.fail(
                    f"cannot load atomically: {reason}",
                    Issue(
                        ERROR, self.spec.root.source, customer.customer_id, None, NOT_ATOMIC, reason
                    ),
                )
            else:
                outcome.issues.append(
                    Issue(
                        WARNING,
                        self.spec.root.source,
                        customer.customer_id,
                        None,
                        NOT_ATOMIC,
                        f"loaded with sObject Collections, not atomically: {reason}",
                    )
                )
                too_large.append(customer)
        return graphs, too_large

    async def _replanned(
        self,
        duplicates: list[CustomerWrites],
        outcomes: dict[str, CustomerOutcome],
        rounds: dict[str, int],
    ) -> list[CustomerGraph]:
        """Customers whose creates met DUPLICATE_VALUE, planned again from a read of V2."""
        again = []
        for writes in duplicates:
            outcome = outcomes[writes.customer_id]
            rounds[writes.customer_id] += 1
            if rounds[writes.customer_id] > MAX_DUPLICATE_ROUNDS:
                outcome.fail(
                    f"{DUPLICATE_VALUE}: V2 kept gaining this customer's records while it was "
                    "loaded (another writer?); nothing written by this attempt"
                )
                continue
            outcome.found_after_duplicate = True
            again.append(writes.plan)
        if not again:
            return []
        replanned = await self._plan_writes(again, outcomes, reread=True)
        graphs, too_large = self._graphs(replanned, outcomes)
        if too_large:
            await self._load_collections(too_large, outcomes)
        return graphs

    async def _send_graphs(
        self,
        request: GraphRequest,
        outcomes: dict[str, CustomerOutcome],
        transient: list[str],
    ) -> SentGraphs:
        """One composite/graph call, and what to do with the graphs that did not commit."""
        async with self._load_slots:
            response = await self.target.composite_graph(
                request.payload(self.options.api_version),
                allow_duplicates=self.options.allow_duplicate_save,
            )
        by_id = {graph.graph_id: graph for graph in request.graphs}
        sent = SentGraphs()
        for result in response.get("graphs") or []:
            graph = by_id.pop(str(result.get("graphId")), None)
            if graph is None:
                continue
            nodes = (result.get("graphResponse") or {}).get("compositeResponse") or []
            if result.get("isSuccessful"):
                self._graph_succeeded(graph, nodes, outcomes[graph.customer_id])
            elif _all_halted(nodes):
                sent.halted.append(graph)
            elif graph.writes is not None and _only_duplicate_external_ids(nodes, graph):
                sent.duplicates.append(graph.writes)
            elif (stripped := self._without_audit_fields(graph, nodes, outcomes)) is not None:
                sent.resend.append(stripped)
            else:
                transient += self._graph_failed(graph, nodes, outcomes[graph.customer_id])
        sent.halted.extend(by_id.values())  # graphs the answer left out: not processed either
        return sent

    def _without_audit_fields(
        self,
        graph: CustomerGraph,
        nodes: list[dict[str, Any]],
        outcomes: dict[str, CustomerOutcome],
    ) -> CustomerGraph | None:
        """The graph again without audit fields, when V2 refusing them is its only failure:
        V2 does not grant "Set Audit Fields upon Record Creation" (preflight says so too)."""
        refused = False
        for result in nodes:
            body = result.get("body")
            for error in body if isinstance(body, list) else []:
                code = error.get("errorCode") or error.get("statusCode")
                if code == HALTED:
                    continue
                fields = set(error.get("fields") or [])
                if code != INVALID_FOR_UPDATE or not fields or not fields <= AUDIT_FIELDS:
                    return None
                refused = True
        if not refused:
            return None
        changed = []
        outcome = outcomes[graph.customer_id]
        for node in graph.nodes:
            if AUDIT_FIELDS & node.record.keys():
                source = self.spec.by_target(node.object).source
                outcome.issues.append(_audit_refused(source, node.legacy_id))
                node = replace(node, record=without_audit_fields(node.record))
            changed.append(node)
        if changed == list(graph.nodes):
            return None
        return replace(graph, nodes=tuple(changed))

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
        self, writes: list[CustomerWrites], outcomes: dict[str, CustomerOutcome]
    ) -> None:
        chunks = plan_upserts(writes, self.spec, max_batch=self._chunk_size)
        levels: dict[int, list[UpsertChunk]] = defaultdict(list)
        for chunk in chunks:
            levels[chunk.level].append(chunk)
        for level in sorted(levels):
            live = [c for c in (self._without_failed(c, outcomes) for c in levels[level]) if c]
            await asyncio.gather(*(self._write_chunk(chunk, outcomes) for chunk in live))

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
        return replace(
            chunk,
            records=tuple(chunk.records[i] for i in keep),
            customer_ids=tuple(chunk.customer_ids[i] for i in keep),
        )

    async def _write_chunk(self, chunk: UpsertChunk, outcomes: dict[str, CustomerOutcome]) -> None:
        """One create or upsert collection. A create refused for DUPLICATE_VALUE (the record is
        in V2 after all) goes under the conflict guard as in the graph and bulk paths: the
        chunk's such records are re-read from V2 together and decided (``conflict_guard``):
        upserted without audit fields, kept as V2 has them, or their customer failed. A create
        refused for audit fields (V2 lacks the permission) is resent without them."""
        async with self._load_slots:
            if chunk.create:
                results = await self.target.create_collection(
                    chunk.records, allow_duplicates=self.options.allow_duplicate_save
                )
            else:
                results = await self.target.upsert_collection(
                    chunk.object,
                    chunk.external_id_field,
                    chunk.records,
                    allow_duplicates=self.options.allow_duplicate_save,
                )
        source_object = self.spec.by_target(chunk.object).source
        root = self.spec.root.target
        transient = []
        duplicates: list[tuple[dict[str, Any], str]] = []
        create: list[tuple[dict[str, Any], str]] = []
        for record, customer_id, result in zip(
            chunk.records, chunk.customer_ids, results, strict=True
        ):
            outcome = outcomes[customer_id]
            legacy = str(record[chunk.external_id_field])
            if result.get("success"):
                outcome.counts[chunk.object] = outcome.counts.get(chunk.object, 0) + 1
                if chunk.object == root:
                    outcome.v2_account_id = result.get("id")
                _ledger(outcome, chunk.object, legacy, result)
                continue
            errors = result.get("errors") or []
            if chunk.create and _is_duplicate_external_id(errors, chunk.external_id_field):
                outcome.found_after_duplicate = True
                duplicates.append((record, customer_id))
                continue
            if _only_audit_fields_refused(errors) and AUDIT_FIELDS & record.keys():
                outcome.issues.append(_audit_refused(source_object, legacy))
                create.append((without_audit_fields(record), customer_id))
                continue
            for error in errors or [{"statusCode": "UNKNOWN", "message": "failed"}]:
                code = error.get("statusCode") or error.get("errorCode") or "UNKNOWN"
                if code in TRANSIENT_RECORD_ERRORS:
                    transient.append(code)
                fields = error.get("fields") or []
                outcome.fail(
                    f"{chunk.object} {legacy}: {code}",
                    Issue(
                        ERROR,
                        source_object,
                        legacy,
                        ",".join(fields) or None,
                        code,
                        error.get("message", ""),
                    ),
                )
        # creates V2 met as DUPLICATE_VALUE: re-read together, under the conflict guard
        upsert = await guard_duplicates(
            self.spec,
            chunk.object,
            chunk.external_id_field,
            duplicates,
            outcomes,
            self._reread,
            earlier_levels_stay=chunk.level > 0,
        )
        for again, as_create in ((upsert, False), (create, chunk.create)):
            if again:
                await self._write_chunk(
                    replace(
                        chunk,
                        records=tuple(r for r, _ in again),
                        customer_ids=tuple(c for _, c in again),
                        create=as_create,
                    ),
                    outcomes,
                )
        if transient:
            raise SalesforceTransientError(
                f"record errors worth retrying: {sorted(set(transient))}"
            )


async def read_follow_ups(
    spec: MappingSpec, source: SourceOrg, roots: Mapping[str, dict[str, Any]]
) -> int:
    """The follow-up extract (``migration.extract_plan``): after the root query, one query per
    grandchild object and parent per batch (a semi-join through the parent), wave after wave,
    each row attached to its customer's root row. Shared with ``verify``, so both see a
    customer alike. Returns the number of queries made."""
    calls = 0
    for wave in waves(spec) if roots else []:
        plans = [
            (o, parent_owners(spec, o, roots), follow_up_queries(spec, o, roots)) for o in wave
        ]
        answers = iter(
            await asyncio.gather(
                *(source.query_all(soql) for _, _, queries in plans for soql in queries)
            )
        )
        for obj, owners, queries in plans:
            calls += len(queries)
            attach(obj, roots, owners, [row for _ in queries for row in next(answers)])
    return calls


@dataclass
class SentGraphs:
    """What one composite/graph call leaves to do."""

    halted: list[CustomerGraph] = field(default_factory=list)  # not processed: send again
    resend: list[CustomerGraph] = field(default_factory=list)  # without refused audit fields
    duplicates: list[CustomerWrites] = field(default_factory=list)  # read V2, plan again


async def _cancelled(task: asyncio.Task[Any] | None) -> None:
    """Cancel a helper task and wait for it, so its own failure is never left unretrieved."""
    if task is None:
        return
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _may_be_in_v2(request: MigrationRequest) -> bool:
    """A customer this project may have written before: V2 is read before writing it."""
    return request.attempt > 1 or request.interrupted_attempt is not None


def _is_duplicate_external_id(errors: list[dict[str, Any]], external_id_field: str) -> bool:
    """DUPLICATE_VALUE on the external id: "duplicate value found: Legacy_Id__c duplicates
    value on record with id: 001..." (the REST guide's fields list is empty for it)."""
    return bool(errors) and all(
        (e.get("statusCode") or e.get("errorCode")) == DUPLICATE_VALUE
        and (
            external_id_field in (e.get("fields") or [])
            or f"found: {external_id_field} " in str(e.get("message", ""))
        )
        for e in errors
    )


def _only_duplicate_external_ids(nodes: list[dict[str, Any]], graph: CustomerGraph) -> bool:
    """A graph that failed only because creates met their external id in V2."""
    by_ref = {node.reference_id: node for node in graph.nodes}
    seen = False
    for result in nodes:
        body = result.get("body")
        errors = [
            e
            for e in (body if isinstance(body, list) else [])
            if (e.get("errorCode") or e.get("statusCode")) != HALTED
        ]
        if not errors:
            continue
        node = by_ref.get(result.get("referenceId"))
        if node is None or not node.create:
            return False
        if not _is_duplicate_external_id(errors, node.external_id_field):
            return False
        seen = True
    return seen


def _only_audit_fields_refused(errors: list[dict[str, Any]]) -> bool:
    return bool(errors) and all(
        (e.get("statusCode") or e.get("errorCode")) == INVALID_FOR_UPDATE
        and set(e.get("fields") or [])
        and set(e.get("fields") or []) <= AUDIT_FIELDS
        for e in errors
    )


#: ledger action of a record found in V2 right after an interrupted attempt (see ``_ledger``)
UNCERTAIN = "uncertain"
INTERRUPTED_ATTEMPT = "INTERRUPTED_ATTEMPT"


def _ledger(outcome: CustomerOutcome, sobject: str, legacy_id: str, result: dict) -> None:
    """A written record, for the ledger: created unless Salesforce says it updated; after an
    interrupted attempt an update is ``uncertain``: that attempt may have created the record
    (its graph committed, its audit never did), or the record was there before. The same holds
    for a record a create of this attempt met as DUPLICATE_VALUE (an earlier call's answer may
    have been lost). Rollback keeps such records and names them rather than deleting what might
    not be ours."""
    v2_id = result.get("id")
    if not v2_id:
        return
    action = "created"
    if result.get("created") is False:
        action = "updated"
        if outcome.found_after_duplicate:
            action = UNCERTAIN
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


#: why a record's CreatedDate was not set (the CREATED_DATE_NOT_SET warning's message)
REFUSED = (
    'V2 refused the audit fields on create (the integration user lacks "Set Audit Fields upon '
    "Record Creation\"): created without them, with V2's creation date"
)


def _audit_refused(v1_object: str, legacy_id: str) -> Issue:
    return Issue(WARNING, v1_object, legacy_id, "CreatedDate", CREATED_DATE_NOT_SET, REFUSED)


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
