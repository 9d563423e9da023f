"""The rollback plan (pure): what a rollback deletes, children first, and what it keeps and
names (records updated, or found after an interrupted attempt)."""

from __future__ import annotations

import pytest

from migration_app.migration.spec import load_mapping
from migration_app.rollback.plan import plan_rollback
from tests.support.mapping import field_rules_only

ACC = "001A00000000001AAA"
CON = "003A00000000001AAA"


@pytest.fixture(scope="module")
def spec():
    return field_rules_only(load_mapping())


def test_rollback_deletes_created_children_first_and_keeps_updated(spec) -> None:
    ledger = [
        {
            "customer_id": ACC,
            "object": "Account",
            "legacy_id": ACC,
            "v2_id": "A1",
            "action": "created",
        },
        {
            "customer_id": ACC,
            "object": "Contact",
            "legacy_id": CON,
            "v2_id": "C1",
            "action": "created",
        },
        {
            "customer_id": ACC,
            "object": "Case",
            "legacy_id": "k",
            "v2_id": "K1",
            "action": "updated",
        },
        {
            "customer_id": ACC,
            "object": "Contact",
            "legacy_id": CON,
            "v2_id": "C1",
            "action": "updated",
        },
    ]
    plan = plan_rollback(ledger, spec, [ACC])[ACC]
    assert [r.v2_id for r in plan.delete] == ["C1", "A1"]  # created (then updated) still goes
    assert [r.v2_id for r in plan.keep_updated] == ["K1"]
    ledger.append(
        {
            "customer_id": ACC,
            "object": "Contact",
            "legacy_id": CON,
            "v2_id": "C1",
            "action": "deleted",
        }
    )
    assert [r.v2_id for r in plan_rollback(ledger, spec, [ACC])[ACC].delete] == ["A1"]


def test_rollback_keeps_and_names_records_found_after_an_interrupted_attempt(spec) -> None:
    """Never deleted (they may have been there before), never hidden among the updated."""
    row = {"customer_id": ACC, "object": "Account", "legacy_id": ACC}
    ledger = [
        {**row, "v2_id": "A1", "action": "uncertain"},
        {**row, "object": "Case", "legacy_id": "k", "v2_id": "K1", "action": "updated"},
        {**row, "object": "Contact", "legacy_id": CON, "v2_id": "C1", "action": "created"},
        {**row, "object": "Contact", "legacy_id": CON, "v2_id": "C1", "action": "uncertain"},
    ]
    plan = plan_rollback(ledger, spec, [ACC])[ACC]
    assert [r.v2_id for r in plan.keep_uncertain] == ["A1"]
    assert [r.v2_id for r in plan.keep_updated] == ["K1"]
    assert [r.v2_id for r in plan.delete] == ["C1"]  # seen created once: ours


def test_rollback_deletes_a_file_as_its_content_document_first(spec) -> None:
    row = {"customer_id": ACC, "action": "created"}
    shared = {"customer_id": ACC, "action": "updated"}
    ledger = [
        {**row, "object": "Account", "legacy_id": ACC, "v2_id": "A1"},
        {**row, "object": "ContentVersion", "legacy_id": "068v1", "v2_id": "V1"},
        {**row, "object": "ContentDocument", "legacy_id": "069v1", "v2_id": "D1"},
        {**row, "object": "ContentDocument", "legacy_id": "069v2", "v2_id": "D2"},
        {**shared, "object": "ContentDocument", "legacy_id": "069v2", "v2_id": "D2"},
    ]  # fmt: skip
    plan = plan_rollback(ledger, spec, [ACC])[ACC]
    assert [r.v2_id for r in plan.delete] == ["D1", "D2", "A1"]
    assert [r.v2_id for r in plan.with_documents] == ["V1"]
