"""One batch of `customer` events, end to end: decode, dedupe, migrate, audit, results, state.

The agent hands every batch here. Ordering of side effects is the correctness argument (DESIGN
rule 9: what makes a thing true is durable before anything says it is true):

1. audit rows (run, issues, ledger) are committed to PostgreSQL;
2. the result events are sent and the broker has acknowledged every one of them (acks=all);
3. only then is the customer marked COMPLETED/FAILED/ROLLED_BACK in the table, and the batch
   waits until the table's changelog writes are acknowledged too;
4. the events are acked (their offsets become committable) only after all of that.

Why this order and not the other: with ``rocksdb://`` a table write is on the local disk at once,
while a sent event sits in the producer's buffer. Marking the state first let a kill -9 between
the two leave COMPLETED on disk and no result: the replayed event was then skipped as a duplicate
and the attempt's result never published. Now a kill at any instant leaves either no terminal
state (the event replays, the next attempt upserts the same external ids and publishes its own
result) or a terminal state whose result the broker already holds. The price is a repeated result
event for an attempt whose ack arrived just before a kill: consumers deduplicate by
(customer_id, attempt); the README's guarantees section says so.

A duplicate event (a COMPLETED customer's event again, without ``force``) changes no state: it is
counted (``migration_app_duplicate_events_total``) and acked, and a batch of only duplicates does
not wait for a pipeline slot (``prepare`` answers None).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from faust.types import EventT, TableT, TopicT

from migration_app.audit.bulk_jobs import BulkJobJournal
from migration_app.audit.errors import AuditUnavailable
from migration_app.audit.records import RunRecord
from migration_app.backoff import backoff_delays
from migration_app.client_config import load_options
from migration_app.compat import faust_internals
from migration_app.contracts.customer_status import CustomerStatus
from migration_app.contracts.events import (
    ROLLBACK,
    CustomerMigrationResult,
    CustomerReadyForMigration,
    MigrationIssue,
)
from migration_app.contracts.schemas import CUSTOMER_SUBJECT, RESULT_SUBJECT
from migration_app.migration.issues import ERROR, Issue
from migration_app.ops import metrics
from migration_app.registry.avro import dlq_headers
from migration_app.registry.errors import PoisonMessage, RegistryUnavailable
from migration_app.rollback.execution import roll_back
from migration_app.salesforce.errors import (
    SalesforceAuthError,
    SalesforcePermanentError,
    SalesforceTransientError,
)
from migration_app.worker.fault_points import FaultPoints
from migration_app.worker.files import FileLoader, FileSettings
from migration_app.worker.hierarchy import CrossCustomerReferences
from migration_app.worker.migration_state import (
    MigrationState,
    finished,
    new_state,
    should_skip,
    started,
)
from migration_app.worker.pipeline import CustomerOutcome, MigrationPipeline, MigrationRequest
from migration_app.worker.runtime import Runtime
from migration_app.worker.state_counts import Counted, StateCounts

log = logging.getLogger(__name__)

MAX_BATCH_ATTEMPTS = 3
#: how long the batch waits for the broker's acks before it logs that it is still waiting (each
#: send is bounded by the producer's own request timeout, after which it is sent again)
ACK_WAIT_LOG_INTERVAL = 10.0
#: customers whose completing event came again and whose state was written once more (a bound on
#: the memory of ``_restate_once``; past it the set starts over)
RESTATED_MAX = 100_000
#: customers remembered as COMPLETED (with the event that completed them), so a replay storm
#: decides each duplicate without a table read; ~100 bytes each
COMPLETED_CACHE_MAX = 200_000


@dataclass(frozen=True)
class ClaimedBatch:
    """A decoded batch; once claimed, this processor holds its customers until ``run`` ends."""

    requests: dict[str, CustomerReadyForMigration]  # the latest request per customer
    sources: dict[str, EventT]  # the event each customer's table writes belong to


class BatchProcessor:
    def __init__(
        self,
        runtime: Runtime,
        table: TableT,
        dlq_topic: TopicT,
        result_topic: TopicT,
        *,
        counts: StateCounts | None = None,
        table_durable: Callable[[], Awaitable[None]] | None = None,
        faults: FaultPoints | None = None,
    ) -> None:
        self.runtime = runtime
        self.table = table
        self.dlq_topic = dlq_topic
        self.result_topic = result_topic
        self.counts = counts if counts is not None else StateCounts()
        self._table_durable = table_durable
        self._faults = faults or FaultPoints()
        #: Account.ParentId to another customer: pending until the parent completes
        self.references = CrossCustomerReferences(runtime.audit, runtime.sf2, runtime.spec)
        self.pipeline = MigrationPipeline(
            runtime.spec,
            runtime.sf1,
            runtime.sf2,
            load_concurrency=runtime.settings.load_concurrency,
            options=load_options(runtime.settings),
            reference=runtime.reference.snapshot,
            integration_username=runtime.settings.sf2.username,
            migrated_parents=self.references.migrated_parents,
            files=_file_loader(runtime, self._faults),
        )
        self.pipeline.bulk_journal = BulkJobJournal(runtime.audit)
        self.pipeline.fault_reached = self._faults.reached
        self._in_flight: set[str] = set()
        self._released = asyncio.Condition()
        self._restated: set[str] = set()
        self._completed: dict[str, str] = {}  # customer -> correlation id of its completing event

    async def handle(self, events: Sequence[EventT]) -> None:
        """One batch start to end (``prepare``, ``claim``, ``run``)."""
        batch = await self.prepare(events)
        if batch is not None:
            await self.claim(batch)
            await self.run(batch)

    async def prepare(self, events: Sequence[EventT]) -> ClaimedBatch | None:
        """Decode, keep each customer's latest request, drop duplicates; None when nothing in
        the batch needs work.

        Batches are prepared and claimed one after another in the order they were taken, so
        when this runs every earlier batch holds its customers (``_is_duplicate`` relies on it).
        """
        latest: dict[str, CustomerReadyForMigration] = {}
        sources: dict[str, EventT] = {}  # the event each customer's table writes belong to
        seen: Counter[str] = Counter()  # events per customer (all duplicates if it is skipped)
        with metrics.BATCH_STAGE_SECONDS.labels(stage="decode").time():
            for event in events:
                request = await self._decode(event)
                if request is not None:
                    previous = latest.get(request.customer_id)
                    force = request.force or (previous.force if previous else False)
                    latest[request.customer_id] = request.derive(force=force)
                    sources[request.customer_id] = event
                    seen[request.customer_id] += 1
        for cid in [c for c, r in latest.items() if self._is_duplicate(r, sources[c])]:
            del latest[cid]
            metrics.DUPLICATE_EVENTS.inc(seen[cid])
        if not latest:
            return None
        return ClaimedBatch(latest, sources)

    async def claim(self, batch: ClaimedBatch) -> None:
        """Hold the batch's customers until its ``run`` ends: a customer's later event waits
        here until the batch holding its earlier one has finished."""
        await self._claim(batch.requests)

    def _is_duplicate(self, request: CustomerReadyForMigration, source: EventT) -> bool:
        """Decided here, before the claim, when no earlier batch holds the customer: its state
        is final for this event. A customer in flight is decided by ``_start`` after the batch
        holding it has finished (that batch may still fail it)."""
        cid = request.customer_id
        if request.action == ROLLBACK or request.force or cid in self._in_flight:
            return False
        completed_by = self._completed.get(cid)
        state: MigrationState | None = None
        if completed_by is None:  # not known here yet: read the table (RocksDB get + decode)
            state = self.table.get(cid.encode())
            if state is None or not should_skip(state, force=False):
                return False
            completed_by = self._remember_completed(cid, state.correlation_id)
        if completed_by == request.correlation_id and cid not in self._restated:
            self._restate_once(cid, state or self.table[cid.encode()], source)
        return True

    def _remember_completed(self, customer_id: str, correlation_id: str) -> str:
        """Which event completed the customer, so its replays cost no table read (bounded:
        past COMPLETED_CACHE_MAX entries it starts over)."""
        if len(self._completed) >= COMPLETED_CACHE_MAX:
            self._completed.clear()
        self._completed[customer_id] = correlation_id
        return correlation_id

    def forget_partitions(self) -> None:
        """Partitions were revoked: another worker may write these customers now, so what this
        one remembers of them (COMPLETED, re-stated) no longer holds."""
        self._completed.clear()
        self._restated.clear()

    def _restate_once(self, customer_id: str, state: MigrationState, source: EventT) -> None:
        """The very event that completed the customer, again: perhaps replayed because a
        kill -9 came after RocksDB stored the state but before the changelog had it. Writing
        the same state once more puts it in the changelog, for standbys and the next owner.
        Once per customer per process (bounded), so a replay storm writes almost nothing."""
        if len(self._restated) >= RESTATED_MAX:
            self._restated.clear()
        self._restated.add(customer_id)
        self._set_state(customer_id, state, state, source)

    async def run(self, batch: ClaimedBatch) -> None:
        """Migrate (or roll back), audit, then state and results; releases the claim."""
        latest, sources = batch.requests, batch.sources
        try:
            undo = [r for r in latest.values() if r.action == ROLLBACK]
            begun: dict[str, MigrationState] = {}  # the IN_PROGRESS state each customer got
            requests = self._start(
                [r for r in latest.values() if r.action != ROLLBACK], sources, begun
            )
            rollbacks = self._start(undo, sources, begun, skip_completed=False)
            if requests or rollbacks:
                await self._wait_for_api_allocation()
            outcomes = await self._migrate(requests) if requests else []
            if rollbacks:
                outcomes += await self._roll_back(rollbacks)
            if outcomes:
                self._faults.reached("between-load-and-audit")
                with metrics.BATCH_STAGE_SECONDS.labels(stage="audit").time():
                    await self._audit(outcomes)
                    await self.references.fill(outcomes)  # pending references to these
                with metrics.BATCH_STAGE_SECONDS.labels(stage="finish").time():
                    await self._finish(outcomes, sources, begun)
        finally:
            await self._release(latest)

    # decode -----------------------------------------------------------------------------------
    async def _decode(self, event: EventT) -> CustomerReadyForMigration | None:
        """Decoded request; poison goes to the DLQ; a registry outage waits (never skips)."""
        delays = backoff_delays(0.5, 10.0)
        while True:
            try:
                data = await self.runtime.codec.decode(event.value, CUSTOMER_SUBJECT)
                return CustomerReadyForMigration.from_avro(data)
            except PoisonMessage as exc:
                await self._dead_letter(event, exc)
                return None
            except RegistryUnavailable as exc:
                metrics.RETRIES.labels(kind="registry").inc()
                delay = next(delays)
                log.warning("registry unavailable (%s); retrying decode in %.1fs", exc, delay)
                await asyncio.sleep(delay)

    async def _dead_letter(self, event: EventT, exc: PoisonMessage) -> None:
        message = event.message
        headers = (
            list((message.headers or {}).items())
            if isinstance(message.headers, dict)
            else list(message.headers or [])
        )
        headers += dlq_headers(exc, message.topic, message.partition, message.offset)
        await self.dlq_topic.send(key=message.key, value=message.value, headers=headers)
        metrics.DLQ_MESSAGES.labels(reason=exc.reason).inc()
        log.warning(
            "customer event %s/%s@%s to DLQ: %s",
            message.topic,
            message.partition,
            message.offset,
            exc,
        )

    # per-customer exclusivity -----------------------------------------------------------------
    async def _claim(self, batch: dict[str, Any]) -> None:
        """Events for the same customer are never processed concurrently (agent concurrency > 1)."""
        async with self._released:
            await self._released.wait_for(lambda: not (batch.keys() & self._in_flight))
            self._in_flight.update(batch)

    async def _release(self, batch: dict[str, Any]) -> None:
        async with self._released:
            self._in_flight.difference_update(batch)
            self._released.notify_all()

    # state ------------------------------------------------------------------------------------
    def _set_state(
        self,
        customer_id: str,
        old: MigrationState | None,
        state: MigrationState,
        source: EventT,
    ) -> None:
        """Write with the customer's own event as current, so the changelog entry lands on the
        partition of the customer's events (a batch holds events of several partitions), and
        move the customer in that partition's counts (``old``: the value replaced, if any)."""
        with faust_internals.current_event(source):
            self.table[customer_id.encode()] = state
        if state.status == CustomerStatus.COMPLETED.value:
            self._remember_completed(customer_id, state.correlation_id)
        else:
            self._completed.pop(customer_id, None)
        self.counts.record(
            source.message.partition,
            Counted.of(old) if old is not None else None,
            Counted.of(state),
        )

    def _start(
        self,
        requests: Iterable[CustomerReadyForMigration],
        sources: dict[str, EventT],
        begun: dict[str, MigrationState],
        *,
        skip_completed: bool = True,
    ) -> list[MigrationRequest]:
        """IN_PROGRESS with the next attempt for each request (``begun`` gets the state
        written: the claim keeps the customer's entry unchanged until ``_finish``)."""
        out = []
        for request in requests:
            cid = request.customer_id
            old: MigrationState | None = self.table.get(cid.encode())
            if skip_completed and should_skip(old, force=request.force):
                metrics.DUPLICATE_EVENTS.inc()  # its earlier batch completed it: no state change
                continue
            state = started(old or new_state(cid), request.correlation_id)
            self._set_state(cid, old, state, sources[cid])
            begun[cid] = state
            interrupted = old is not None and old.status == CustomerStatus.IN_PROGRESS.value
            out.append(
                MigrationRequest(
                    cid,
                    request.correlation_id,
                    state.attempt,
                    request.dry_run,
                    interrupted_attempt=old.attempt if old is not None and interrupted else None,
                )
            )
        return out

    async def _wait_for_api_allocation(self) -> None:
        """Pause new work (state kept) while V2's remaining daily API calls are under the floor."""
        sf2, floor = self.runtime.sf2, self.runtime.settings.sf_api_floor
        delays = backoff_delays(5.0, 60.0)
        while sf2.api_remaining is not None and sf2.api_remaining < floor:
            delay = next(delays)
            log.warning(
                "V2 API allocation %s < floor %s; pausing %.0fs", sf2.api_remaining, floor, delay
            )
            await asyncio.sleep(delay)
            try:
                await sf2.limits()
            except (SalesforceTransientError, SalesforcePermanentError) as exc:
                log.warning("limits check failed: %s", exc)

    # migrate ----------------------------------------------------------------------------------
    async def _migrate(self, requests: list[MigrationRequest]) -> list[CustomerOutcome]:
        delays = backoff_delays(1.0, 15.0)
        for attempt in range(1, MAX_BATCH_ATTEMPTS + 1):
            try:
                return await self._pause_while_refused(lambda: self.pipeline.migrate(requests))
            except SalesforcePermanentError as exc:
                return _all_failed(requests, str(exc), SALESFORCE_ERROR)
            except SalesforceTransientError as exc:
                if attempt == MAX_BATCH_ATTEMPTS:
                    return _all_failed(
                        requests,
                        f"transient failure after {attempt} attempts: {exc}",
                        RETRIES_EXHAUSTED,
                    )
                metrics.RETRIES.labels(kind="batch").inc()
                delay = next(delays)
                log.warning("batch of %d failed (%s); retry in %.1fs", len(requests), exc, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _pause_while_refused(
        self, call: Callable[[], Awaitable[list[CustomerOutcome]]]
    ) -> list[CustomerOutcome]:
        """An org refusing our credentials is a configuration fault, not the customers': the
        batch waits (states stay IN_PROGRESS, nothing is acked) and logs in again with backoff,
        instead of failing every customer of every batch until someone re-enqueues them all.
        Each login reads the JWT key file again, so a rotated key is picked up without a
        restart; a restart (new secrets) replays the waiting batches."""
        delays = backoff_delays(5.0, 60.0)
        while True:
            try:
                return await call()
            except SalesforceAuthError as exc:
                metrics.RETRIES.labels(kind="auth").inc()
                delay = next(delays)
                log.error("%s; batch paused, logging in again in %.0fs", exc, delay)
                await asyncio.sleep(delay)

    async def _roll_back(self, requests: list[MigrationRequest]) -> list[CustomerOutcome]:
        """Delete what the ledger says this project created; Salesforce failures are retried
        like a migration's, a permanent one fails the rollback (the ledger lets it resume)."""
        delays = backoff_delays(1.0, 15.0)
        for attempt in range(1, MAX_BATCH_ATTEMPTS + 1):
            try:
                return await self._pause_while_refused(
                    lambda: roll_back(
                        requests, self.runtime.spec, self.runtime.audit, self.runtime.sf2
                    )
                )
            except SalesforcePermanentError as exc:
                return _all_failed(requests, f"rollback failed: {exc}", ROLLBACK_FAILED)
            except (SalesforceTransientError, AuditUnavailable) as exc:
                if attempt == MAX_BATCH_ATTEMPTS:
                    return _all_failed(
                        requests,
                        f"rollback failed after {attempt} attempts: {exc}",
                        ROLLBACK_FAILED,
                    )
                delay = next(delays)
                log.warning("rollback of %d failed (%s); retry in %.1fs", len(requests), exc, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _audit(self, outcomes: list[CustomerOutcome]) -> None:
        """Commit audit rows; while PostgreSQL is down wait and retry: nothing is done unaudited."""
        worker = self.runtime.worker_name
        runs = [_run_record(outcome, worker) for outcome in outcomes]
        delays = backoff_delays(0.5, 10.0)
        while True:
            try:
                await self.references.record(outcomes)  # before the runs say COMPLETED
                await self.runtime.audit.record_runs(runs)
                return
            except AuditUnavailable as exc:
                metrics.RETRIES.labels(kind="database").inc()
                delay = next(delays)
                log.warning("audit database unavailable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)

    async def _finish(
        self,
        outcomes: list[CustomerOutcome],
        sources: dict[str, EventT],
        begun: dict[str, MigrationState],
    ) -> None:
        """Results acknowledged by the broker, then the terminal states (module docstring)."""
        await self._publish_results(outcomes)
        self._faults.reached("between-result-and-state")
        for outcome in outcomes:
            cid = outcome.customer_id
            errors = [i for i in outcome.issues if i.is_error]
            old = begun[cid]
            state = finished(
                old,
                outcome.status,
                counts=outcome.counts,
                warnings=len(outcome.issues) - len(errors),
                errors=len(errors),
                v2_account_id=outcome.v2_account_id,
                last_error=outcome.error,
                now=outcome.finished_at,
            )
            self._set_state(cid, old, state, sources[cid])
            metrics.MIGRATIONS.labels(status=outcome.status.value).inc()
            if outcome.status == CustomerStatus.COMPLETED:
                self.runtime.verifier.offer(cid)  # MIGRATION_VERIFY_SAMPLE, off the hot path
            metrics.MIGRATION_DURATION.observe(max(0.0, outcome.finished_at - outcome.started_at))
        if self._table_durable is not None:
            # memory:// rebuilds the table from the changelog: a state whose changelog record
            # was still buffered when the offset got committed would come back IN_PROGRESS.
            await self._table_durable()

    async def _publish_results(self, outcomes: list[CustomerOutcome]) -> None:
        """Send every result event of the batch and wait until the broker has acknowledged
        all of them; a send the producer gives up on (its request timeout) is sent again, so
        the batch waits through a broker outage as it waits through a PostgreSQL one."""
        codec = self.runtime.codec
        encoded = {
            o.customer_id: codec.encode(_result_event(o).to_avro(), RESULT_SUBJECT)
            for o in outcomes
        }
        pending = {cid: await self._send_result(cid, value) for cid, value in encoded.items()}
        delays = backoff_delays(0.5, 10.0)
        while pending:
            done, _ = await asyncio.wait(pending.values(), timeout=ACK_WAIT_LOG_INTERVAL)
            if not done:
                log.warning("waiting for the broker to acknowledge %d result events", len(pending))
                continue
            failed = []
            for cid, sent in list(pending.items()):
                if sent.done():
                    del pending[cid]
                    if sent.exception() is not None:
                        failed.append((cid, sent.exception()))
            if failed:
                metrics.RETRIES.labels(kind="result").inc()
                delay = next(delays)
                log.warning(
                    "%d result events not acknowledged (%r); sending again in %.1fs",
                    len(failed),
                    failed[0][1],
                    delay,
                )
                await asyncio.sleep(delay)
                for cid, _ in failed:
                    pending[cid] = await self._send_result(cid, encoded[cid])

    async def _send_result(self, customer_id: str, value: bytes) -> asyncio.Future[Any]:
        """Hand one result to the producer; the future resolves when the broker acks it."""
        sent = await self.result_topic.send(key=customer_id.encode(), value=value, force=True)
        return asyncio.ensure_future(sent)


#: issue codes of failures of a whole batch (each customer of it gets one, in its audit rows and
#: in its result event's ``errors``)
SALESFORCE_ERROR = "SALESFORCE_ERROR"
RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"
ROLLBACK_FAILED = "ROLLBACK_FAILED"


def _file_loader(runtime: Runtime, faults: FaultPoints) -> FileLoader | None:
    """The worker's file copier when the mapping migrates files (its byte budget is shared by
    every batch this processor runs)."""
    files = getattr(runtime.spec, "files", None)
    if files is None:
        return None
    s = runtime.settings
    settings = FileSettings(
        bytes_in_flight=s.file_bytes_in_flight,
        concurrency=s.file_concurrency,
        base64_max_bytes=s.file_base64_max_bytes,
    )
    return FileLoader(runtime.spec, files, runtime.sf1, runtime.sf2, settings, faults=faults)


def _all_failed(
    requests: Sequence[MigrationRequest], error: str, code: str
) -> list[CustomerOutcome]:
    now = datetime.now(UTC).timestamp()
    return [
        CustomerOutcome(
            request=r,
            status=CustomerStatus.FAILED,
            started_at=now,
            finished_at=now,
            error=error,
            issues=[Issue(ERROR, "Account", r.customer_id, None, code, error)],
        )
        for r in requests
    ]


def _run_record(outcome: CustomerOutcome, worker: str) -> RunRecord:
    return RunRecord(
        customer_id=outcome.customer_id,
        attempt=outcome.request.attempt,
        status=outcome.status.value,
        correlation_id=outcome.request.correlation_id,
        started_at=outcome.started_at,
        finished_at=outcome.finished_at,
        worker=worker,
        counts=outcome.counts,
        rejected=outcome.rejected,
        error=outcome.error,
        issues=outcome.issues,
        records=outcome.records,
    )


def _result_event(outcome: CustomerOutcome) -> CustomerMigrationResult:
    def issue(i: Any) -> MigrationIssue:
        return MigrationIssue(
            object=i.object,
            legacy_id=i.legacy_id or "",
            code=i.code,
            message=i.message,
            field=i.field,
        )

    return CustomerMigrationResult(
        customer_id=outcome.customer_id,
        status=outcome.status.value,
        attempt=outcome.request.attempt,
        correlation_id=outcome.request.correlation_id,
        v2_account_id=outcome.v2_account_id,
        counts=outcome.counts,
        warnings=[issue(i) for i in outcome.issues if not i.is_error],
        errors=[issue(i) for i in outcome.issues if i.is_error],
        started_at=datetime.fromtimestamp(outcome.started_at, UTC),
        finished_at=datetime.fromtimestamp(outcome.finished_at, UTC),
    )
