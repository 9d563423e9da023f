"""The worker's side of references across customers (worker/hierarchy.py) with a fake audit
store: what is recorded as pending, and the one upsert per batch that fills them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from migration_app.audit import pending_references as sql
from migration_app.contracts.customer_status import CustomerStatus
from migration_app.migration.cross_references import CrossReference
from migration_app.migration.spec import load_mapping
from migration_app.worker.hierarchy import CrossCustomerReferences

SITE, BUSINESS = "001A00000000001AAA", "001A00000000002AAA"


def ref(child: str, parent: str) -> CrossReference:
    return CrossReference(
        child, "Account", "Account", child, "Legacy_Id__c", "ParentId", "Parent", "Account",
        parent, "Legacy_Id__c",
    )  # fmt: skip


@dataclass
class Outcome:
    customer_id: str
    status: CustomerStatus = CustomerStatus.COMPLETED
    pending_references: list[Any] = field(default_factory=list)
    written_references: list[Any] = field(default_factory=list)


class FakeAudit:
    def __init__(self, resolvable: list[dict[str, Any]] | None = None) -> None:
        self.executed: list[tuple[str, dict]] = []
        self.fetched: list[tuple[str, dict]] = []
        self.resolvable = resolvable or []

    async def execute(self, text: str, params: dict | None = None) -> None:
        self.executed.append((text, params or {}))

    async def fetch(self, text: str, params: dict | None = None) -> list[dict[str, Any]]:
        self.fetched.append((text, params or {}))
        return self.resolvable if text == sql.RESOLVABLE else []


class FakeTarget:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str, list]] = []
        self.fail = fail

    async def upsert_collection(self, sobject, external_id, records, **_: Any) -> list[dict]:
        self.calls.append((sobject, external_id, list(records)))
        if self.fail:
            error = {"statusCode": "FIELD_INTEGRITY_EXCEPTION", "message": "hierarchy loop"}
            return [{"success": False, "errors": [error]} for _ in records]
        return [{"success": True, "id": "V2"} for _ in records]


def refs(audit: FakeAudit, target: FakeTarget) -> CrossCustomerReferences:
    return CrossCustomerReferences(audit, target, load_mapping())


def test_customers_without_references_across_customers_cost_no_statement() -> None:
    audit = FakeAudit()
    assert asyncio.run(refs(audit, FakeTarget()).record([Outcome(SITE)])) is None
    assert audit.executed == []


def test_pending_references_are_recorded_in_one_statement_for_completed_customers() -> None:
    audit = FakeAudit()
    outcomes = [
        Outcome(SITE, pending_references=[ref(SITE, BUSINESS)]),
        Outcome("001A00000000003AAA", CustomerStatus.FAILED, [ref("001A00000000003AAA", SITE)]),
    ]
    asyncio.run(refs(audit, FakeTarget()).record(outcomes))
    ((text, params),) = audit.executed
    assert text == sql.RECORD_PENDING and params["customers"] == [SITE]
    assert '"parent_legacy_id": "' + BUSINESS + '"' in params["rows"]


def test_a_completed_parent_fills_the_references_waiting_for_it_in_one_upsert() -> None:
    waiting = {
        "object": "Account",
        "legacy_id": SITE,
        "relationship": "Parent",
        "external_id_field": "Legacy_Id__c",
        "parent_legacy_id": BUSINESS,
        "parent_external_id_field": "Legacy_Id__c",
    }
    audit, target = FakeAudit([waiting]), FakeTarget()
    written = asyncio.run(refs(audit, target).fill([Outcome(BUSINESS)]))
    assert written == 1
    ((text, params),) = audit.fetched
    assert text == sql.RESOLVABLE and params["keys"] == [BUSINESS[:15]]
    assert target.calls == [
        (
            "Account",
            "Legacy_Id__c",
            [
                {
                    "attributes": {"type": "Account"},
                    "Legacy_Id__c": SITE,
                    "Parent": {"Legacy_Id__c": BUSINESS},
                }
            ],
        )
    ]
    ((marked, mark_params),) = audit.executed
    assert marked == sql.MARK_FILLED and '"error": null' in mark_params["rows"]


def test_a_refused_fill_keeps_the_reference_pending_with_salesforces_error() -> None:
    waiting = {
        "object": "Account",
        "legacy_id": SITE,
        "relationship": "Parent",
        "external_id_field": "Legacy_Id__c",
        "parent_legacy_id": BUSINESS,
        "parent_external_id_field": "Legacy_Id__c",
    }
    audit = FakeAudit([waiting])
    assert asyncio.run(refs(audit, FakeTarget(fail=True)).fill([Outcome(BUSINESS)])) == 0
    ((_, params),) = audit.executed
    assert "FIELD_INTEGRITY_EXCEPTION: hierarchy loop" in params["rows"]
