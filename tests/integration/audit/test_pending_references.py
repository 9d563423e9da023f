"""The pending-reference SQL on a real PostgreSQL (audit/pending_references.py): the ledger says
which parents are migrated, a customer's pending references are recorded and settled, the ones
whose parent completed are found, filled or kept with their error, listed, and forgotten."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from migration_app.audit import pending_references as refs
from migration_app.audit.records import LedgerEntry, RunRecord
from migration_app.audit.settings import AuditSettings
from migration_app.audit.store import AuditStore
from migration_app.migration.cross_references import CrossReference

pytestmark = pytest.mark.integration

SITE, BUSINESS, OTHER = "001A00000000001AAA", "001A00000000002AAA", "001A00000000003AAA"
NOW = datetime(2026, 12, 3, tzinfo=UTC)


@pytest.fixture
async def store(audit_settings: AuditSettings) -> AsyncIterator[AuditStore]:
    audit = AuditStore(audit_settings)
    await audit.start()
    yield audit
    await audit.close()


def ref(child: str, parent: str) -> CrossReference:
    return CrossReference(
        child, "Account", "Account", child, "Legacy_Id__c", "ParentId", "Parent", "Account",
        parent, "Legacy_Id__c",
    )  # fmt: skip


def run(customer: str, attempt: int = 1, status: str = "COMPLETED") -> RunRecord:
    records = [] if status != "COMPLETED" else [LedgerEntry("Account", customer, "V2", "created")]
    return RunRecord(customer, attempt, status, "c", NOW, NOW, "w", records=records)


async def test_migrated_parents_come_from_the_ledger_of_completed_runs(store: AuditStore) -> None:
    await store.record_runs([run(BUSINESS), run(OTHER, status="FAILED")])
    # 15 or 18 characters, as given
    assert await refs.migrated_parents(store, "Account", [BUSINESS, OTHER, SITE[:15]]) == {BUSINESS}
    assert await refs.migrated_parents(store, "Account", [BUSINESS[:15]]) == {BUSINESS[:15]}
    await store.record_runs([run(BUSINESS, attempt=2, status="ROLLED_BACK")])
    assert await refs.migrated_parents(store, "Account", [BUSINESS]) == set()


async def test_pending_is_recorded_found_when_the_parent_completes_and_filled(
    store: AuditStore,
) -> None:
    await refs.record_pending(store, [SITE], [ref(SITE, BUSINESS)])
    (waiting,) = await refs.pending(store, SITE)
    assert (waiting["legacy_id"], waiting["parent_legacy_id"]) == (SITE, BUSINESS)
    assert await refs.pending(store, BUSINESS) == [waiting]  # the parent's page lists it too
    assert await refs.resolvable(store, [BUSINESS]) == []  # the parent is not migrated yet
    await store.record_runs([run(BUSINESS)])
    (row,) = await refs.resolvable(store, [BUSINESS[:15]])
    assert row["parent_external_id_field"] == "Legacy_Id__c"
    fill = {"object": "Account", "legacy_id": SITE, "relationship": "Parent"}
    await refs.mark_filled(store, [{**fill, "error": "FIELD_INTEGRITY_EXCEPTION: loop"}])
    (still,) = await refs.pending(store)
    assert still["attempts"] == 1 and still["last_error"].startswith("FIELD_INTEGRITY")
    assert len(await refs.resolvable(store, [])) == 1  # a failed fill is retried later
    await refs.mark_filled(store, [{**fill, "error": None}])
    assert await refs.pending(store) == []


async def test_a_reference_written_directly_settles_the_earlier_pending_one(
    store: AuditStore,
) -> None:
    await refs.record_pending(store, [SITE], [ref(SITE, BUSINESS)])
    await refs.record_pending(store, [SITE], [])  # re-migrated: written directly this time
    assert await refs.pending(store) == []
    await refs.record_pending(store, [SITE], [ref(SITE, OTHER)])  # a new parent: pending again
    assert [p["parent_legacy_id"] for p in await refs.pending(store)] == [OTHER]
    await refs.forget_customers(store, [SITE])  # rolled back
    assert await refs.pending(store) == []
