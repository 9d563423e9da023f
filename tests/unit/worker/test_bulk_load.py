"""The bulk load strategy with an in-memory V2 that runs ingest jobs as Bulk API 2.0 does (per
record, results as CSV in no guaranteed order): levels, compensation, resends, crash recovery."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import replace
from typing import Any

import pytest

from migration_app.contracts.customer_status import CustomerStatus
from migration_app.migration.bulk_plan import parse_sf_error, to_csv
from migration_app.migration.issues import ERROR, WARNING
from migration_app.migration.load_options import LoadOptions
from migration_app.migration.spec import load_mapping
from migration_app.salesforce.errors import SalesforceTransientError
from migration_app.worker.bulk_load import BulkLoad
from migration_app.worker.pipeline import MigrationPipeline, MigrationRequest
from tests.support.mapping import field_rules_only
from tests.unit.worker.pipeline_fakes import ACC1, ACC2, FakeSource, v1_account


class FakeBulkOrg:
    """V2 as (object, external id) -> (id, record); ``fail`` maps a legacy id to an error code."""

    def __init__(self, fail: dict[str, str] | None = None, taken: set[str] | None = None) -> None:
        self.v2: dict[tuple[str, str], dict[str, Any]] = {}
        self.fail = fail or {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []
        self.aborted: list[str] = []
        for legacy in taken or ():
            obj = "Account" if legacy.startswith("001") else "Contact"
            self.v2[(obj, legacy)] = {"Id": "OLD" + legacy}

    async def query_all(self, soql: str) -> list[dict[str, Any]]:
        return []

    async def bulk_create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        job_id = f"750{len(self.jobs):015d}"
        self.jobs[job_id] = {**body, "state": "Open", "results": {}}
        return {"id": job_id, "state": "Open"}

    async def bulk_upload(self, job_id: str, csv_text: str) -> None:
        self.jobs[job_id]["data"] = csv_text

    async def bulk_set_state(self, job_id: str, state: str) -> dict[str, Any]:
        job = self.jobs[job_id]
        if state == "Aborted":
            self.aborted.append(job_id)
            job["state"] = "Aborted"
        else:
            self._run(job)
        return {"id": job_id, "state": job["state"]}

    def _run(self, job: dict[str, Any]) -> None:
        ok, bad = [], []
        for row in reversed(list(csv.DictReader(io.StringIO(job["data"])))):  # any order
            legacy = row["Legacy_Id__c"]
            key = (job["object"], legacy)
            if legacy in self.fail:
                bad.append({"sf__Id": "", "sf__Error": f"{self.fail[legacy]}:rejected:Email --"})
                bad[-1].update(row)
            elif job["operation"] == "insert" and key in self.v2:
                error = "DUPLICATE_VALUE:duplicate value found: Legacy_Id__c duplicates value:--"
                bad.append({"sf__Id": "", "sf__Error": error, **row})
            else:
                created = key not in self.v2
                v2_id = self.v2.setdefault(key, {"Id": "V2" + legacy})["Id"]
                ok.append({"sf__Id": v2_id, "sf__Created": str(created).lower(), **row})
        job["results"] = {"successfulResults": ok, "failedResults": bad}
        job["state"] = "JobComplete"

    async def bulk_job(self, job_id: str) -> dict[str, Any]:
        return {"id": job_id, "state": self.jobs[job_id]["state"]}

    async def bulk_results(self, job_id: str, kind: str) -> str:
        rows = self.jobs[job_id]["results"].get(kind) or []
        if not rows:
            return ""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()

    async def delete_collection(self, ids):
        self.deleted += ids
        for key, rec in list(self.v2.items()):
            if rec["Id"] in ids:
                del self.v2[key]
        return [{"id": i, "success": True, "errors": []} for i in ids]


class Journal:
    def __init__(self, unsettled: list[str] = ()) -> None:
        self.recorded: list[str] = []
        self.open = list(unsettled)
        self.settled: list[tuple[str, str]] = []

    async def record(self, job_id, object_name, operation, customer_ids, correlation_ids=()):
        self.recorded.append(job_id)

    async def unsettled(self, customer_ids):
        return list(self.open)

    async def settle(self, job_ids, outcome):
        self.settled += [(j, outcome) for j in job_ids]


@pytest.fixture(scope="module")
def spec():
    return field_rules_only(load_mapping())


def _pipeline(spec, org, journal=None) -> MigrationPipeline:
    pipeline = MigrationPipeline(
        spec,
        FakeSource([v1_account(ACC1), v1_account(ACC2)]),
        org,  # type: ignore[arg-type]
        options=LoadOptions(strategy="bulk"),
    )
    pipeline.bulk_journal = journal
    return pipeline


def _requests(*ids: str) -> list[MigrationRequest]:
    return [MigrationRequest(i, f"corr-{i}", 1) for i in ids]


async def test_a_batch_goes_out_as_one_insert_job_per_object_parents_first(spec) -> None:
    org, journal = FakeBulkOrg(), Journal()
    outcomes = await _pipeline(spec, org, journal).migrate(_requests(ACC1, ACC2))
    assert [o.status for o in outcomes] == [CustomerStatus.COMPLETED] * 2
    assert [(j["object"], j["operation"]) for j in org.jobs.values()] == [
        ("Account", "insert"),
        ("Contact", "insert"),
    ]
    assert "Account.Legacy_Id__c" in org.jobs["750000000000000001"]["data"].splitlines()[0]
    assert outcomes[0].counts == {"Account": 1, "Contact": 1}
    assert {e.action for o in outcomes for e in o.records} == {"created"}
    assert journal.recorded == list(org.jobs) and len(journal.settled) == 2


async def test_a_rejected_contact_fails_its_customer_and_deletes_what_was_created(spec) -> None:
    contact2 = "003" + ACC2[3:]
    org = FakeBulkOrg(fail={contact2: "FIELD_CUSTOM_VALIDATION_EXCEPTION"})
    outcomes = await _pipeline(spec, org).migrate(_requests(ACC1, ACC2))
    by_id = {o.customer_id: o for o in outcomes}
    assert by_id[ACC1].status == CustomerStatus.COMPLETED
    failed = by_id[ACC2]
    assert failed.status == CustomerStatus.FAILED
    assert "Contact" in failed.error and "FIELD_CUSTOM_VALIDATION_EXCEPTION" in failed.error
    issue = next(i for i in failed.issues if i.code == "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    assert (issue.object, issue.legacy_id, issue.field) == ("Contact", contact2, "Email")
    assert org.deleted == ["V2" + ACC2]  # its Account, created by this attempt
    assert ("Account", ACC2) not in org.v2 and ("Account", ACC1) in org.v2
    assert failed.records == [] and failed.counts == {}
    assert any(i.code == "BULK_COMPENSATED" for i in failed.issues)


async def test_an_insert_meeting_its_external_id_is_resent_as_an_upsert(spec) -> None:
    org = FakeBulkOrg(taken={ACC1})
    outcomes = await _pipeline(spec, org).migrate(_requests(ACC1))
    assert outcomes[0].status == CustomerStatus.COMPLETED
    assert [(j["object"], j["operation"]) for j in org.jobs.values()] == [
        ("Account", "insert"),
        ("Account", "upsert"),
        ("Contact", "insert"),
    ]
    assert "CreatedDate" not in org.jobs["750000000000000001"]["data"].splitlines()[0]
    actions = {(e.object, e.action) for e in outcomes[0].records}
    assert actions == {("Account", "uncertain"), ("Contact", "created")}


async def test_an_unsettled_job_of_a_killed_attempt_is_aborted_and_settled_first(spec) -> None:
    org = FakeBulkOrg()
    old = (await org.bulk_create_job({"object": "Account", "operation": "insert"}))["id"]
    org.jobs[old]["state"] = "InProgress"

    async def ends(job_id: str, state: str) -> dict[str, Any]:  # an abort ends the job
        org.aborted.append(job_id)
        org.jobs[job_id]["state"] = "Aborted"
        return {"state": "Aborted"}

    org.bulk_set_state = ends  # type: ignore[method-assign]
    journal = Journal(unsettled=[old])
    load = BulkLoad(spec, org, lambda *a: None, slots=asyncio.Semaphore(2), journal=journal)
    await load.recover([ACC1])
    assert org.aborted == [old]
    assert journal.settled == [(old, "abandoned (Aborted)")]


def test_csv_has_relationship_polymorphic_null_and_boolean_cells() -> None:
    text = to_csv(
        [
            {"attributes": {"type": "Task"}, "Legacy_Id__c": "00T1", "Done__c": True,
             "What": {"attributes": {"type": "Case"}, "Legacy_Id__c": "5001"}, "Phone": None},
            {"attributes": {"type": "Task"}, "Legacy_Id__c": "00T2",
             "Account": {"Legacy_Id__c": "0011"}},
        ]
    )  # fmt: skip
    assert text.splitlines() == [
        "Legacy_Id__c,Done__c,Case:What.Legacy_Id__c,Phone,Account.Legacy_Id__c",
        "00T1,true,5001,#N/A,",
        "00T2,,,,0011",
    ]


def test_sf_error_is_read_as_code_message_and_fields() -> None:
    assert parse_sf_error("REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --") == (
        "REQUIRED_FIELD_MISSING",
        "Required fields are missing: [Name]",
        ("Name",),
    )
    assert parse_sf_error("INVALID_EMAIL_ADDRESS:bad:Email,Phone --")[2] == ("Email", "Phone")
    assert parse_sf_error("UNKNOWN_EXCEPTION:boom: --") == ("UNKNOWN_EXCEPTION", "boom", ())


def test_auto_takes_bulk_above_the_threshold() -> None:
    options = LoadOptions(strategy="auto", bulk_threshold=2000)
    assert options.strategy_for(2000) == "graph" and options.strategy_for(2001) == "bulk"
    assert LoadOptions(strategy="collections").strategy_for(10**6) == "collections"


def _with_meter(account: dict[str, Any]) -> dict[str, Any]:
    meter = {
        "attributes": {"type": "Meter__c"},
        "Id": "a00" + account["Id"][3:],
        "Account__c": account["Id"],
        "Name": "Meter",
        "MPAN__c": "1200023305967",
    }
    return {**account, "Meters__r": {"totalSize": 1, "done": True, "records": [meter]}}


class HaltingBulkOrg(FakeBulkOrg):
    """``Contact`` jobs fail as a whole once a ``Meter_Point__c`` job runs; that one writes its
    first record and then runs until aborted (the rest then unprocessed)."""

    async def bulk_job(self, job_id: str) -> dict[str, Any]:
        job = self.jobs[job_id]
        meters = [j for j in self.jobs.values() if j["object"] == "Meter_Point__c"]
        if job["object"] == "Contact" and job["state"] == "InProgress" and meters:
            job["state"] = "Failed"
        return await super().bulk_job(job_id)

    async def bulk_set_state(self, job_id: str, state: str) -> dict[str, Any]:
        job = self.jobs[job_id]
        if state != "UploadComplete" or job["object"] not in ("Contact", "Meter_Point__c"):
            return await super().bulk_set_state(job_id, state)
        if job["object"] == "Contact":
            job["state"] = "InProgress"
            return {"id": job_id, "state": "InProgress"}
        first, *rest = csv.DictReader(io.StringIO(job["data"]))
        v2_id = self.v2.setdefault(("Meter_Point__c", first["Legacy_Id__c"]), {"Id": "V2M"})["Id"]
        job["results"] = {
            "successfulResults": [{"sf__Id": v2_id, "sf__Created": "true", **first}],
            "unprocessedrecords": rest,
        }
        job["state"] = "InProgress"
        return {"id": job_id, "state": "InProgress"}


async def test_a_failed_job_aborts_its_running_siblings_and_their_customers_are_undone(
    spec,
) -> None:
    org = HaltingBulkOrg()
    pipeline = _pipeline(spec, org)
    pipeline.source = FakeSource([_with_meter(v1_account(ACC1)), _with_meter(v1_account(ACC2))])
    async with asyncio.timeout(10):  # without the halt the Meter job runs until its deadline
        outcomes = await pipeline.migrate(_requests(ACC1, ACC2))
    meter_job = next(i for i, j in org.jobs.items() if j["object"] == "Meter_Point__c")
    assert org.aborted == [meter_job]
    assert [o.status for o in outcomes] == [CustomerStatus.FAILED] * 2
    assert org.v2 == {}  # the Meter written before the abort and both Accounts deleted again
    assert org.deleted[0] == "V2M"  # children first
    unprocessed = [i for o in outcomes for i in o.issues if i.code == "UNPROCESSED"]
    assert len(unprocessed) == 1 and "aborted because bulk job" in unprocessed[0].message
    assert all(any(i.code == "BULK_COMPENSATED" for i in o.issues) for o in outcomes)


class BrokenResultsOrg(HaltingBulkOrg):
    """The Contact job completes, but its results cannot be read (the call keeps failing)."""

    async def bulk_set_state(self, job_id: str, state: str) -> dict[str, Any]:
        if state == "UploadComplete" and self.jobs[job_id]["object"] == "Contact":
            self.jobs[job_id]["state"] = "JobComplete"
            return {"id": job_id, "state": "JobComplete"}
        return await super().bulk_set_state(job_id, state)

    async def bulk_results(self, job_id: str, kind: str) -> str:
        if self.jobs[job_id]["object"] == "Contact":
            raise SalesforceTransientError("HTTP 503")
        return await super().bulk_results(job_id, kind)


async def test_a_sibling_that_raises_stops_the_level_before_the_batch_is_compensated(
    spec,
) -> None:
    org = BrokenResultsOrg()
    pipeline = _pipeline(spec, org)
    pipeline.source = FakeSource([_with_meter(v1_account(ACC1)), _with_meter(v1_account(ACC2))])
    with pytest.raises(SalesforceTransientError):
        async with asyncio.timeout(10):
            await pipeline.migrate(_requests(ACC1, ACC2))
    meter_job = next(i for i, j in org.jobs.items() if j["object"] == "Meter_Point__c")
    assert org.aborted == [meter_job] and org.jobs[meter_job]["state"] == "Aborted"
    assert org.v2 == {}  # its Meter was taken into the ledger, so compensated with the rest


INTEGRATION_USER = "005000000000001AAA"
PERSON = "005000000000009AAA"


class GuardedBulkOrg(FakeBulkOrg):
    """V2 also answers the conflict guard's reads; ``changed`` records were last modified by a
    person after our write."""

    def __init__(self, taken: set[str], changed: set[str]) -> None:
        super().__init__(taken=taken)
        self.changed = changed
        self.queries: list[str] = []

    async def query_all(self, soql: str) -> list[dict[str, Any]]:
        self.queries.append(soql)
        if " FROM User " in soql:
            return [{"Id": INTEGRATION_USER}]
        obj = soql.split(" FROM ", 1)[1].split(" ", 1)[0]
        return [
            {
                "Id": rec["Id"],
                "Legacy_Id__c": legacy,
                "LastModifiedById": PERSON if legacy in self.changed else INTEGRATION_USER,
                "LastModifiedDate": "2026-11-30T09:00:00.000+0000",
                "LastModifiedBy": {"Username": "agent@v2.example"},
            }
            for (o, legacy), rec in self.v2.items()
            if o == obj and f"'{legacy}'" in soql
        ]


def _guarded_pipeline(spec, org: GuardedBulkOrg, policy: str) -> MigrationPipeline:
    pipeline = MigrationPipeline(
        replace(spec, on_conflict=policy),
        FakeSource([v1_account(ACC1), v1_account(ACC2)]),
        org,  # type: ignore[arg-type]
        options=LoadOptions(strategy="bulk"),
        integration_username="integration@v2.example",
    )
    return pipeline


def _operations(org: FakeBulkOrg) -> list[tuple[str, str]]:
    return [(j["object"], j["operation"]) for j in org.jobs.values()]


async def test_a_duplicate_changed_by_a_person_is_kept_under_keep_v2(spec) -> None:
    org = GuardedBulkOrg(taken={ACC1}, changed={ACC1})
    outcomes = await _guarded_pipeline(spec, org, "keep_v2").migrate(_requests(ACC1, ACC2))
    assert [o.status for o in outcomes] == [CustomerStatus.COMPLETED] * 2
    # one read of the duplicates (Account by external id), no upsert over the person's change
    reads = [q for q in org.queries if " FROM Account " in q]
    assert len(reads) == 1 and f"Legacy_Id__c IN ('{ACC1}')" in reads[0]
    assert _operations(org) == [("Account", "insert"), ("Contact", "insert")]
    assert org.v2[("Account", ACC1)] == {"Id": "OLD" + ACC1}
    conflict = next(i for i in outcomes[0].issues if i.code == "CONFLICT")
    assert (conflict.severity, conflict.legacy_id) == (WARNING, ACC1)
    assert "agent@v2.example" in conflict.message and "on_conflict: keep_v2" in conflict.message
    assert outcomes[0].counts == {"Account": 1, "Contact": 1}
    assert {(e.object, e.action) for e in outcomes[0].records} == {("Contact", "created")}


async def test_a_duplicate_changed_by_a_person_fails_its_customer_under_fail_customer(
    spec,
) -> None:
    org = GuardedBulkOrg(taken={ACC1}, changed={ACC1})
    outcomes = await _guarded_pipeline(spec, org, "fail_customer").migrate(_requests(ACC1, ACC2))
    by_id = {o.customer_id: o for o in outcomes}
    assert by_id[ACC2].status == CustomerStatus.COMPLETED
    failed = by_id[ACC1]
    assert failed.status == CustomerStatus.FAILED and failed.error.startswith(f"Account {ACC1}")
    conflict = next(i for i in failed.issues if i.code == "CONFLICT")
    assert conflict.severity == ERROR and "on_conflict: fail_customer" in conflict.message
    assert ("Contact", "003" + ACC1[3:]) not in org.v2  # nothing more of it was sent
    assert org.v2[("Account", ACC1)] == {"Id": "OLD" + ACC1}


async def test_a_duplicate_changed_by_a_person_is_written_over_under_overwrite(spec) -> None:
    org = GuardedBulkOrg(taken={ACC1}, changed={ACC1})
    outcomes = await _guarded_pipeline(spec, org, "overwrite").migrate(_requests(ACC1))
    assert outcomes[0].status == CustomerStatus.COMPLETED
    assert _operations(org) == [
        ("Account", "insert"),
        ("Account", "upsert"),
        ("Contact", "insert"),
    ]
    conflict = next(i for i in outcomes[0].issues if i.code == "CONFLICT")
    assert conflict.severity == WARNING and "written over it" in conflict.message
    assert ("Account", "uncertain") in {(e.object, e.action) for e in outcomes[0].records}


async def test_a_duplicate_last_written_by_us_is_upserted_without_a_conflict(spec) -> None:
    org = GuardedBulkOrg(taken={ACC1}, changed=set())
    outcomes = await _guarded_pipeline(spec, org, "fail_customer").migrate(_requests(ACC1))
    assert outcomes[0].status == CustomerStatus.COMPLETED
    assert ("Account", "upsert") in _operations(org)
    assert not any(i.code == "CONFLICT" for i in outcomes[0].issues)


async def test_a_customer_failed_in_the_insert_has_its_duplicates_not_upserted(spec) -> None:
    """One Contact refused, the other met as DUPLICATE_VALUE: the customer is failed and
    compensated, so the duplicate is not upserted (an update compensation cannot undo)."""
    account = v1_account(ACC1)
    first = account["Contacts"]["records"][0]
    second = {**first, "Id": "003B" + ACC1[4:], "Is_Primary__c": False}
    account["Contacts"] = {"totalSize": 2, "done": True, "records": [first, second]}
    org = GuardedBulkOrg(taken={second["Id"]}, changed=set())
    org.fail = {first["Id"]: "INVALID_EMAIL_ADDRESS"}
    pipeline = MigrationPipeline(
        spec,
        FakeSource([account]),
        org,  # type: ignore[arg-type]
        options=LoadOptions(strategy="bulk"),
        integration_username="integration@v2.example",
    )
    (outcome,) = await pipeline.migrate(_requests(ACC1))
    assert outcome.status == CustomerStatus.FAILED
    assert _operations(org) == [("Account", "insert"), ("Contact", "insert")]
    assert "BULK_UPDATE_KEPT" not in {i.code for i in outcome.issues}
    assert org.v2[("Contact", second["Id"])] == {"Id": "OLD" + second["Id"]}
