"""Verify on e-mails, tasks and hierarchies (pure): a polymorphic WhatId read back as an id is
mapped to the legacy id of the customer's record; an unset reference to another customer is
PENDING_REFERENCE in the details, not drift; a wrong parent is drift."""

from __future__ import annotations

from typing import Any

import pytest

from migration_app.migration.customer_transform import transform_customer
from migration_app.migration.extract_plan import follow_up_key
from migration_app.migration.spec import MappingSpec, load_mapping
from migration_app.verify.plan import (
    DRIFT,
    MATCH,
    PENDING_REFERENCE,
    compare_customer,
    expected_records,
    resolve_polymorphic,
    v2_select,
)
from tests.support.mapping import field_rules_only

ACC = "001A00000000001AAA"
PARENT = "001A00000000009AAA"
CASE = "500A00000000001AAA"
TASK = "00TA00000000001AAA"


@pytest.fixture(scope="module")
def spec() -> MappingSpec:
    return field_rules_only(load_mapping())


def v1_customer(spec: MappingSpec) -> dict[str, Any]:
    sub = lambda rows: {"totalSize": len(rows), "done": True, "records": rows}  # noqa: E731
    return {
        "Id": ACC,
        "Name": "Acme Ltd",
        "ParentId": PARENT,
        "Cases": sub([{"Id": CASE, "AccountId": ACC, "Subject": "Bill", "Priority": "High"}]),
        follow_up_key(spec.object("Task")): sub(
            [{"Id": TASK, "WhatId": CASE, "Subject": "Call", "Status": "Completed"}]
        ),
    }


def v2_rows(spec: MappingSpec, plan, parent: str | None) -> dict[tuple[str, str], dict]:
    """V2 as the migration left it, read back the way verify reads it."""
    rows = {}
    for key, record in expected_records(plan, spec).items():
        row = {k: v for k, v in record.items() if k != "attributes"}
        row["Id"] = "V2" + key[1][2:]
        rows[key] = row
    rows[("Task", TASK)].pop("What")
    rows[("Task", TASK)]["WhatId"] = rows[("Case", CASE)]["Id"]  # SOQL gives the id only
    rows[("Account", ACC)]["Parent"] = {"Legacy_Id__c": parent} if parent else None
    return rows


def test_v2_select_reads_a_polymorphic_lookup_by_its_id_and_follow_ups_by_their_parent(
    spec: MappingSpec,
) -> None:
    names = v2_select(spec.object("Task"), spec)
    assert "WhatId" in names and "WhoId" in names and "What.Legacy_Id__c" not in names
    assert "Parent.Legacy_Id__c" in v2_select(spec.object("EmailMessage"), spec)
    assert "Parent.Legacy_Id__c" in v2_select(spec.root, spec)


def test_a_pending_parent_is_reported_not_drift_and_tasks_match(spec: MappingSpec) -> None:
    plan = transform_customer(spec, v1_customer(spec))
    expected = expected_records(plan, spec)
    assert expected[("Account", ACC)]["Parent"] == {"Legacy_Id__c": PARENT}
    actual = v2_rows(spec, plan, parent=None)
    resolve_polymorphic(spec, actual)
    verdict = compare_customer(ACC, expected, actual, spec)
    assert verdict.verdict == MATCH, verdict
    kinds = [(d["kind"], d["field"]) for d in verdict.details()]
    assert kinds == [(PENDING_REFERENCE, "Parent.Legacy_Id__c")]


def test_a_filled_parent_matches_and_a_wrong_one_or_task_target_is_drift(
    spec: MappingSpec,
) -> None:
    plan = transform_customer(spec, v1_customer(spec))
    expected = expected_records(plan, spec)
    filled = v2_rows(spec, plan, parent=PARENT)
    resolve_polymorphic(spec, filled)
    assert compare_customer(ACC, expected, filled, spec).details() == []
    wrong = v2_rows(spec, plan, parent="001A00000000008AAA")
    wrong[("Task", TASK)]["WhatId"] = wrong[("Account", ACC)]["Id"]  # on the Account, not Case
    resolve_polymorphic(spec, wrong)
    verdict = compare_customer(ACC, expected, wrong, spec)
    assert verdict.verdict == DRIFT
    assert {(d.object, d.field) for d in verdict.drift} == {
        ("Account", "Parent.Legacy_Id__c"),
        ("Task", "What.Legacy_Id__c"),
    }
