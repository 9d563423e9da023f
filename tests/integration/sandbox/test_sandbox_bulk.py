"""Bulk API 2.0 ingest over HTTP: jobs, CSV upload, background processing in internal batches,
results, limits, expiry."""

from __future__ import annotations

import csv
import io
import time

import pytest
import requests

from devstack.sandbox import SandboxConfig, SandboxThread, bulk
from tests.integration.sandbox.support import admin, login

V = "v62.0"
GUARD_S = 30.0  # a deadline against hangs only


class Client:
    def __init__(self, sb: SandboxThread) -> None:
        self.base = f"{sb.url}/services/data/{V}/jobs/ingest"
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {login(sb).session_id}"

    def create(self, **body: object) -> dict:
        resp = self.s.post(self.base, json=body, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def put(self, job_id: str, data: str) -> requests.Response:
        return self.s.put(
            f"{self.base}/{job_id}/batches",
            data=data.encode(),
            headers={"Content-Type": "text/csv"},
            timeout=10,
        )

    def state(self, job_id: str, state: str) -> requests.Response:
        return self.s.patch(f"{self.base}/{job_id}", json={"state": state}, timeout=10)

    def info(self, job_id: str) -> dict:
        resp = self.s.get(f"{self.base}/{job_id}", timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def wait(self, job_id: str) -> dict:
        deadline = time.monotonic() + GUARD_S
        while (info := self.info(job_id))["state"] not in bulk.TERMINAL:
            assert time.monotonic() < deadline, info
            time.sleep(0.05)
        return info

    def results(self, job_id: str, kind: str) -> list[dict]:
        resp = self.s.get(f"{self.base}/{job_id}/{kind}/", timeout=10)
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/csv")
        return list(csv.DictReader(io.StringIO(resp.text)))

    def run(self, data: str, **job: object) -> tuple[str, dict]:
        created = self.create(**job)
        assert self.put(created["id"], data).status_code == 201
        assert self.state(created["id"], "UploadComplete").json()["state"] == "UploadComplete"
        return created["id"], self.wait(created["id"])


@pytest.fixture
def v2() -> SandboxThread:
    with SandboxThread(SandboxConfig(org="v2", port=0)) as sb:
        yield sb


def test_insert_then_upsert_children_by_parent_external_id(v2: SandboxThread) -> None:
    c = Client(v2)
    created = c.create(object="Account", operation="insert")
    assert created["state"] == "Open" and created["id"].startswith("750")
    assert created["contentUrl"] == f"services/data/{V}/jobs/ingest/{created['id']}/batches"
    assert (created["columnDelimiter"], created["lineEnding"]) == ("COMMA", "LF")
    assert (
        c.put(created["id"], "Name,Legacy_Id__c\nAcme,001A\nBeta,001B\n,001C\n").status_code == 201
    )
    c.state(created["id"], "UploadComplete")
    info = c.wait(created["id"])
    assert info["state"] == "JobComplete"
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (3, 1)
    ok = c.results(created["id"], "successfulResults")
    assert sorted(r["Name"] for r in ok) == ["Acme", "Beta"]
    assert all(r["sf__Id"].startswith("001") and r["sf__Created"] == "true" for r in ok)
    (bad,) = c.results(created["id"], "failedResults")
    assert bad["sf__Id"] == "" and bad["Legacy_Id__c"] == "001C"
    assert bad["sf__Error"].startswith("REQUIRED_FIELD_MISSING:")
    assert c.results(created["id"], "unprocessedrecords") == []

    data = (
        "Legacy_Id__c,LastName,Email,Account.Legacy_Id__c\n"
        "003A,Smith,s@example.com,001A\n"
        "003B,Jones,not-an-email,001B\n"
        "003C,Nobody,n@example.com,001X\n"
    )
    job_id, info = c.run(
        data, object="Contact", operation="upsert", externalIdFieldName="Legacy_Id__c"
    )
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (3, 2)
    assert info["externalIdFieldName"] == "Legacy_Id__c"
    (ok,) = c.results(job_id, "successfulResults")
    assert ok["Legacy_Id__c"] == "003A" and ok["sf__Created"] == "true"
    errors = {r["Legacy_Id__c"]: r["sf__Error"] for r in c.results(job_id, "failedResults")}
    assert errors["003B"].startswith("INVALID_EMAIL_ADDRESS:")
    assert "001X" in errors["003C"]
    sf = login(v2)
    contact = sf.query("SELECT Account.Legacy_Id__c FROM Contact WHERE Legacy_Id__c = '003A'")
    assert contact["records"][0]["Account"]["Legacy_Id__c"] == "001A"
    # the same upsert again updates: sf__Created false
    job_id, info = c.run(
        "Legacy_Id__c,LastName\n003A,Smyth\n",
        object="Contact",
        operation="upsert",
        externalIdFieldName="Legacy_Id__c",
    )
    assert c.results(job_id, "successfulResults")[0]["sf__Created"] == "false"
    # a duplicate of a unique field fails with DUPLICATE_VALUE
    job_id, info = c.run("Name,Legacy_Id__c\nAgain,001A\n", object="Account", operation="insert")
    (dup,) = c.results(job_id, "failedResults")
    assert dup["sf__Error"].startswith("DUPLICATE_VALUE:")
    listed = c.s.get(c.base, timeout=10).json()
    assert listed["done"] is True and len(listed["records"]) == 4
    limits = sf.restful("limits")["DailyBulkApiBatches"]
    assert limits["Max"] - limits["Remaining"] == 4


def test_delete_job_and_refusals(v2: SandboxThread) -> None:
    c = Client(v2)
    resp = c.s.post(c.base, json={"object": "Nope__c", "operation": "insert"}, timeout=10)
    assert resp.status_code == 400 and resp.json()[0]["errorCode"] == "INVALIDENTITY"
    resp = c.s.post(c.base, json={"object": "Contact", "operation": "upsert"}, timeout=10)
    assert resp.json()[0]["message"].startswith("External ID was blank for Contact")
    job = c.create(object="Account", operation="insert")["id"]
    assert c.put(job, "Name\nA\n").status_code == 201
    second = c.put(job, "Name\nB\n")
    assert second.status_code == 409 and "Found multiple contents" in second.json()[0]["message"]
    assert c.s.delete(f"{c.base}/{job}", timeout=10).status_code == 409  # still Open
    c.state(job, "UploadComplete")
    c.wait(job)
    assert c.state(job, "Aborted").status_code == 409
    assert c.s.delete(f"{c.base}/{job}", timeout=10).status_code == 204
    assert c.s.get(f"{c.base}/{job}", timeout=10).status_code == 404
    # an unknown column fails the job, every row unprocessed
    job_id, info = c.run("Name,Bogus__c\nA,1\n", object="Account", operation="insert")
    assert info["state"] == "Failed" and "Bogus__c" in info["errorMessage"]
    assert [r["Name"] for r in c.results(job_id, "unprocessedrecords")] == ["A"]
    # delete by Id
    sf = login(v2)
    rid = sf.Account.create({"Name": "Gone"})["id"]
    job_id, info = c.run(f"Id\n{rid}\n", object="Account", operation="delete")
    assert info["numberRecordsFailed"] == 0
    assert sf.query("SELECT Id FROM Account WHERE Name = 'Gone'")["totalSize"] == 0


def test_upload_over_150_mb_base64_is_refused(v2: SandboxThread, monkeypatch) -> None:
    monkeypatch.setattr(bulk, "MAX_UPLOAD_BASE64", 400)
    c = Client(v2)
    job = c.create(object="Account", operation="insert")["id"]
    resp = c.put(job, "Name\n" + "x" * 300 + "\n")  # 306 bytes -> 408 base64
    assert resp.status_code == 413
    assert c.put(job, "Name\n" + "x" * 290 + "\n").status_code == 201  # 296 -> 396


def test_abort_leaves_records_unprocessed(v2: SandboxThread) -> None:
    c = Client(v2)
    job = c.create(object="Account", operation="insert")["id"]
    c.put(job, "Name\nA\nB\n")
    assert c.state(job, "Aborted").json()["state"] == "Aborted"
    assert [r["Name"] for r in c.results(job, "unprocessedrecords")] == ["A", "B"]
    assert c.state(job, "UploadComplete").status_code == 409


def test_batches_of_the_org_run_in_parallel_up_to_the_option(
    v2: SandboxThread, monkeypatch
) -> None:
    monkeypatch.setattr(bulk, "BULK_BATCH_RECORDS", 10)
    admin(
        v2,
        "POST",
        "cost-model",
        {
            "enabled": True,
            "bulk_parallel_batches": 2,
            "bulk_batch_overhead_ms": 100,
            "bulk_job_start_ms": 0,
            "record_ms": {"Account": 1},
        },
    )
    c = Client(v2)
    rows = "".join(f"Acc {i},L{i:04d}\n" for i in range(60))
    start = time.perf_counter()
    job_id, info = c.run("Name,Legacy_Id__c\n" + rows, object="Account", operation="insert")
    elapsed = time.perf_counter() - start
    assert info["state"] == "JobComplete" and info["numberRecordsProcessed"] == 60
    stats = admin(v2, "GET", "bulk")
    assert stats["peak_parallel_batches"] == 2
    assert stats["batches_used"] == 6 and stats["records_used"] == 60
    assert elapsed >= 3 * 0.11  # 6 batches of 110 ms, 2 at a time: a lower bound only
    assert len(c.results(job_id, "successfulResults")) == 60


def test_daily_record_limit_fails_the_job(v2: SandboxThread, monkeypatch) -> None:
    monkeypatch.setattr(bulk, "BULK_BATCH_RECORDS", 2)
    admin(v2, "POST", "bulk", {"daily_records_max": 3})
    c = Client(v2)
    job_id, info = c.run("Name\nA\nB\nC\nD\n", object="Account", operation="insert")
    assert info["state"] == "Failed" and info["errorMessage"].startswith("ExceededQuota")
    assert info["numberRecordsProcessed"] == 2
    assert sorted(r["Name"] for r in c.results(job_id, "unprocessedrecords")) == ["C", "D"]
    # the rolling window: a day later the allocation is back
    admin(v2, "POST", "clock", {"advance_s": 24 * 3600 + 1})
    assert admin(v2, "GET", "bulk")["records_used"] == 0


def test_jobs_are_deleted_after_7_days(v2: SandboxThread) -> None:
    c = Client(v2)
    job_id, _ = c.run("Name\nA\n", object="Account", operation="insert")
    admin(v2, "POST", "clock", {"advance_s": 6 * 24 * 3600})
    assert c.info(job_id)["state"] == "JobComplete"
    admin(v2, "POST", "clock", {"advance_s": 24 * 3600 + 1})
    assert c.s.get(f"{c.base}/{job_id}", timeout=10).status_code == 404
    assert admin(v2, "GET", "bulk")["deleted_expired"] == 1


def test_audit_fields_on_insert_not_on_upsert(v2: SandboxThread) -> None:
    """Help 000176484: "Set Audit Fields upon Record Creation" works for INSERT, not UPSERT."""
    c = Client(v2)
    when = "2015-06-01T10:00:00.000+0000"
    job_id, info = c.run(
        f"Name,Legacy_Id__c,CreatedDate\nOld,001OLD,{when}\n", object="Account", operation="insert"
    )
    assert info["numberRecordsFailed"] == 0
    row = login(v2).query("SELECT CreatedDate FROM Account WHERE Legacy_Id__c = '001OLD'")
    assert row["records"][0]["CreatedDate"].startswith("2015-06-01T10:00:00")
    job_id, info = c.run(
        f"Name,Legacy_Id__c,CreatedDate\nNew,001NEW,{when}\n",
        object="Account",
        operation="upsert",
        externalIdFieldName="Legacy_Id__c",
    )
    (bad,) = c.results(job_id, "failedResults")
    assert bad["sf__Error"].startswith("INVALID_FIELD_FOR_INSERT_UPDATE:")


def test_polymorphic_relationship_column_names_its_type(v2: SandboxThread) -> None:
    c = Client(v2)
    c.run("Name,Legacy_Id__c\nAcme,001P\n", object="Account", operation="insert")
    job_id, info = c.run(
        "Subject,Legacy_Id__c,Account:What.Legacy_Id__c\nCall,00TP,001P\n",
        object="Task",
        operation="insert",
    )
    assert info["numberRecordsFailed"] == 0, c.results(job_id, "failedResults")
    task = login(v2).query("SELECT What.Type FROM Task WHERE Legacy_Id__c = '00TP'")
    assert task["records"][0]["What"]["Type"] == "Account"
    job_id, info = c.run(
        "Subject,What.Legacy_Id__c\nCall,001P\n", object="Task", operation="insert"
    )
    assert info["numberRecordsFailed"] == 1  # a polymorphic relationship must name its type
