"""A batch's files: after its customers' records are in V2, copy their files V1 -> V2, streamed.

Files are not part of a customer's Composite Graph (a graph holds no blobs), so they load after
the graph (or collections) committed, and the customer is COMPLETED only when every one of its
files is in V2 and linked. A file that fails fails its customer, with an audit issue naming the
file (V1 ContentVersion Id and title); the records stay in V2 and the next attempt uploads only
what V2 lacks.

Per batch: V1 is asked which documents are linked to the customers' migrated records and for
their latest versions (``migration/files_plan.py``; read while the records load), V2 for the
files it already holds by external id (only for customers this project may have written before,
as ``pipeline`` reads records), then each missing file is copied: a small one downloaded whole
and sent base64 in JSON (one call each way), a larger one streamed from the V1 response into a
multipart request (``salesforce/content.py``). A :class:`ByteBudget` bounds the bytes in flight
across batches (``MIGRATION_FILE_BYTES_IN_FLIGHT``), a semaphore the files in flight
(``MIGRATION_FILE_CONCURRENCY``, so uploads never take every Salesforce thread). Then one query
reads back the new versions (their ContentDocument and Checksum, compared with V1's), and the
links beyond the first (``FirstPublishLocationId``) are created with sObject Collections.

Idempotence is V2's: the V2 ContentVersion's external id is the V1 ContentVersion Id, unique
(``files_plan`` says why the ledger alone cannot do it). A create that meets DUPLICATE_VALUE
(an earlier call of ours whose answer was lost, or a kill between upload and audit) is read
back and kept, not uploaded again. The ledger names each file twice (``ContentVersion`` and
``ContentDocument``, V1 id -> V2 id: what ``idmap`` lists and ``rollback`` deletes), with the
actions records get (``_action``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from migration_app.audit.records import LedgerEntry
from migration_app.backoff import backoff_delays
from migration_app.contracts.customer_status import CustomerStatus
from migration_app.migration.chunks import chunked
from migration_app.migration.customer_transform import CustomerPlan
from migration_app.migration.extract_plan import file_entities, file_link_queries
from migration_app.migration.files_plan import (
    BASE64,
    BLOB_FIELD,
    CONTENT_DOCUMENT,
    CONTENT_DOCUMENT_LINK,
    CONTENT_VERSION,
    FileCopy,
    FilesSpec,
    LinkTarget,
    linked_documents,
    missing_links,
    plan_files,
    transfer_kind,
    v2_id_queries,
    v2_link_queries,
    v2_version_queries,
    version_queries,
)
from migration_app.migration.issues import ERROR, Issue
from migration_app.migration.spec import MappingSpec
from migration_app.ops import metrics
from migration_app.salesforce.content import MultipartBody, Readable
from migration_app.salesforce.errors import (
    SalesforceAuthError,
    SalesforcePermanentError,
    SalesforceTransientError,
)
from migration_app.worker.fault_points import FaultPoints
from migration_app.worker.file_budget import ByteBudget

log = logging.getLogger(__name__)

#: issue codes
FILE_FAILED = "FILE_FAILED"
FILE_CHECKSUM_MISMATCH = "FILE_CHECKSUM_MISMATCH"
FILE_LINK_FAILED = "FILE_LINK_FAILED"
FILE_NOT_LINKED = "FILE_NOT_LINKED"
DUPLICATE_VALUE = "DUPLICATE_VALUE"
#: the fault point a test arms to kill the worker half-way through a streamed upload
DURING_UPLOAD = "during-file-upload"
MAX_LINKS_PER_CALL = 200


class Download(Readable, Protocol):
    def close(self) -> None: ...


class FileSource(Protocol):
    async def query_all(self, soql: str) -> list[dict[str, Any]]: ...

    async def download(self, path: str) -> bytes: ...

    async def open_download(self, path: str) -> Download: ...


class FileTarget(Protocol):
    async def query_all(self, soql: str) -> list[dict[str, Any]]: ...

    async def insert_blob(
        self, sobject: str, fields: dict[str, Any], data: bytes, blob_field: str
    ) -> dict[str, Any]: ...

    async def insert_blob_stream(self, sobject: str, body: MultipartBody) -> dict[str, Any]: ...

    async def create_collection(
        self, records: Sequence[dict[str, Any]], *, allow_duplicates: bool = False
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class FileSettings:
    bytes_in_flight: int = 64 * 1024 * 1024
    concurrency: int = 4
    base64_max_bytes: int = 256 * 1024
    #: tries per file (a transient failure starts the copy over with a new download)
    attempts: int = 3


@dataclass
class Copied:
    """What became of one file in V2."""

    file: FileCopy
    v2_version_id: str | None = None
    v2_document_id: str | None = None
    checksum: str | None = None
    uploaded: bool = False
    #: the create met DUPLICATE_VALUE: an earlier call's answer was lost (or a racing writer)
    duplicate: bool = False
    error: tuple[str, str] | None = None  # (code, message)


@dataclass
class FileBatch:
    """The V1 side of a batch's files (read while the records load)."""

    entities: dict[str, tuple[str, LinkTarget]] = field(default_factory=dict)
    files: list[FileCopy] = field(default_factory=list)


def version_data_path(version_id: str) -> str:
    return f"sobjects/{CONTENT_VERSION}/{version_id}/{BLOB_FIELD}"


class FileLoader:
    """One per worker: its budget and slots are shared by every batch in flight."""

    def __init__(
        self,
        spec: MappingSpec,
        files: FilesSpec,
        source: FileSource,
        target: FileTarget,
        settings: FileSettings | None = None,
        *,
        faults: FaultPoints | None = None,
    ) -> None:
        self.spec = spec
        self.files = files
        self.source = source
        self.target = target
        self.settings = settings or FileSettings()
        self.budget = ByteBudget(self.settings.bytes_in_flight, metrics.FILE_BYTES_IN_FLIGHT.set)
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._faults = faults or FaultPoints()

    # V1 --------------------------------------------------------------------------------------
    def entities(self, plans: Mapping[str, CustomerPlan]) -> dict[str, tuple[str, LinkTarget]]:
        """V1 Id -> (customer, link target) of every record whose files migrate."""
        return file_entities(self.spec, self.files.linked_to, plans)

    async def extract(self, plans: Mapping[str, CustomerPlan]) -> FileBatch:
        """V1's files of these customers: links (one query per linked object and batch), then
        the latest versions of their documents (a query per 200)."""
        batch = FileBatch(self.entities(plans))
        if not batch.entities:
            return batch
        links = await self._query(self.source, file_link_queries(self.spec, plans, batch.entities))
        documents = linked_documents(batch.entities, links)
        versions = await self._query(self.source, version_queries(documents)) if documents else []
        batch.files = plan_files(batch.entities, links, versions, self.files.linked_to)
        return batch

    # V2 --------------------------------------------------------------------------------------
    async def load(self, batch: FileBatch, outcomes: Mapping[str, Any]) -> None:
        """Copy what V2 lacks, link, check, and record it in each customer's outcome."""
        live = {cid for cid, o in outcomes.items() if o.status == CustomerStatus.IN_PROGRESS}
        files = _for_customers(batch, live)
        if not files:
            return
        v2_ids = await self._v2_record_ids(files, outcomes)
        existing: dict[str, dict[str, Any]] = {}
        maybe_there = [
            f
            for f in files
            if any(_may_be_in_v2(outcomes[c].request) for c in f.customers if c in live)
        ]
        if maybe_there:
            existing = await self._v2_versions([f.version_id for f in maybe_there])
        copies: list[Copied] = []
        uploads = []
        for file in files:
            first = v2_ids.get(file.links[0].legacy_id[:15])
            if file.version_id in existing:
                copies.append(_found(file, existing[file.version_id]))
            elif first is None:
                copies.append(
                    Copied(file, error=(FILE_NOT_LINKED, "its record has no V2 Id to publish on"))
                )
            else:
                copy = Copied(file)
                copies.append(copy)
                fields = file.v2_fields(self.files.external_id, first)
                uploads.append(self._copy(copy, fields))
        await asyncio.gather(*uploads)
        reread = [c.file.version_id for c in copies if c.error is None and c.v2_document_id is None]
        if reread:
            found = await self._v2_versions(reread)
            for copy in copies:
                row = found.get(copy.file.version_id)
                if row is not None and copy.error is None and copy.v2_document_id is None:
                    copy.v2_version_id = str(row["Id"])
                    copy.v2_document_id = str(row["ContentDocumentId"])
                    copy.checksum = _checksum(row)
                elif copy.error is None and copy.v2_document_id is None:
                    copy.error = (FILE_FAILED, "not found in V2 after its upload")
        await self._link(copies, v2_ids, existing)
        for copy in copies:
            self._record(copy, outcomes, live)

    async def _v2_record_ids(
        self, files: list[FileCopy], outcomes: Mapping[str, Any]
    ) -> dict[str, str]:
        """V1 Id (15) -> V2 Id of every linked record: from this attempt's ledger rows, else
        (records the conflict guard kept, not written this time) one query per object."""
        wanted = {link.legacy_id[:15]: link for f in files for link in f.links}
        found: dict[str, str] = {}
        for outcome in outcomes.values():
            for entry in outcome.records:
                if entry.legacy_id[:15] in wanted:
                    found[entry.legacy_id[:15]] = entry.v2_id
        lacking: dict[str, list[str]] = {}
        for key, link in wanted.items():
            if key not in found:
                lacking.setdefault(link.object, []).append(link.legacy_id)
        for target, legacy_ids in lacking.items():
            external_id = self.spec.by_target(target).external_id
            rows = await self._query(self.target, v2_id_queries(target, external_id, legacy_ids))
            for row in rows:
                found[str(row[external_id])[:15]] = str(row["Id"])
        return found

    async def _v2_versions(self, legacy_ids: list[str]) -> dict[str, dict[str, Any]]:
        external_id = self.files.external_id
        rows = await self._query(self.target, v2_version_queries(external_id, legacy_ids))
        return {str(r[external_id]): r for r in rows}

    async def _query(self, org: FileSource | FileTarget, queries: list[str]) -> list[dict]:
        metrics.FILE_API_CALLS.labels(kind="query").inc(len(queries))
        pages = await asyncio.gather(*(org.query_all(q) for q in queries))
        return [row for page in pages for row in page]

    async def _copy(self, copy: Copied, fields: dict[str, Any]) -> None:
        """One file V1 -> V2 within the budget; its result or error lands in ``copy``."""
        file = copy.file
        kind = transfer_kind(file.size, self.settings.base64_max_bytes)
        async with self.budget.hold(file.size), self._slots:
            delays = backoff_delays(0.5, 5.0)
            for attempt in range(1, self.settings.attempts + 1):
                try:
                    result = await self._send(file, fields, kind)
                except SalesforceAuthError:
                    raise  # the batch pauses and logs in again (processor)
                except SalesforcePermanentError as exc:
                    if _is_duplicate(exc.content, self.files.external_id):
                        copy.duplicate = True
                        return  # in V2 already (an earlier call's answer was lost): read back
                    copy.error = _error_of(exc)
                    break
                except SalesforceTransientError as exc:
                    if attempt < self.settings.attempts:
                        metrics.RETRIES.labels(kind="file").inc()
                        delay = next(delays)
                        log.info("file %s: %s; retry in %.1fs", file.version_id, exc, delay)
                        await asyncio.sleep(delay)
                        continue
                    copy.error = (FILE_FAILED, f"transient failure after {attempt} tries: {exc}")
                    break
                if not result.get("id"):
                    copy.error = (FILE_FAILED, f"no id in V2's answer: {result!r:.200}")
                    break
                copy.v2_version_id = str(result["id"])
                copy.uploaded = True
                metrics.FILE_BYTES_UPLOADED.inc(file.size)
                metrics.FILES.labels(result="uploaded", mode=kind).inc()
                return
        metrics.FILES.labels(result="failed", mode=kind).inc()

    async def _send(self, file: FileCopy, fields: dict[str, Any], kind: str) -> dict[str, Any]:
        path = version_data_path(file.version_id)
        if kind == BASE64:
            metrics.FILE_API_CALLS.labels(kind="download").inc()
            data = await self.source.download(path)
            metrics.FILE_API_CALLS.labels(kind="upload").inc()
            return await self.target.insert_blob(CONTENT_VERSION, fields, data, BLOB_FIELD)
        metrics.FILE_API_CALLS.labels(kind="download").inc()
        stream = await self.source.open_download(path)
        try:
            body = MultipartBody(
                fields,
                stream,
                file.size,
                filename=file.path_on_client,
                on_read=self._halfway_probe(),
            )
            metrics.FILE_API_CALLS.labels(kind="upload").inc()
            return await self.target.insert_blob_stream(CONTENT_VERSION, body)
        finally:
            stream.close()

    def _halfway_probe(self) -> Any:
        """A callback that reaches the DURING_UPLOAD fault point once, half-way through."""
        reached = False

        def on_read(sent: int, size: int) -> None:
            nonlocal reached
            if not reached and sent * 2 >= size:
                reached = True
                self._faults.reached(DURING_UPLOAD)

        return on_read

    async def _link(
        self, copies: list[Copied], v2_ids: Mapping[str, str], existing: Mapping[str, Any]
    ) -> None:
        """ContentDocumentLink rows for each file's records beyond the first (and, for a file
        found in V2, whatever links it still lacks)."""
        wanted: list[tuple[str, str]] = []
        owners: dict[tuple[str, str], Copied] = {}
        for copy in copies:
            if copy.error is not None or copy.v2_document_id is None:
                continue
            links = copy.file.links if copy.file.version_id in existing else copy.file.links[1:]
            for link in links:
                v2_id = v2_ids.get(link.legacy_id[:15])
                if v2_id is not None:
                    wanted.append((copy.v2_document_id, v2_id))
                    owners[(copy.v2_document_id[:15], v2_id[:15])] = copy
        if not wanted:
            return
        rows = await self._query(self.target, v2_link_queries({d for d, _ in wanted}))
        have = [(str(r["ContentDocumentId"]), str(r["LinkedEntityId"])) for r in rows]
        todo = missing_links(wanted, have)
        for chunk in chunked(todo, MAX_LINKS_PER_CALL):
            records = [
                {
                    "attributes": {"type": CONTENT_DOCUMENT_LINK},
                    "ContentDocumentId": document,
                    "LinkedEntityId": entity,
                    "ShareType": "V",
                    "Visibility": "AllUsers",
                }
                for document, entity in chunk
            ]
            metrics.FILE_API_CALLS.labels(kind="link").inc()
            results = await self.target.create_collection(records)
            for (document, entity), result in zip(chunk, results, strict=True):
                if result.get("success"):
                    continue
                errors = result.get("errors") or [{}]
                code = str(errors[0].get("statusCode") or errors[0].get("errorCode") or "UNKNOWN")
                if code == DUPLICATE_VALUE:
                    continue  # linked already
                copy = owners[(document[:15], entity[:15])]
                copy.error = (
                    FILE_LINK_FAILED,
                    f"link to {entity}: {code}: {errors[0].get('message', '')}",
                )

    def _record(self, copy: Copied, outcomes: Mapping[str, Any], live: set[str]) -> None:
        """Ledger rows, counts and issues of one file in its customers' outcomes."""
        file = copy.file
        if (
            copy.error is None
            and file.checksum
            and copy.checksum
            and copy.checksum != file.checksum
        ):
            copy.error = (
                FILE_CHECKSUM_MISMATCH,
                f"V2 Checksum {copy.checksum} differs from V1's {file.checksum}",
            )
        for index, cid in enumerate(c for c in file.customers if c in live):
            outcome = outcomes[cid]
            if copy.error is not None:
                code, message = copy.error
                outcome.fail(
                    f"file {file.title!r} ({file.version_id}): {code}",
                    Issue(
                        ERROR,
                        CONTENT_VERSION,
                        file.version_id,
                        None,
                        code,
                        f"{file.title}: {message}",
                    ),
                )
                continue
            assert copy.v2_version_id and copy.v2_document_id
            action = _action(copy, outcome.request, owner=index == 0)
            outcome.records.append(
                LedgerEntry(CONTENT_VERSION, file.version_id, copy.v2_version_id, action)
            )
            outcome.records.append(
                LedgerEntry(CONTENT_DOCUMENT, file.document_id, copy.v2_document_id, action)
            )
            outcome.counts[CONTENT_VERSION] = outcome.counts.get(CONTENT_VERSION, 0) + 1
        if copy.error is None and not copy.uploaded:
            metrics.FILES.labels(result="found", mode="none").inc()


def _for_customers(batch: FileBatch, live: set[str]) -> list[FileCopy]:
    """The batch's files as the customers still in the running see them: links to records of
    customers that failed (not in V2, or not ours to touch now) dropped; a file only they
    held is left out."""
    out = []
    for file in batch.files:
        links = tuple(
            link for link in file.links if batch.entities.get(link.legacy_id, ("",))[0] in live
        )
        if links:
            customers = tuple(c for c in file.customers if c in live)
            out.append(dataclasses.replace(file, links=links, customers=customers))
    return out


def _action(copy: Copied, request: Any, *, owner: bool) -> str:
    """The ledger action, as ``pipeline._ledger`` decides for records: created when this attempt
    uploaded it; found in V2 right after an interrupted attempt, or met as DUPLICATE_VALUE,
    ``uncertain`` (likely ours, from a call whose answer or audit was lost: rollback keeps and
    names it rather than delete what might not be ours); found on a re-migration, ``updated``
    (its ``created`` row is the earlier attempt's). A customer that only shares another's
    file links to it: ``updated``."""
    if not owner:
        return "updated"
    if copy.uploaded:
        return "created"
    if copy.duplicate or request.interrupted_attempt is not None:
        return "uncertain"
    return "updated"


def _found(file: FileCopy, row: Mapping[str, Any]) -> Copied:
    return Copied(
        file,
        v2_version_id=str(row["Id"]),
        v2_document_id=str(row["ContentDocumentId"]),
        checksum=_checksum(row),
    )


def _checksum(row: Mapping[str, Any]) -> str | None:
    value = row.get("Checksum")
    return str(value).lower() if value else None


def _may_be_in_v2(request: Any) -> bool:
    return bool(request.attempt > 1 or request.interrupted_attempt is not None)


def _is_duplicate(content: Any, external_id: str) -> bool:
    errors = content if isinstance(content, list) else [content]
    return any(
        isinstance(e, dict)
        and (e.get("errorCode") or e.get("statusCode")) == DUPLICATE_VALUE
        and (external_id in (e.get("fields") or []) or external_id in str(e.get("message", "")))
        for e in errors
    )


def _error_of(exc: SalesforcePermanentError) -> tuple[str, str]:
    content = exc.content
    errors = content if isinstance(content, list) else [content]
    for error in errors:
        if isinstance(error, dict):
            code = error.get("errorCode") or error.get("statusCode") or FILE_FAILED
            return str(code), str(error.get("message", ""))[:500]
    return FILE_FAILED, str(exc)[:500]
