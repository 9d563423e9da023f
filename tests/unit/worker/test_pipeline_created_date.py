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
from tests.mapping_support import field_rules_only
from tests.unit.worker.test_pipeline import ACC1, FakeSource, _account
from tests.unit.worker.test_pipeline_graph import FakeGraphOrg

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
    account = _account(ACC1)
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
    assert [(i.severity, i.code, i.legacy_id) for i in outcome.issues] == [
        ("warning", "CREATED_DATE_NOT_SET", ACC1)
    ]
    account_bodies = [b for b in org.bodies if "Name" in b]
    assert "CreatedDate" in account_bodies[0] and "CreatedDate" not in account_bodies[-1]
    contact_bodies = [b for b in org.bodies if "LastName" in b]
    assert all(b.get("CreatedDate") == CREATED for b in contact_bodies)  # new: V1's date
    assert outcome.counts == {"Account": 1, "Contact": 1}
