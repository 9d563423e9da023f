"""CreatedDate is insert-only: records already in V2 (a re-run, a retried batch) are resent
without it, with a warning, on both load strategies; new records keep their V1 date."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from migration_app.contracts.customer_status import CustomerStatus
from migration_app.migration.load_options import LoadOptions
from migration_app.migration.spec import MappingSpec, load_mapping
from migration_app.worker.pipeline import MigrationPipeline, MigrationRequest
from tests.support.mapping import field_rules_only
from tests.unit.worker.pipeline_fakes import ACC1, FakeGraphOrg, FakeSource, v1_account

CREATED = "2020-01-01T00:00:00.000+0000"
REFUSED = {
    "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
    "statusCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
    "message": "Unable to create/update fields: CreatedDate.",
    "fields": ["CreatedDate"],
}


@pytest.fixture(scope="module")
def spec() -> MappingSpec:
    base = field_rules_only(load_mapping())
    objects = tuple(replace(o, preserve_created_date=True) for o in base.objects)
    return MappingSpec(objects=objects)


def _dated_account() -> dict[str, Any]:
    account = v1_account(ACC1)
    account["CreatedDate"] = CREATED
    for contact in account["Contacts"]["records"]:
        contact["CreatedDate"] = CREATED
    return account


class ExistingAccountOrg(FakeGraphOrg):
    """V2 where the Account already exists: an upsert carrying CreatedDate for it is refused."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[dict[str, Any]] = []

    async def composite_graph(self, payload: dict[str, Any], *, allow_duplicates: bool = False):
        self.fail = {}
        for graph in payload["graphs"]:
            for node in graph["compositeRequest"]:
                self.bodies.append(node["body"])
                if node["url"].endswith(ACC1) and "CreatedDate" in node["body"]:
                    self.fail[ACC1] = ("INVALID_FIELD_FOR_INSERT_UPDATE", "CreatedDate")
        return await super().composite_graph(payload, allow_duplicates=allow_duplicates)

    async def upsert_collection(self, sobject, field, records, *, allow_duplicates=False):
        self.calls.append((sobject, len(records)))
        out = []
        for record in records:
            self.bodies.append(record)
            if record[field] == ACC1 and "CreatedDate" in record:
                out.append({"success": False, "errors": [REFUSED]})
            else:
                out.append({"success": True, "id": "V2" + record[field], "created": True})
        return out


@pytest.mark.parametrize("strategy", ["graph", "collections"])
async def test_an_existing_record_is_resent_without_created_date(
    spec: MappingSpec, strategy: str
) -> None:
    org = ExistingAccountOrg()
    pipeline = MigrationPipeline(
        spec, FakeSource([_dated_account()]), org, options=LoadOptions(strategy=strategy)
    )
    (outcome,) = await pipeline.migrate([MigrationRequest(ACC1, "corr", 1)])
    assert outcome.status == CustomerStatus.COMPLETED, outcome.issues
    codes = [(i.severity, i.code, i.object) for i in outcome.issues]
    account_bodies = [b for b in org.bodies if "Name" in b]
    assert "CreatedDate" in account_bodies[0] and "CreatedDate" not in account_bodies[-1]
    contact_bodies = [b for b in org.bodies if "LastName" in b]
    if strategy == "collections":  # answered per record: the new Contact keeps V1's date
        assert codes == [("warning", "CREATED_DATE_NOT_SET", "Account")]
        assert all(b.get("CreatedDate") == CREATED for b in contact_bodies)
    else:  # a graph stops at its first refusal: the customer's graph goes without audit fields
        assert codes == [
            ("warning", "CREATED_DATE_NOT_SET", "Account"),
            ("warning", "CREATED_DATE_NOT_SET", "Contact"),
        ]
        assert "CreatedDate" not in contact_bodies[-1]
    assert outcome.counts == {"Account": 1, "Contact": 1}


class RerunOrg(FakeGraphOrg):
    """V2 holding every record already: like Salesforce, a graph stops at its first node that
    carries CreatedDate (refused on update) and the request halts after 14 failed graphs."""

    async def composite_graph(self, payload: dict[str, Any], *, allow_duplicates: bool = False):
        self.fail = {}
        for graph in payload["graphs"]:
            for node in graph["compositeRequest"]:
                if "CreatedDate" in node["body"]:
                    self.fail[node["url"].rsplit("/", 1)[1]] = (
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        "CreatedDate",
                    )
                    break
        return await super().composite_graph(payload, allow_duplicates=allow_duplicates)


async def test_a_batch_of_customers_already_in_v2_completes_in_a_few_rounds(
    spec: MappingSpec,
) -> None:
    """Was: one refused node stripped per graph per round, past MAX_HALTED_ROUNDS for a batch
    of re-runs, and every customer of the batch FAILED (RETRIES_EXHAUSTED)."""
    accounts = []
    for n in range(150):  # each with 5 records in V2 (an Account and 4 Contacts)
        account = _dated_account()
        account["Id"] = f"001A{n:011d}AAA"
        (contact,) = account["Contacts"]["records"]
        contacts = [
            {**contact, "Id": f"003A{n:07d}{k:04d}AAA", "AccountId": account["Id"]}
            for k in range(4)
        ]
        account["Contacts"] = {"totalSize": 4, "done": True, "records": contacts}
        accounts.append(account)
    org = RerunOrg()
    pipeline = MigrationPipeline(spec, FakeSource(accounts), org, options=LoadOptions())
    outcomes = await pipeline.migrate([MigrationRequest(a["Id"], "corr", 2) for a in accounts])
    assert {o.status for o in outcomes} == {CustomerStatus.COMPLETED}
    assert len(org.graph_calls) <= 2 * (150 // 14 + 2), org.graph_calls
