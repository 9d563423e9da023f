"""The SOQL evaluator and validation over an in-memory store (no server)."""

from __future__ import annotations

import pytest

from devstack.sandbox import validation
from devstack.sandbox.errors import SfError
from devstack.sandbox.ids import IdFactory
from devstack.sandbox.schema import v2_schema
from devstack.sandbox.soql import parse
from devstack.sandbox.soql_eval import Evaluator
from devstack.sandbox.store import Store


@pytest.fixture
def store() -> Store:
    s = Store(v2_schema(), IdFactory("2S"))
    for i in range(5):
        acc = s.insert("Account", {"Name": f"Acc {i}", "Legacy_Id__c": f"L{i}"})
        for j in range(i):
            s.insert("Contact", {"AccountId": acc, "LastName": f"C{i}{j}", "Primary__c": j == 0})
    return s


def _run(store: Store, soql: str) -> list[dict]:
    ev = Evaluator(store)
    cq = ev.compile(parse(soql))
    return ev.serialize(cq, ev.run(cq))


def test_subquery_uses_child_index(store: Store) -> None:
    recs = _run(
        store,
        "SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName DESC) "
        "FROM Account WHERE Legacy_Id__c IN ('L3', 'L0')",
    )
    assert [r["Name"] for r in recs] == ["Acc 0", "Acc 3"]
    assert recs[0]["Contacts"] is None
    assert [c["LastName"] for c in recs[1]["Contacts"]["records"]] == ["C32", "C31", "C30"]


def test_reference_filter_and_parent_path(store: Store) -> None:
    acc = store.find_by("Account", "Legacy_Id__c", "L4")[0]
    recs = _run(
        store,
        f"SELECT Account.Legacy_Id__c FROM Contact WHERE AccountId = '{acc[:15]}' "
        "AND Primary__c = false",
    )
    assert len(recs) == 3 and {r["Account"]["Legacy_Id__c"] for r in recs} == {"L4"}


def test_rollback_restores_rows_and_indexes(store: Store) -> None:
    before = store.counts()
    acc = store.find_by("Account", "Legacy_Id__c", "L1")[0]
    with store.transaction() as tx:
        store.insert("Account", {"Name": "tmp", "Legacy_Id__c": "TMP"})
        store.update("Account", acc, {"Legacy_Id__c": "L1b"})
        tx.rollback()
    assert store.counts() == before
    assert store.find_by("Account", "Legacy_Id__c", "L1") == [acc]
    assert store.find_by("Account", "Legacy_Id__c", "TMP") == []


def test_validation_resolves_parent_external_id(store: Store) -> None:
    obj = store.schema.objects["Contact"]
    values = validation.prepare(
        store, obj, {"LastName": "x", "Account": {"Legacy_Id__c": "L2"}}, "create"
    )
    assert values["AccountId"] == store.find_by("Account", "Legacy_Id__c", "L2")[0]
    assert values["Primary__c"] is False
    with pytest.raises(SfError) as err:
        validation.prepare(store, obj, {"LastName": None}, "update", "003")
    assert err.value.code == "REQUIRED_FIELD_MISSING"


# -- semi-joins and anti-joins ----------------------------------------------------------------
def test_semi_join_selects_children_of_the_accounts(store: Store) -> None:
    accounts = [store.find_by("Account", "Legacy_Id__c", f"L{i}")[0] for i in (2, 3)]
    in_list = ",".join(f"'{a}'" for a in accounts)
    recs = _run(
        store,
        "SELECT LastName FROM Contact WHERE Id IN "
        f"(SELECT Id FROM Contact WHERE AccountId IN ({in_list})) AND Primary__c = false",
    )
    assert sorted(r["LastName"] for r in recs) == ["C21", "C31", "C32"]


def test_semi_join_on_a_reference_and_anti_join(store: Store) -> None:
    with_primary = _run(
        store,
        "SELECT Legacy_Id__c FROM Account WHERE Id IN "
        "(SELECT AccountId FROM Contact WHERE Primary__c = true)",
    )
    assert sorted(r["Legacy_Id__c"] for r in with_primary) == ["L1", "L2", "L3", "L4"]
    without = _run(
        store,
        "SELECT Legacy_Id__c FROM Account WHERE Id NOT IN (SELECT AccountId FROM Contact)",
    )
    assert [r["Legacy_Id__c"] for r in without] == ["L0"]


def test_semi_join_selecting_nothing_matches_nothing(store: Store) -> None:
    assert (
        _run(
            store,
            "SELECT Id FROM Contact WHERE AccountId IN "
            "(SELECT Id FROM Account WHERE Legacy_Id__c = 'none')",
        )
        == []
    )


@pytest.mark.parametrize(
    ("soql", "message"),
    [
        (
            "SELECT Id FROM Account WHERE Name = 'x' OR Id IN (SELECT AccountId FROM Contact)",
            "not allowed with the 'OR' operator",
        ),
        (
            "SELECT Id FROM Account WHERE NOT (Id IN (SELECT AccountId FROM Contact))",
            "only allowed at the top level",
        ),
        (
            "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact) AND Id IN "
            "(SELECT AccountId FROM Contact) AND Id IN (SELECT AccountId FROM Contact)",
            "Maximum 2 semi join",
        ),
        (
            "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE "
            "AccountId IN (SELECT Id FROM Account))",
            "Nesting of semi join",
        ),
        (
            "SELECT Id, (SELECT Id FROM Contacts WHERE Id IN (SELECT Id FROM Contact)) "
            "FROM Account",
            "only allowed at the top level",
        ),
    ],
)
def test_semi_join_placement_is_checked(soql: str, message: str) -> None:
    with pytest.raises(SfError) as refused:
        parse(soql)
    assert refused.value.code == "MALFORMED_QUERY"
    assert message in refused.value.message


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id FROM Account WHERE Name IN (SELECT AccountId FROM Contact)",
        "SELECT Id FROM Account WHERE Id IN (SELECT LastName FROM Contact)",
        "SELECT Id FROM Account WHERE Id IN (SELECT Id, AccountId FROM Contact)",
    ],
)
def test_semi_join_needs_ids_on_both_sides(store: Store, soql: str) -> None:
    with pytest.raises(SfError) as refused:
        _run(store, soql)
    assert refused.value.code == "MALFORMED_QUERY"


def test_a_null_filter_on_an_indexed_reference_scans(store: Store) -> None:
    orphan = store.insert("Contact", {"LastName": "Orphan"})
    recs = _run(store, "SELECT Id FROM Contact WHERE AccountId = null AND LastName != 'x'")
    assert [r["Id"] for r in recs] == [orphan]
