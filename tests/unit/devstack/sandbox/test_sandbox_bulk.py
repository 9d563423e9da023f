"""Bulk API 2.0 ingest without HTTP: header plans, cell values, limits, a job end to end."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest

from devstack.sandbox import bulk
from devstack.sandbox.api import Org
from devstack.sandbox.config import SandboxConfig
from devstack.sandbox.cost_model import CostModel
from devstack.sandbox.errors import SfError
from devstack.sandbox.messages import ApiRequest


def _job(op: str = "insert", ext: str | None = None) -> bulk.Job:
    return bulk.Job("750", "Contact", op, ext, ",", "LF", "005", "62.0", 0.0, 0.0, Path("/x"))


def test_base64_size_counts_the_150_mb_limit() -> None:
    assert bulk.base64_size(3) == 4
    assert bulk.base64_size(4) == 8
    assert bulk.base64_size(100 * 1024 * 1024) <= bulk.MAX_UPLOAD_BASE64
    assert bulk.base64_size(113 * 1024 * 1024) > bulk.MAX_UPLOAD_BASE64


def test_plan_and_body() -> None:
    org = Org(SandboxConfig(org="v2"))
    contact = org.schema.objects["Contact"]
    cols = bulk._plan(contact, ["LastName", "Account.Legacy_Id__c", "Primary__c"], _job())
    assert cols[1].field == "Account" and cols[1].relationship_field == "Legacy_Id__c"
    body = bulk._body(cols, ["Smith", "001A", ""])
    assert body == {"LastName": "Smith", "Account": {"Legacy_Id__c": "001A"}}
    assert bulk._body(cols, ["Smith", "#N/A", "#N/A"]) == {
        "LastName": "Smith",
        "Account": None,
        "Primary__c": None,
    }
    task = org.schema.objects["Task"]
    (poly,) = bulk._plan(task, ["Case:What.Legacy_Id__c"], _job())
    assert bulk._body([poly], ["500X"]) == {
        "What": {"Legacy_Id__c": "500X", "attributes": {"type": "Case"}}
    }
    with pytest.raises(SfError, match="Field name not found : Bogus"):
        bulk._plan(contact, ["Bogus"], _job())
    with pytest.raises(SfError, match="Field name not found : Id"):
        bulk._plan(contact, ["LastName"], _job("delete"))
    with pytest.raises(SfError, match="Legacy_Id__c"):
        bulk._plan(contact, ["LastName"], _job("upsert", "Legacy_Id__c"))


def test_sf_error_format() -> None:
    exc = SfError(
        400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", ["LastName"]
    )
    assert bulk._sf_error(exc) == (
        "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"
    )


def test_job_end_to_end_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "BULK_BATCH_RECORDS", 3)
    org = Org(SandboxConfig(org="v2"))
    cost = CostModel(bulk_parallel_batches=2)
    ingest = bulk.BulkIngest(org, lambda: cost, tmp_path / "bulk")

    async def chunks(data: bytes):
        yield data

    async def scenario() -> dict:
        req = ApiRequest("POST", "jobs/ingest", body={"object": "Account", "operation": "insert"})
        _, created = ingest.dispatch(req, [])
        jid = created.body["id"]
        rows = "".join(f"A{i},L{i}\n" for i in range(8)) + ",L-bad\n"
        await ingest.upload(jid, "text/csv", chunks(f"Name,Legacy_Id__c\n{rows}".encode()))
        ingest.dispatch(ApiRequest("PATCH", "", body={"state": "UploadComplete"}), [jid])
        await ingest.jobs[jid].task
        return ingest.jobs[jid].info()

    info = asyncio.run(scenario())
    assert info["state"] == "JobComplete"
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (9, 1)
    assert ingest.batches_used() == 3 and ingest.records_used() == 9
    assert ingest._slots is not None and ingest._slots.peak == 2
    job = ingest.jobs[info["id"]]
    with job.result("successfulResults").open(newline="") as f:
        ok = list(csv.DictReader(f))
    assert len(ok) == 8 and {r["sf__Created"] for r in ok} == {"true"}
    assert org.store.counts()["Account"] == 8
    # the request counters of the API are untouched by the background batches
    assert org.records_processed == 0 and not org.processed_by_object
    ingest.clock.advance(7 * 24 * 3600)
    ingest.expire()
    assert ingest.jobs == {} and not job.dir.exists()
    with pytest.raises(ValueError):
        ingest.clock.advance(-1)
