"""The bulk plan: a batch's writes as Bulk API 2.0 ingest jobs, and their result CSVs read back
(pure; the worker's ``bulk_load`` sends them).

One job per V2 object per kind per batch: records new to V2 in an ``insert`` job (audit fields
kept: Bulk API accepts them on insert only), records already in V2 in an ``upsert`` job by the
external id (``write_plan`` decides which, as for the other strategies). Jobs of a level run
once every job of the lower levels is done, so a child's ``Account.Legacy_Id__c`` finds its
parent. A job holds at most ``MAX_JOB_CSV_BYTES`` of CSV (the upload takes 150 MB counted as
base64, about 100 MB of CSV); a larger object is split into several jobs.

CSV as Bulk API 2.0 reads it: a header of field names, relationship columns through the parent's
external id (``Account.Legacy_Id__c``), polymorphic ones with the type named
(``Case:What.Legacy_Id__c``), ``#N/A`` for null, an empty cell for "not in this record" (a job's
records may differ in shape: its header is the union). Results come back in no guaranteed
order, so each row is matched to its record by the external id column it echoes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from migration_app.migration.spec import MappingSpec
from migration_app.migration.write_plan import CustomerWrites, RecordWrite

#: "more than 2,000 records is a good candidate for Bulk API 2.0" (Salesforce's guidance):
#: the ``auto`` strategy's default threshold
BULK_THRESHOLD_RECORDS = 2000
#: CSV per job: 150 MB counted as base64 is 112.5 MB of CSV; leave headroom
MAX_JOB_CSV_BYTES = 100 * 1024 * 1024
NULL = "#N/A"
#: what a row that Salesforce did not process is reported as
UNPROCESSED = "UNPROCESSED"


@dataclass(frozen=True, slots=True)
class BulkJobPlan:
    """One ingest job: ``records[i]`` belongs to ``customer_ids[i]``."""

    object: str  # V2 object
    external_id_field: str
    level: int
    create: bool  # insert (audit fields kept) or upsert by external id
    records: tuple[dict[str, Any], ...]
    customer_ids: tuple[str, ...]

    @property
    def operation(self) -> str:
        return "insert" if self.create else "upsert"

    def job_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "object": self.object,
            "operation": self.operation,
            "contentType": "CSV",
            "lineEnding": "LF",
        }
        if not self.create:
            body["externalIdFieldName"] = self.external_id_field
        return body

    def csv(self) -> str:
        return to_csv(self.records)

    def owner_of(self) -> dict[str, str]:
        """Legacy id -> customer id (how result rows find their customer)."""
        return {
            str(r[self.external_id_field]): c
            for r, c in zip(self.records, self.customer_ids, strict=True)
        }


@dataclass(frozen=True, slots=True)
class RowResult:
    """One result row: a record written (``v2_id``, ``created``) or refused (``code``...)."""

    legacy_id: str
    ok: bool
    v2_id: str = ""
    created: bool = False
    code: str = ""
    message: str = ""
    fields: tuple[str, ...] = ()


def plan_jobs(
    writes: Sequence[CustomerWrites],
    spec: MappingSpec,
    max_csv_bytes: int = MAX_JOB_CSV_BYTES,
) -> list[BulkJobPlan]:
    """The jobs of a batch, parents' levels first, inserts of an object before its upserts. A
    customer appearing twice is planned once (its last writes): a job must not hold one external
    id twice."""
    latest = {w.customer_id: w for w in writes}
    jobs: list[BulkJobPlan] = []
    for obj in spec.objects:
        level = spec.level(obj.source)
        for create in (True, False):
            owned: list[tuple[str, RecordWrite]] = [
                (cid, w)
                for cid, customer in latest.items()
                for w in customer.by_object(obj.target)
                if w.create is create
            ]
            for part in _split_by_size(owned, max_csv_bytes):
                jobs.append(
                    BulkJobPlan(
                        object=obj.target,
                        external_id_field=obj.external_id,
                        level=level,
                        create=create,
                        records=tuple(w.record for _, w in part),
                        customer_ids=tuple(c for c, _ in part),
                    )
                )
    return jobs


def _split_by_size(
    owned: list[tuple[str, RecordWrite]], max_bytes: int
) -> Iterable[list[tuple[str, RecordWrite]]]:
    part: list[tuple[str, RecordWrite]] = []
    size = 0
    for item in owned:
        estimate = sum(len(str(v)) + 3 for v in item[1].record.values()) + 1
        if part and size + estimate > max_bytes:
            yield part
            part, size = [], 0
        part.append(item)
        size += estimate
    if part:
        yield part


def columns_of(record: dict[str, Any]) -> dict[str, Any]:
    """A record as CSV cells by header: lookups by external id become relationship columns."""
    cells: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict):
            kind = (value.get("attributes") or {}).get("type")
            for ext, ext_value in value.items():
                if ext == "attributes":
                    continue
                header = f"{key}.{ext}" if not kind else f"{kind}:{key}.{ext}"
                cells[header] = ext_value
            continue
        cells[key] = value
    return cells


def cell(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_csv(records: Sequence[dict[str, Any]]) -> str:
    rows = [columns_of(r) for r in records]
    header: list[str] = []
    seen: set[str] = set()
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                header.append(key)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(row[h]) if h in row else "" for h in header])
    return out.getvalue()


def parse_sf_error(text: str) -> tuple[str, str, tuple[str, ...]]:
    """``STATUS_CODE:message:field,field --`` -> (code, message, fields)."""
    text = text.strip()
    if text.endswith("--"):
        text = text[:-2].rstrip()
    code, _, rest = text.partition(":")
    message, _, fields = rest.rpartition(":")
    if not _:  # no second colon: the whole rest is the message
        message, fields = rest, ""
    names = tuple(f.strip() for f in fields.split(",") if f.strip() and " " not in f.strip())
    if fields and not names:
        message = rest
    return code.strip() or "UNKNOWN", message.strip(), names


def parse_results(text: str, kind: str, external_id_field: str) -> list[RowResult]:
    """One result CSV (``successfulResults``, ``failedResults`` or ``unprocessedrecords``)."""
    if not text.strip():
        return []
    out = []
    for row in csv.DictReader(io.StringIO(text)):
        legacy = row.get(external_id_field) or ""
        if kind == "successfulResults":
            out.append(
                RowResult(
                    legacy,
                    True,
                    v2_id=row.get("sf__Id") or "",
                    created=(row.get("sf__Created") or "").lower() == "true",
                )
            )
        elif kind == "failedResults":
            code, message, fields = parse_sf_error(row.get("sf__Error") or "")
            out.append(RowResult(legacy, False, code=code, message=message, fields=fields))
        else:
            out.append(
                RowResult(
                    legacy,
                    False,
                    code=UNPROCESSED,
                    message="not processed by Salesforce (the job ended before it)",
                )
            )
    return out
