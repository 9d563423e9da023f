"""Bulk API 2.0 ingest: jobs under /services/data/vXX.X/jobs/ingest, as Salesforce documents them.

Why: a migration team loads large waves with Bulk API 2.0 ("more than 2,000 records is a good
candidate"), and gives up per-record ordering and atomicity for it. The sandbox processes a job
as the org would: in the background, in internal batches of 10,000 records, at most
`bulk_parallel_batches` batches of the whole org at once, each taking the cost model's time
(asyncio sleeps), every record through the same validation and write rules as the REST API,
so failedResults carry real errors.

Documented and followed (Bulk API 2.0 and Bulk API Developer Guide): create job (object,
operation insert/upsert/update/delete, externalIdFieldName, contentType CSV, columnDelimiter,
lineEnding); Upload Job Data (PUT .../batches, text/csv, 201, at most 150 MB of base64-encoded
content, i.e. about 100 MB of CSV); PATCH state UploadComplete / Aborted; job info (state,
numberRecordsProcessed, numberRecordsFailed, ...); successfulResults (sf__Id, sf__Created + the
columns), failedResults (sf__Id, sf__Error + the columns), unprocessedrecords (the columns), in no
guaranteed order; relationship columns `RelationshipName.IndexedFieldName`
(`Account.Legacy_Id__c`); 150,000,000 records and 15,000 batches (shared with Bulk API) per
rolling 24 h; jobs deleted after 7 days; GET jobs/ingest; DELETE a job.

NOT confirmed from the docs (chosen to be plausible, kept in one place each):
- the error codes, statuses and texts of refused calls: a job in the wrong state (409
  INVALIDJOBSTATE), a second upload (409 BULK_API_ERROR "Found multiple contents for job ..."),
  an upload over 150 MB (413 EXCEEDED_QUOTA), an unknown object (400 INVALIDENTITY), an upsert
  without externalIdFieldName (400 INVALIDJOB);
- a job's errorMessage when its header names an unknown field ("InvalidBatch : Field name not
  found : X") or when the daily allocation runs out mid-job;
- the sf__Error format `STATUS_CODE:message:field,field --`;
- the polymorphic header `Type:Relationship.Field` (e.g. `Case:What.Legacy_Id__c`), taken from
  Bulk API 1.0's docs on polymorphic relationship columns;
- audit fields through Bulk API 2.0 specifically: Help 000176484 says for the API in general
  that "Set Audit Fields upon Record Creation" works "for INSERT, not UPSERT"; a Bulk insert
  accepts them like a REST create, a Bulk upsert refuses them (also when it inserts), with the
  REST API's INVALID_FIELD_FOR_INSERT_UPDATE;
- numberRecordsProcessed counting failed records too (as here);
- what Salesforce does with a CSV whose line endings differ from lineEnding (here: both read);
- empty cells leave a field unset, `#N/A` sets it to null (documented for Bulk API 1.0 CSV).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import itertools
import shutil
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import ids
from .cost_model import (
    BULK_BATCH_RECORDS,
    BULK_DAILY_BATCHES,
    BULK_DAILY_RECORDS,
    BULK_JOB_LIFESPAN_S,
    CostModel,
)
from .errors import SfError, not_found
from .messages import ApiRequest, ApiResponse
from .schema import FieldDef, ObjectDef

if TYPE_CHECKING:
    from .api import Org

#: "A request can provide CSV data that does not in total exceed 150 MB of base64 encoded
#: content" (Upload Job Data)
MAX_UPLOAD_BASE64 = 150 * 1024 * 1024
#: records per save inside a batch (Bulk API processes batches in chunks of 200 records)
CHUNK = 200
DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
LINE_ENDINGS = ("LF", "CRLF")
OPERATIONS = ("insert", "upsert", "update", "delete")
TERMINAL = ("JobComplete", "Failed", "Aborted")
NULL_VALUE = "#N/A"
_INT_TYPES = frozenset({"int"})


def base64_size(n: int) -> int:
    """Bytes of the base64 encoding of `n` bytes (what the 150 MB limit counts)."""
    return 4 * ((n + 2) // 3)


def _state_error(message: str) -> SfError:
    return SfError(409, "INVALIDJOBSTATE", message)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{int(ts * 1000) % 1000:03d}+0000"
    )


class SimClock:
    """The org's wall clock, which a test may move forward (POST /__admin/clock)."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def now(self) -> float:
        return time.time() + self.offset_s

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset_s += seconds


@dataclass
class Job:
    id: str
    object: str
    operation: str
    external_id: str | None
    delimiter: str
    line_ending: str
    created_by: str
    api_version: str
    created: float
    modstamp: float
    dir: Path
    state: str = "Open"
    uploaded: bool = False
    processed: int = 0
    failed: int = 0
    error_message: str | None = None
    processing_ms: float = 0.0
    task: asyncio.Task | None = field(default=None, repr=False)

    @property
    def data(self) -> Path:
        return self.dir / "data.csv"

    def result(self, kind: str) -> Path:
        return self.dir / f"{kind}.csv"

    def info(self, full: bool = True) -> dict:
        sep = next(k for k, v in DELIMITERS.items() if v == self.delimiter)
        out: dict = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": _iso(self.created),
            "systemModstamp": _iso(self.modstamp),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "jobType": "V2Ingest",
            "lineEnding": self.line_ending,
            "columnDelimiter": sep,
        }
        if self.external_id:
            out["externalIdFieldName"] = self.external_id
        if self.state == "Open":
            out["contentUrl"] = f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches"
        if full:
            out.update(
                numberRecordsProcessed=self.processed,
                numberRecordsFailed=self.failed,
                retries=0,
                totalProcessingTime=int(self.processing_ms),
                apiActiveProcessingTime=int(self.processing_ms),
                apexProcessingTime=0,
            )
            if self.error_message:
                out["errorMessage"] = self.error_message
        return out


@dataclass(frozen=True)
class _Column:
    """How one CSV column lands in a record body."""

    header: str
    field: str  # the field's name, or the relationship's name
    relationship_field: str | None = None  # IndexedFieldName of a relationship column
    type_name: str | None = None  # a polymorphic column's target type
    fdef: FieldDef | None = None


class _Slots:
    """At most `n()` internal batches of the org processing at once (n may change at run time)."""

    def __init__(self, n: Callable[[], int]) -> None:
        self._n = n
        self.busy = 0
        self.peak = 0
        self._cond = asyncio.Condition()

    async def acquire(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.busy < self._n())
            self.busy += 1
            self.peak = max(self.peak, self.busy)

    async def release(self) -> None:
        async with self._cond:
            self.busy -= 1
            self._cond.notify_all()


class BulkIngest:
    """The Bulk API 2.0 ingest jobs of one org."""

    def __init__(self, org: Org, cost_of: Callable[[], CostModel], root: Path) -> None:
        self.org = org
        self._cost_of = cost_of
        self.root = root
        shutil.rmtree(self.root, ignore_errors=True)  # jobs of an earlier run are gone
        self.root.mkdir(parents=True, exist_ok=True)
        self.clock = SimClock()
        self.jobs: dict[str, Job] = {}
        self.daily_records_max = BULK_DAILY_RECORDS
        self.daily_batches_max = BULK_DAILY_BATCHES
        #: (time, records) of each internal batch processed, for the rolling 24 h window
        self._window: deque[tuple[float, int]] = deque()
        self._slots: _Slots | None = None
        self.deleted_expired = 0

    # -- allocation ---------------------------------------------------------------------------
    def _trim(self) -> None:
        cutoff = self.clock.now() - 24 * 3600
        while self._window and self._window[0][0] <= cutoff:
            self._window.popleft()

    def batches_used(self) -> int:
        self._trim()
        return len(self._window)

    def records_used(self) -> int:
        self._trim()
        return sum(n for _, n in self._window)

    def _allocation_left(self, n: int) -> str | None:
        """Why a batch of `n` records may not run now, or None."""
        if self.batches_used() + 1 > self.daily_batches_max:
            return (
                f"Exceeded the daily limit of {self.daily_batches_max} Bulk API batches "
                "(rolling 24 hours)"
            )
        if self.records_used() + n > self.daily_records_max:
            return (
                f"Exceeded the daily limit of {self.daily_records_max} Bulk API 2.0 records "
                "(rolling 24 hours)"
            )
        return None

    def expire(self) -> None:
        """Delete the jobs (and their data and results) older than 7 days."""
        cutoff = self.clock.now() - BULK_JOB_LIFESPAN_S
        for job in [j for j in self.jobs.values() if j.modstamp <= cutoff]:
            self._drop(job)
            self.deleted_expired += 1

    def _drop(self, job: Job) -> None:
        if job.task is not None and not job.task.done():
            job.task.cancel()
        self.jobs.pop(job.id, None)
        for path in job.dir.glob("*"):
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            job.dir.rmdir()

    def close(self) -> None:
        for job in list(self.jobs.values()):
            self._drop(job)

    def admin_json(self) -> dict:
        return {
            "jobs": len(self.jobs),
            "states": {s: sum(j.state == s for j in self.jobs.values()) for s in _ALL_STATES},
            "batches_used": self.batches_used(),
            "records_used": self.records_used(),
            "daily_batches_max": self.daily_batches_max,
            "daily_records_max": self.daily_records_max,
            "batches_in_progress": self._slots.busy if self._slots else 0,
            "peak_parallel_batches": self._slots.peak if self._slots else 0,
            "deleted_expired": self.deleted_expired,
            "clock": _iso(self.clock.now()),
            "clock_offset_s": self.clock.offset_s,
        }

    # -- REST resources (transport-free, but for the upload) ----------------------------------
    def dispatch(self, req: ApiRequest, seg: list[str]) -> tuple[str, ApiResponse]:
        """`seg`: the path below jobs/ingest."""
        self.expire()
        m, n = req.method, len(seg)
        if n == 0 and m == "POST":
            return "bulk_create_job", ApiResponse(200, self._create(req))
        if n == 0 and m == "GET":
            records = [j.info(full=False) for j in self.jobs.values()]
            return "bulk_list_jobs", ApiResponse(
                200, {"done": True, "records": records, "nextRecordsUrl": None}
            )
        job = self._job(seg[0])
        if n == 1 and m == "GET":
            return "bulk_job_info", ApiResponse(200, job.info())
        if n == 1 and m == "PATCH":
            return "bulk_job_state", ApiResponse(200, self._set_state(job, req.body))
        if n == 1 and m == "DELETE":
            if job.state not in ("UploadComplete", *TERMINAL):
                raise _state_error(f"Job {job.id} is {job.state}: it cannot be deleted now")
            self._drop(job)
            return "bulk_delete_job", ApiResponse(204)
        if n == 2 and m == "GET" and seg[1] in ("successfulResults", "failedResults"):
            return "bulk_results", ApiResponse(200, self._results(job, seg[1]))
        if n == 2 and m == "GET" and seg[1] == "unprocessedrecords":
            return "bulk_results", ApiResponse(200, self._results(job, seg[1]))
        raise not_found()

    def _job(self, raw: str) -> Job:
        job = self.jobs.get(ids.normalize(raw) or raw)
        if job is None:
            raise not_found()
        return job

    def _create(self, req: ApiRequest) -> dict:
        body = req.body
        if not isinstance(body, dict):
            raise SfError(400, "JSON_PARSER_ERROR", "Expected a JSON object for the job")
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise SfError(
                400,
                "INVALIDJOB",
                f"InvalidJob : Invalid operation: {operation} (one of {', '.join(OPERATIONS)})",
            )
        obj = self.org.schema.get(str(body.get("object") or ""))
        if obj is None:
            raise SfError(
                400, "INVALIDENTITY", f"sObject type '{body.get('object')}' is not supported."
            )
        if str(body.get("contentType", "CSV")) != "CSV":
            raise SfError(400, "INVALIDJOB", "InvalidJob : contentType must be CSV")
        delimiter = DELIMITERS.get(str(body.get("columnDelimiter", "COMMA")))
        line_ending = str(body.get("lineEnding", "LF"))
        if delimiter is None or line_ending not in LINE_ENDINGS:
            raise SfError(400, "INVALIDJOB", "InvalidJob : bad columnDelimiter or lineEnding")
        ext = body.get("externalIdFieldName")
        if operation == "upsert":
            fdef = obj.field(str(ext or ""))
            if not ext:
                raise SfError(
                    400,
                    "INVALIDJOB",
                    f"External ID was blank for {obj.name}. An External ID must be specified "
                    "for upsert.",
                )
            if fdef is None or not (fdef.external_id or fdef.name == "Id"):
                raise SfError(
                    400,
                    "INVALIDJOB",
                    f"InvalidJob : Field name provided, {ext} is not an External ID or "
                    f"indexed field for {obj.name}",
                )
            ext = fdef.name
        else:
            ext = None
        now = self.clock.now()
        jid = self.org.ids.new_id("750")
        job = Job(
            id=jid,
            object=obj.name,
            operation=str(operation),
            external_id=ext,
            delimiter=delimiter,
            line_ending=line_ending,
            created_by=req.user_id or self.org.user_id,
            api_version=req.version,
            created=now,
            modstamp=now,
            dir=self.root / jid,
        )
        job.dir.mkdir(parents=True, exist_ok=True)
        self.jobs[jid] = job
        return job.info(full=False)

    async def upload(self, raw_id: str, content_type: str, chunks: AsyncIterator[bytes]) -> None:
        """PUT .../batches: the CSV streamed to the job's file (never held in memory)."""
        self.expire()
        job = self._job(raw_id)
        if job.state != "Open":
            raise _state_error(f"Job {job.id} is {job.state}: data can only be uploaded while Open")
        if job.uploaded:
            raise SfError(
                409,
                "BULK_API_ERROR",
                f"Found multiple contents for job: <{job.id}>, please 'Close' / 'Abort' / "
                "'Delete' the current Job then create a new Job and make sure you only do "
                "'PUT' once on a given Job.",
            )
        if content_type.split(";")[0].strip().lower() != "text/csv":
            raise SfError(400, "INVALIDJOB", "InvalidJob : the job data must be text/csv")
        size = 0
        try:
            with job.data.open("wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if base64_size(size) > MAX_UPLOAD_BASE64:
                        raise SfError(
                            413,
                            "EXCEEDED_QUOTA",
                            "The job data exceeds 150 MB of base64 encoded content (about "
                            "100 MB of CSV): split it into several jobs",
                        )
                    out.write(chunk)
        except BaseException:
            job.data.unlink(missing_ok=True)
            raise
        job.uploaded = True
        job.modstamp = self.clock.now()

    def _set_state(self, job: Job, body: object) -> dict:
        state = body.get("state") if isinstance(body, dict) else None
        if state == "UploadComplete":
            if job.state != "Open":
                raise _state_error(f"Job {job.id} is {job.state}, not Open")
            job.state = "UploadComplete"
            job.modstamp = self.clock.now()
            job.task = asyncio.get_running_loop().create_task(self._process(job))
        elif state == "Aborted":
            if job.state in TERMINAL:
                raise _state_error(f"Job {job.id} is {job.state}: it cannot be aborted")
            job.state = "Aborted"
            job.modstamp = self.clock.now()
        else:
            raise SfError(
                400, "INVALIDJOBSTATE", f"Invalid state: {state} (UploadComplete or Aborted)"
            )
        return job.info(full=False)

    def _results(self, job: Job, kind: str) -> CsvBody:
        if kind == "unprocessedrecords":
            path = job.result("unprocessedrecords")
            if not path.exists() and job.state in ("Open", "UploadComplete", "Aborted"):
                # nothing processed yet: all of the data is unprocessed
                return CsvBody(job.data if job.data.exists() else None)
            return CsvBody(path if path.exists() else None)
        path = job.result(kind)
        return CsvBody(path if path.exists() else None)

    # -- processing ---------------------------------------------------------------------------
    def _slots_of(self) -> _Slots:
        if self._slots is None:
            self._slots = _Slots(lambda: self._cost_of().bulk_parallel_batches)
        return self._slots

    async def _process(self, job: Job) -> None:
        cost = self._cost_of()
        if cost.enabled and cost.bulk_job_start_ms > 0:
            await asyncio.sleep(cost.bulk_job_start_ms / 1000)
        if job.state != "UploadComplete":  # aborted before it started
            return
        job.state = "InProgress"
        job.modstamp = self.clock.now()
        started = time.monotonic()
        try:
            await self._run(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a sandbox bug must not leave the job InProgress forever
            job.state = "Failed"
            job.error_message = f"InternalServerError : {exc}"
        finally:
            job.processing_ms = (time.monotonic() - started) * 1000
            job.modstamp = self.clock.now()

    async def _run(self, job: Job) -> None:
        obj = self.org.schema.objects[job.object]
        with (
            job.data.open("r", encoding="utf-8-sig", newline="") as src,
            _Writers(job) as out,
        ):
            reader = csv.reader(src, delimiter=job.delimiter)
            header = next(reader, None)
            if not header or not any(h.strip() for h in header):
                job.state = "Failed"
                job.error_message = "InvalidBatch : Empty batch"
                return
            out.start(header)
            try:
                columns = _plan(obj, header, job)
            except SfError as exc:
                job.state = "Failed"
                job.error_message = exc.message
                out.unprocessed_rows(reader)
                return
            slots = self._slots_of()
            tasks: set[asyncio.Task] = set()
            for rows in _batches(reader):
                if job.state != "InProgress":  # aborted, or failed on the allocation
                    out.unprocessed_rows(rows)
                    continue
                await slots.acquire()
                # checked and taken with the slot held: no other batch slips in between
                why = self._allocation_left(len(rows))
                if why is not None or job.state != "InProgress":
                    await slots.release()
                    if why is not None and job.state == "InProgress":
                        job.state = "Failed"
                        job.error_message = f"ExceededQuota : {why}"
                    out.unprocessed_rows(rows)
                    continue
                self._window.append((self.clock.now(), len(rows)))
                task = asyncio.get_running_loop().create_task(
                    self._batch(job, obj, columns, rows, out, slots)
                )
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            while tasks:
                await asyncio.gather(*list(tasks))
        if job.state == "InProgress":
            job.state = "JobComplete"

    async def _batch(
        self,
        job: Job,
        obj: ObjectDef,
        columns: list[_Column],
        rows: list[list[str]],
        out: _Writers,
        slots: _Slots,
    ) -> None:
        try:
            ms = self._cost_of().bulk_batch_ms(obj.name, len(rows))
            if ms > 0:
                await asyncio.sleep(ms / 1000)
            for start in range(0, len(rows), CHUNK):
                if job.state == "Aborted":
                    out.unprocessed_rows(rows[start:])
                    return
                self._apply(job, obj, columns, rows[start : start + CHUNK], out)
                await asyncio.sleep(0)  # let API requests in between chunks
        finally:
            await slots.release()

    def _apply(
        self, job: Job, obj: ObjectDef, columns: list[_Column], rows: list[list[str]], out: _Writers
    ) -> None:
        """Save one chunk of records, each on its own (a failed record fails alone), as the
        job's creator. The org's per-request record counters are left as they were (the cost
        of a batch is charged by _batch, not by the API request that happens to be running)."""
        org = self.org
        saved = org.records_processed, org.processed_by_object
        org.take_records_processed()
        org.take_processed_by_object()
        ctx = ApiRequest("POST", "jobs/ingest", version=job.api_version, user_id=job.created_by)
        dupes = _duplicate_keys(columns, rows, job.external_id) if job.external_id else set()
        try:
            with org._request_context(ctx):
                for row in rows:
                    try:
                        rid, created = self._one(job, obj, columns, row, dupes)
                    except SfError as exc:
                        job.failed += 1
                        out.failed(_error_id(job, columns, row), _sf_error(exc), row)
                    else:
                        out.success(rid, created, row)
                    job.processed += 1
        finally:
            org.records_processed, org.processed_by_object = saved

    def _one(
        self, job: Job, obj: ObjectDef, columns: list[_Column], row: list[str], dupes: set
    ) -> tuple[str, bool]:
        org = self.org
        if len(row) != len(columns):
            raise SfError(
                400,
                "INVALID_FIELD",
                f"The record has {len(row)} values but the header names {len(columns)} fields",
            )
        body = _body(columns, row)
        if job.operation == "insert":
            if "Id" in body:
                raise SfError(400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
            return org.create(obj, body)["id"], True
        if job.operation == "upsert":
            res = org._collections._upsert(obj, str(job.external_id), body, dupes)
            return res["id"], bool(res["created"])
        raw = body.pop("Id", None)
        rid = ids.normalize(str(raw)) if raw else None
        if raw in (None, ""):
            raise SfError(400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        if rid is None:
            raise SfError(400, "MALFORMED_ID", f"malformed id {raw}", ["Id"])
        if org.store.get(obj.name, rid) is None:
            raise SfError(400, "ENTITY_IS_DELETED", "entity is deleted", [])
        if job.operation == "update":
            org.update(obj, rid, body)
        else:
            org.delete(obj, rid, api=True)
        return rid, False


_ALL_STATES = ("Open", "UploadComplete", "InProgress", "JobComplete", "Failed", "Aborted")


@dataclass
class CsvBody:
    """A CSV response streamed from a file; `path` None: an empty body (nothing processed)."""

    path: Path | None


def _batches(reader: Iterator[list[str]]) -> Iterator[list[list[str]]]:
    while rows := list(itertools.islice(reader, BULK_BATCH_RECORDS)):
        yield rows


def _plan(obj: ObjectDef, header: list[str], job: Job) -> list[_Column]:
    """The columns of the header: fields, `Relationship.IndexedField` and
    `Type:Relationship.IndexedField`. An unknown name fails the job (as InvalidBatch)."""
    columns: list[_Column] = []
    for raw in header:
        name = raw.strip()
        type_name, _, rest = name.rpartition(":") if ":" in name else ("", "", name)
        if "." in rest:
            rel_name, _, target = rest.partition(".")
            rel = obj.parent_by_lower.get(rel_name.lower())
            if rel is None or "." in target or not target:
                raise SfError(400, "INVALIDBATCH", f"InvalidBatch : Field name not found : {name}")
            columns.append(
                _Column(name, rel.relationship_name or rel_name, target, type_name or None)
            )
            continue
        fdef = obj.field(rest)
        if fdef is None or type_name:
            raise SfError(400, "INVALIDBATCH", f"InvalidBatch : Field name not found : {name}")
        columns.append(_Column(name, fdef.name, fdef=fdef))
    if job.operation in ("update", "delete") and not any(c.field == "Id" for c in columns):
        raise SfError(400, "INVALIDBATCH", "InvalidBatch : Field name not found : Id")
    if job.external_id and not any(c.field == job.external_id for c in columns):
        raise SfError(
            400, "INVALIDBATCH", f"InvalidBatch : Field name not found : {job.external_id}"
        )
    return columns


def _body(columns: list[_Column], row: list[str]) -> dict:
    body: dict = {}
    for col, value in zip(columns, row, strict=True):
        if value == "":
            continue  # an empty cell leaves the field as it is
        if col.relationship_field is not None:
            if value == NULL_VALUE:
                body[col.field] = None
                continue
            ref: dict = {col.relationship_field: value}
            if col.type_name:
                ref["attributes"] = {"type": col.type_name}
            body[col.field] = ref
            continue
        if value == NULL_VALUE:
            body[col.field] = None
        elif col.fdef is not None and col.fdef.type in _INT_TYPES:
            try:
                body[col.field] = int(value)
            except ValueError as exc:
                raise SfError(
                    400,
                    "INVALID_TYPE_ON_FIELD_IN_RECORD",
                    f"{col.field}: value not of required type: {value}",
                    [col.field],
                ) from exc
        else:
            body[col.field] = value
    return body


def _duplicate_keys(columns: list[_Column], rows: list[list[str]], fname: str | None) -> set:
    at = next((i for i, c in enumerate(columns) if c.field == fname), None)
    if at is None:
        return set()
    seen: set = set()
    dupes: set = set()
    for row in rows:
        if at < len(row) and row[at]:
            (dupes if row[at] in seen else seen).add(row[at])
    return dupes


def _error_id(job: Job, columns: list[_Column], row: list[str]) -> str:
    """sf__Id of a failed row: the record's Id when the row names one (update, delete)."""
    at = next((i for i, c in enumerate(columns) if c.field == "Id"), None)
    if at is None or at >= len(row):
        return ""
    return ids.normalize(row[at]) or ""


def _sf_error(exc: SfError) -> str:
    return f"{exc.code}:{exc.message}:{','.join(exc.fields)} --"


class _Writers:
    """The job's three result files, written as batches complete (so in no guaranteed order)."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self._files: dict[str, object] = {}
        self._writers: dict[str, csv._writer] = {}  # type: ignore[name-defined]
        self._header: list[str] = []

    def __enter__(self) -> _Writers:
        return self

    def __exit__(self, *exc: object) -> None:
        for f in self._files.values():
            f.close()  # type: ignore[attr-defined]

    def start(self, header: list[str]) -> None:
        self._header = header
        for kind, extra in (
            ("successfulResults", ["sf__Id", "sf__Created"]),
            ("failedResults", ["sf__Id", "sf__Error"]),
            ("unprocessedrecords", []),
        ):
            f = self.job.result(kind).open("w", encoding="utf-8", newline="")
            w = csv.writer(
                f,
                delimiter=self.job.delimiter,
                lineterminator="\r\n" if self.job.line_ending == "CRLF" else "\n",
                quoting=csv.QUOTE_ALL,
            )
            w.writerow(extra + header)
            self._files[kind] = f
            self._writers[kind] = w

    def success(self, rid: str, created: bool, row: list[str]) -> None:
        self._writers["successfulResults"].writerow([rid, "true" if created else "false", *row])

    def failed(self, rid: str, error: str, row: list[str]) -> None:
        self._writers["failedResults"].writerow([rid, error, *row])

    def unprocessed_rows(self, rows: object) -> None:
        w = self._writers.get("unprocessedrecords")
        if w is not None:
            for row in rows:  # type: ignore[attr-defined]
                w.writerow(row)
