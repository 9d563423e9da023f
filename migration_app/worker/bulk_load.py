"""The ``bulk`` load strategy: Bulk API 2.0 ingest jobs, per customer all or nothing by
compensation.

A batch's writes become one job per V2 object per kind (``migration/bulk_plan.py``): records new
to V2 in ``insert`` jobs with their audit fields, records already in V2 in ``upsert`` jobs by
``Legacy_Id__c`` without them (``write_plan`` decides, as for graph and collections). Levels run in
the mapping's load order: every job of a level finishes before the next level starts, so a child's
``Account.Legacy_Id__c`` finds its parent; a customer that failed at a level has nothing of it sent
at the later ones.

Each job: create, upload (one PUT), ``UploadComplete``, then its state polled with backoff until
it ends or ``bulk_deadline_s`` passes (then it is aborted: whatever it did not process counts as
failed). Every call goes through the Salesforce client (timeouts, executor): nothing blocks the
loop. Results (``successfulResults`` / ``failedResults`` / ``unprocessedrecords``, in no
guaranteed order) are matched to records by the external id they echo.

All or nothing, per customer, by compensation. Bulk API commits per record, so atomicity is ours
to restore: once the levels are done, every customer with a failed, unprocessed or unanswered
record is FAILED with the record and Salesforce's error named, and what THIS attempt created for
it (``sf__Created`` true: the ledger rows of action ``created``) is deleted, children first. It is
then absent from V2 as after a failed graph. Two things compensation cannot do, said in the
customer's audit: records this attempt *updated* (upserts of records already in V2) keep the new
values (``BULK_UPDATE_KEPT``: Salesforce has no undo of an update); a delete Salesforce refuses
leaves the record, in the ledger as ``created`` so ``rollback`` can delete it later
(``COMPENSATION_INCOMPLETE``). If the batch fails as a whole (a call that kept failing), every
record this attempt created is deleted before the error propagates: the retry starts from V2 as
it was.

An insert met by ``DUPLICATE_VALUE`` on the external id (the record is in V2 after all: a lost
answer, an interrupted attempt) is decided as the graph path decides it: those records are read
from V2 (one query per object per 200, ``v2_state``) and put under the conflict guard
(``write_plan.decide``, the mapping's ``on_conflict``; ``worker/conflict_guard.py``, shared with
the collections path): resent in an upsert job without audit fields (ledger: ``uncertain``), kept
as V2 has them, or their customer failed, with the same ``CONFLICT`` issues (a failed customer's
other duplicates are not resent). An insert refused only for the audit fields (V2 lacks "Set Audit
Fields upon Record Creation") is resent without them.

A level ends whole or not at all: when one of its jobs fails or is aborted (or a call of one
raises), the level's other jobs still running are aborted and waited for until they end
(``LevelHalt``); their records left unprocessed fail their customers, who are then compensated
like the others. Without it a sibling kept writing while its customers were being failed, or
(a call that raised) while the batch's compensation ran, leaving records behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from migration_app.backoff import backoff_delays
from migration_app.contracts.customer_status import CustomerStatus
from migration_app.migration.bulk_plan import (
    UNPROCESSED,
    BulkJobPlan,
    RowResult,
    parse_results,
    plan_jobs,
)
from migration_app.migration.chunks import chunked
from migration_app.migration.issues import CREATED_DATE_NOT_SET, ERROR, WARNING, Issue
from migration_app.migration.spec import MappingSpec
from migration_app.migration.write_plan import AUDIT_FIELDS, CustomerWrites, without_audit_fields
from migration_app.salesforce.errors import TRANSIENT_RECORD_ERRORS, SalesforceTransientError
from migration_app.worker.conflict_guard import Reread, guard_duplicates

log = logging.getLogger(__name__)

TERMINAL = ("JobComplete", "Failed", "Aborted")
RESULT_KINDS = ("successfulResults", "failedResults", "unprocessedrecords")
DUPLICATE_VALUE = "DUPLICATE_VALUE"
INVALID_FOR_UPDATE = "INVALID_FIELD_FOR_INSERT_UPDATE"
NO_RESULT = "NO_RESULT"
#: a record whose job was not sent because a sibling job of its level had failed
LEVEL_HALTED = "BULK_LEVEL_HALTED"
COMPENSATED = "BULK_COMPENSATED"
UPDATE_KEPT = "BULK_UPDATE_KEPT"
COMPENSATION_INCOMPLETE = "COMPENSATION_INCOMPLETE"
#: rounds of resending refused inserts (as upserts, or without audit fields) per job
MAX_RESENDS = 2


class BulkTarget(Protocol):
    async def bulk_create_job(self, body: dict[str, Any]) -> dict[str, Any]: ...
    async def bulk_upload(self, job_id: str, csv_text: str) -> None: ...
    async def bulk_set_state(self, job_id: str, state: str) -> dict[str, Any]: ...
    async def bulk_job(self, job_id: str) -> dict[str, Any]: ...
    async def bulk_results(self, job_id: str, kind: str) -> str: ...
    async def delete_collection(self, ids: Sequence[str]) -> list[dict[str, Any]]: ...


#: (outcome, V2 object, legacy id, {"id", "created"}): the pipeline's ledger rule
Ledger = Callable[[Any, str, str, dict[str, Any]], None]


class JobJournal(Protocol):
    """Where jobs are recorded durably (``audit.bulk_jobs.BulkJobJournal``)."""

    async def record(
        self,
        job_id: str,
        object_name: str,
        operation: str,
        customer_ids: Sequence[str],
        correlation_ids: Sequence[str] = (),
    ) -> None: ...

    async def unsettled(self, customer_ids: Sequence[str]) -> list[str]: ...

    async def settle(self, job_ids: Sequence[str], outcome: str) -> None: ...


class LevelHalt:
    """Set once a job of a level failed or was aborted: the level's other jobs stop (why: the
    module docstring). The first reason is kept, for the audit of the records it cost."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._event = asyncio.Event()

    def set(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def nap(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the level is halted meanwhile."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._event.wait()


class BulkLoad:
    """One batch's bulk load (``load``); a new instance per batch."""

    def __init__(
        self,
        spec: MappingSpec,
        target: BulkTarget,
        ledger: Ledger,
        *,
        slots: asyncio.Semaphore,
        deadline_s: float = 600.0,
        poll_base_s: float = 0.05,
        poll_cap_s: float = 2.0,
        journal: JobJournal | None = None,
        reached: Callable[[str], None] | None = None,
        reread: Reread | None = None,
    ) -> None:
        self.spec = spec
        self.target = target
        self._ledger = ledger
        self._slots = slots
        self.deadline_s = deadline_s
        self.poll_base_s = poll_base_s
        self.poll_cap_s = poll_cap_s
        self._journal = journal
        self._reached = reached
        self._reread = reread
        self._settle: list[str] = []  # this batch's jobs, settled once their outcome is taken
        self.jobs_sent = 0
        self.compensated: list[str] = []

    async def load(self, writes: list[CustomerWrites], outcomes: dict[str, Any]) -> None:
        transient: list[str] = []
        await self.recover([w.customer_id for w in writes])
        try:
            levels: dict[int, list[BulkJobPlan]] = defaultdict(list)
            for job in plan_jobs(writes, self.spec):
                levels[job.level].append(job)
            for level in sorted(levels):
                live = [j for j in (_without_failed(j, outcomes) for j in levels[level]) if j]
                await self._level(live, outcomes, transient)
        except BaseException:
            # the batch fails as a whole and will be retried: undo what it created
            await asyncio.shield(self._compensate(list(outcomes.values()), whole_batch=True))
            await asyncio.shield(self._settled("batch failed, compensated"))
            raise
        await self._compensate([o for o in outcomes.values() if o.status == CustomerStatus.FAILED])
        await self._settled("results taken")
        if transient:
            raise SalesforceTransientError(
                f"bulk record errors worth retrying: {sorted(set(transient))}"
            )

    async def _level(
        self, jobs: list[BulkJobPlan], outcomes: dict[str, Any], transient: list[str]
    ) -> None:
        """A level's jobs at once; if one raises, the others are halted and waited for before
        the error propagates (the batch's compensation must not race a job still writing)."""
        halt = LevelHalt()
        tasks = [asyncio.ensure_future(self._job(j, outcomes, transient, halt)) for j in jobs]
        try:
            await asyncio.gather(*tasks)
        except BaseException as exc:
            halt.set(f"a sibling job's call failed ({type(exc).__name__})")
            await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
            raise

    # one job -----------------------------------------------------------------------------------
    async def _job(
        self,
        job: BulkJobPlan,
        outcomes: dict[str, Any],
        transient: list[str],
        halt: LevelHalt,
        resends: int = 0,
    ) -> None:
        rows = await self._run(job, halt)
        owner = job.owner_of()
        records = {str(r[job.external_id_field]): r for r in job.records}
        answered: set[str] = set()
        duplicates: list[tuple[dict[str, Any], str]] = []
        as_insert: list[tuple[dict[str, Any], str]] = []
        source = self.spec.by_target(job.object).source
        root = self.spec.root.target
        for row in rows:
            customer_id = owner.get(row.legacy_id)
            if customer_id is None or row.legacy_id in answered:
                continue
            answered.add(row.legacy_id)
            outcome = outcomes[customer_id]
            if row.ok:
                outcome.counts[job.object] = outcome.counts.get(job.object, 0) + 1
                if job.object == root:
                    outcome.v2_account_id = row.v2_id
                self._ledger(
                    outcome, job.object, row.legacy_id, {"id": row.v2_id, "created": row.created}
                )
                continue
            record = records[row.legacy_id]
            if resends < MAX_RESENDS and job.create and _duplicate(row, job.external_id_field):
                outcome.found_after_duplicate = True
                duplicates.append((record, customer_id))
                continue
            if (
                resends < MAX_RESENDS
                and job.create
                and row.code == INVALID_FOR_UPDATE
                and set(row.fields) & AUDIT_FIELDS
                and AUDIT_FIELDS & record.keys()
            ):
                outcome.issues.append(_audit_refused(source, row.legacy_id))
                as_insert.append((without_audit_fields(record), customer_id))
                continue
            if row.code in TRANSIENT_RECORD_ERRORS:
                transient.append(row.code)
            self._fail(outcome, job, source, row)
        for legacy, customer_id in owner.items():
            if legacy not in answered:
                row = RowResult(legacy, False, code=NO_RESULT, message="no result row for it")
                self._fail(outcomes[customer_id], job, source, row)
        as_upsert = await guard_duplicates(
            self.spec, job.object, job.external_id_field, duplicates, outcomes, self._reread
        )
        again = []
        for pairs, create in ((as_upsert, False), (as_insert, True)):
            if pairs:
                again.append(
                    replace(
                        job,
                        create=create,
                        records=tuple(r for r, _ in pairs),
                        customer_ids=tuple(c for _, c in pairs),
                    )
                )
        await asyncio.gather(*(self._job(j, outcomes, transient, halt, resends + 1) for j in again))

    def _fail(self, outcome: Any, job: BulkJobPlan, source: str, row: RowResult) -> None:
        outcome.fail(
            f"{job.object} {row.legacy_id}: {row.code} (bulk {job.operation}; what this attempt "
            "created for the customer is deleted)",
            Issue(
                ERROR,
                source,
                row.legacy_id,
                ",".join(row.fields) or None,
                row.code,
                row.message,
            ),
        )

    async def _run(self, job: BulkJobPlan, halt: LevelHalt) -> list[RowResult]:
        """Create, upload, close, wait; the job's result rows. Not sent once the level is
        halted; a job that fails or is aborted halts its level."""
        if halt.is_set():
            return [_halted(job, legacy, halt) for legacy in job.owner_of()]
        async with self._slots:
            info = await self.target.bulk_create_job(job.job_body())
        job_id = str(info["id"])
        self.jobs_sent += 1
        try:
            if self._journal is not None:  # durable before any record can be written
                await self._journal.record(job_id, job.object, job.operation, job.customer_ids)
            self._settle.append(job_id)
            async with self._slots:
                await self.target.bulk_upload(job_id, job.csv())
                await self.target.bulk_set_state(job_id, "UploadComplete")
            if self._reached is not None:
                self._reached("during-bulk-job")
            state = await self._wait(job_id, halt)
        except BaseException:  # a call kept failing, or cancelled: the job must not run on
            await asyncio.shield(self._abort(job_id))
            raise
        halted_by = halt.reason  # before this job's own end halts the level
        if state in ("Failed", "Aborted"):
            log.warning("bulk job %s (%s %s) %s", job_id, job.operation, job.object, state)
            halt.set(f"bulk job {job_id} ({job.operation} {job.object}) ended {state}")
        rows = await self.results(job_id, job.external_id_field)
        if state == "Aborted" and halted_by is not None:
            rows = [_aborted_by(row, halted_by) for row in rows]
        return rows

    async def results(self, job_id: str, external_id_field: str) -> list[RowResult]:
        async with self._slots:
            texts = await asyncio.gather(
                *(self.target.bulk_results(job_id, kind) for kind in RESULT_KINDS)
            )
        rows: list[RowResult] = []
        for kind, text in zip(RESULT_KINDS, texts, strict=True):
            rows += parse_results(text, kind, external_id_field)
        return rows

    async def _wait(self, job_id: str, halt: LevelHalt | None = None) -> str:
        """Poll with capped backoff until the job ends; once its level is halted abort it and
        poll on until it has ended; past the deadline abort it."""
        deadline = time.monotonic() + self.deadline_s
        delays = backoff_delays(self.poll_base_s, self.poll_cap_s)
        aborted = False
        while True:
            info = await self.target.bulk_job(job_id)
            state = str(info.get("state"))
            if state in TERMINAL:
                return state
            if halt is not None and halt.is_set() and not aborted:
                log.warning("bulk job %s still %s: aborted (%s)", job_id, state, halt.reason)
                await self._abort(job_id)
                aborted = True
                continue
            if time.monotonic() >= deadline:
                log.warning(
                    "bulk job %s still %s after %.0fs: aborted", job_id, state, self.deadline_s
                )
                await self._abort(job_id)
                return "Aborted"
            delay = min(next(delays), max(0.0, deadline - time.monotonic()))
            if halt is None or aborted:
                await asyncio.sleep(delay)
            else:
                await halt.nap(delay)

    async def _abort(self, job_id: str) -> None:
        try:
            await self.target.bulk_set_state(job_id, "Aborted")
        except Exception as exc:  # already ended, or the org unreachable: nothing more to do
            log.info("bulk job %s not aborted: %s", job_id, exc)

    # crash safety ------------------------------------------------------------------------------
    async def recover(self, customer_ids: Sequence[str]) -> None:
        """Jobs of an earlier attempt of these customers that nobody settled (a worker killed
        mid-job): each is aborted if still running and waited for until it ends, then settled.

        Abandon, not adopt: the attempt that created the job is gone with its outcomes, so its
        results cannot be applied to them; what the job wrote before it ended is in V2 under
        the customers' external ids, and this attempt (an interrupted one: V2 is read first,
        ``pipeline``) upserts those records instead of creating them again, its ledger calling
        them ``uncertain``. Waiting for the end matters: a job still inserting while this
        attempt compensates a customer could leave that customer's records behind. No duplicate
        either way (the external id is unique) and no lost customer (its event is redelivered:
        the batch's offsets are committed only after its audit)."""
        if self._journal is None or not customer_ids:
            return
        for job_id in await self._journal.unsettled(customer_ids):
            state = "gone"
            try:
                info = await self.target.bulk_job(job_id)
                state = str(info.get("state"))
                if state not in TERMINAL:
                    await self._abort(job_id)
                    state = await self._wait(job_id)
            except Exception as exc:  # deleted (7 days) or unknown: nothing more will run
                if "404" not in str(exc) and "NOT_FOUND" not in str(exc):
                    raise
            log.warning("bulk job %s of an interrupted attempt found %s: settled", job_id, state)
            await self._journal.settle([job_id], f"abandoned ({state})")

    async def _settled(self, outcome: str) -> None:
        jobs, self._settle = self._settle, []
        if self._journal is not None and jobs:
            await self._journal.settle(jobs, outcome)

    # compensation ------------------------------------------------------------------------------
    async def _compensate(self, victims: list[Any], *, whole_batch: bool = False) -> None:
        """Delete what this attempt created for ``victims``, children first."""
        created = [(o, e) for o in victims for e in o.records if e.action == "created" and e.v2_id]
        if not created:
            return
        deleted: set[str] = set()
        refused: dict[str, str] = {}
        order = {obj.target: i for i, obj in enumerate(self.spec.objects)}
        by_object: dict[str, list[str]] = defaultdict(list)
        for _, entry in created:
            by_object[entry.object].append(entry.v2_id)
        for obj in sorted(by_object, key=lambda o: -order.get(o, 0)):
            for ids in chunked(by_object[obj], 200):
                try:
                    async with self._slots:
                        results = await self.target.delete_collection(list(ids))
                except Exception as exc:
                    for v2_id in ids:
                        refused[v2_id] = f"delete failed: {exc}"
                    continue
                for v2_id, result in zip(ids, results, strict=False):
                    if result.get("success") or _already_gone(result):
                        deleted.add(v2_id)
                    else:
                        errors = result.get("errors") or [{}]
                        refused[v2_id] = str(errors[0].get("statusCode") or "UNKNOWN")
        for outcome in {id(o): o for o, _ in created}.values():
            mine = [e for e in outcome.records if e.action == "created" and e.v2_id in deleted]
            outcome.records = [e for e in outcome.records if e not in mine]
            self.compensated.append(outcome.customer_id)
            if whole_batch:
                continue
            outcome.counts.clear()

            def say(severity: str, code: str, message: str, outcome: Any = outcome) -> None:
                """An issue about the whole customer (on its root record)."""
                outcome.issues.append(
                    Issue(severity, self.spec.root.source, outcome.customer_id, None, code, message)
                )

            say(
                WARNING,
                COMPENSATED,
                f"bulk: {len(mine)} record(s) this attempt created deleted again, children "
                "first (the customer is all or nothing)",
            )
            kept = [e for e in outcome.records if e.action in ("updated", "uncertain")]
            if kept:
                say(
                    WARNING,
                    UPDATE_KEPT,
                    f"bulk: {len(kept)} record(s) already in V2 were updated by this attempt "
                    "and keep the new values (an update cannot be undone): "
                    + ", ".join(f"{e.object} {e.legacy_id}" for e in kept[:10]),
                )
            left = [e for e in outcome.records if e.action == "created"]
            if left:
                say(
                    ERROR,
                    COMPENSATION_INCOMPLETE,
                    f"bulk: {len(left)} created record(s) could not be deleted and stay in "
                    "V2 (ledger: created; rollback deletes them): "
                    + ", ".join(
                        f"{e.object} {e.legacy_id} ({refused.get(e.v2_id, '?')})" for e in left[:10]
                    ),
                )


def _without_failed(job: BulkJobPlan, outcomes: dict[str, Any]) -> BulkJobPlan | None:
    keep = [
        i for i, cid in enumerate(job.customer_ids) if outcomes[cid].status != CustomerStatus.FAILED
    ]
    if len(keep) == len(job.records):
        return job
    if not keep:
        return None
    return replace(
        job,
        records=tuple(job.records[i] for i in keep),
        customer_ids=tuple(job.customer_ids[i] for i in keep),
    )


def _halted(job: BulkJobPlan, legacy_id: str, halt: LevelHalt) -> RowResult:
    message = f"not sent: {halt.reason}; the level's other jobs were stopped"
    return RowResult(legacy_id, False, code=LEVEL_HALTED, message=message)


def _aborted_by(row: RowResult, reason: str) -> RowResult:
    """An unprocessed row of a job aborted because its level was halted: say why."""
    if row.code != UNPROCESSED:
        return row
    return replace(row, message=f"not processed: the job was aborted because {reason}")


def _duplicate(row: RowResult, external_id_field: str) -> bool:
    return row.code == DUPLICATE_VALUE and (
        external_id_field in row.fields or f"found: {external_id_field} " in row.message
    )


def _already_gone(result: dict[str, Any]) -> bool:
    codes = {e.get("statusCode") for e in result.get("errors") or []}
    return bool(codes) and codes <= {"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"}


def _audit_refused(v1_object: str, legacy_id: str) -> Issue:
    return Issue(
        WARNING,
        v1_object,
        legacy_id,
        "CreatedDate",
        CREATED_DATE_NOT_SET,
        'V2 refused the audit fields on a bulk insert (the integration user lacks "Set Audit '
        "Fields upon Record Creation\"): inserted again without them, with V2's creation date",
    )
