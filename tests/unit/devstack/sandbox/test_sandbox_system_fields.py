"""System fields of the sandbox store and org, without a server: the write clock, the audit
stamps of every write, the recycle bin (and its undo), and what queryAll sees."""

from __future__ import annotations

import pytest

from devstack.sandbox import store as store_module
from devstack.sandbox.ids import IdFactory
from devstack.sandbox.schema import AUDIT_FIELDS, v1_schema, v2_schema
from devstack.sandbox.soql import parse
from devstack.sandbox.soql_eval import Evaluator
from devstack.sandbox.store import Clock, Store, sf_datetime

USER = "0052S0000000001QAA"
AGENT = "0052S0000000002QAA"


@pytest.fixture
def store() -> Store:
    s = Store(v2_schema(), IdFactory("2S"))
    s.default_user = USER
    return s


def _query(store: Store, soql: str, include_deleted: bool = False) -> list[dict]:
    ev = Evaluator(store)
    cq = ev.compile(parse(soql), include_deleted=include_deleted)
    return ev.serialize(cq, ev.run(cq))


def test_clock_is_strictly_increasing_within_one_millisecond(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store_module.time, "time", lambda: 1796312401.1235)
    clock = Clock()
    stamps = [clock.tick() for _ in range(3)]
    assert stamps == [
        "2026-12-03T15:40:01.123+0000",
        "2026-12-03T15:40:01.124+0000",
        "2026-12-03T15:40:01.125+0000",
    ]
    assert sf_datetime(0) == "1970-01-01T00:00:00.000+0000"


def test_every_object_describes_the_system_fields() -> None:
    for schema, grant in ((v2_schema(), True), (v1_schema(), False)):
        for obj in schema.objects.values():
            fields = {f["name"]: f for f in obj.describe()["fields"]}
            for name in ("CreatedById", "LastModifiedById"):
                assert fields[name]["type"] == "reference"
                assert fields[name]["referenceTo"] == ["User"]
                assert fields[name]["relationshipName"] == name.removesuffix("Id")
            for name in AUDIT_FIELDS:
                user_object = obj.name in ("User", "RecordType")
                assert fields[name]["createable"] is (grant and not user_object), (obj.name, name)
                assert not fields[name]["updateable"] and fields[name]["defaultedOnCreate"]
            stamp, deleted = fields["SystemModstamp"], fields["IsDeleted"]
            assert stamp["type"] == "datetime" and deleted["type"] == "boolean"
            for f in (stamp, deleted):
                assert not f["createable"] and not f["updateable"] and not f["nillable"]


def test_writes_stamp_who_and_when(store: Store) -> None:
    rid = store.insert("Account", {"Name": "A"})
    row = dict(store.get("Account", rid) or {})
    assert row["CreatedById"] == row["LastModifiedById"] == USER
    assert row["CreatedDate"] == row["LastModifiedDate"] == row["SystemModstamp"]
    assert row["IsDeleted"] is False
    store.update("Account", rid, {}, user=AGENT)  # a save that changes nothing still stamps
    after = store.get("Account", rid) or {}
    assert after["LastModifiedById"] == AGENT and after["CreatedById"] == USER
    assert after["SystemModstamp"] == after["LastModifiedDate"] > row["SystemModstamp"]
    assert after["CreatedDate"] == row["CreatedDate"]


def test_audit_fields_given_on_insert_win_but_systemmodstamp_is_the_stores(store: Store) -> None:
    given = {
        "Name": "Old",
        "CreatedDate": "2019-01-01T00:00:00.000+0000",
        "CreatedById": AGENT,
        "LastModifiedDate": "2019-02-01T00:00:00.000+0000",
        "LastModifiedById": AGENT,
    }
    row = store.get("Account", store.insert("Account", given)) or {}
    assert {k: row[k] for k in given} == given
    assert row["SystemModstamp"] > "2020"
    seeded = store.get(
        "Account", store.insert("Account", {"Name": "S"}, created=given["CreatedDate"])
    )
    assert seeded and seeded["SystemModstamp"] == seeded["CreatedDate"] == given["CreatedDate"]


def test_delete_moves_the_row_to_the_bin_and_undo_brings_it_back(store: Store) -> None:
    acc = store.insert("Account", {"Name": "A", "Legacy_Id__c": "L1"})
    contact = store.insert("Contact", {"LastName": "C", "AccountId": acc, "Legacy_Id__c": "C1"})
    with store.transaction() as tx:
        store.delete("Contact", contact, user=AGENT)
        assert store.get("Contact", contact) is None and store.is_deleted("Contact", contact)
        assert store.find_by("Contact", "Legacy_Id__c", "C1") == []
        assert list(store.children("Contact", "AccountId", acc)) == []
        assert list(store.children("Contact", "AccountId", acc, include_deleted=True)) == [contact]
        binned = store.get_any("Contact", contact) or {}
        assert binned["IsDeleted"] is True and binned["AccountId"] == acc
        assert binned["LastModifiedById"] == AGENT
        tx.rollback()
    row = store.get("Contact", contact) or {}
    assert row["IsDeleted"] is False and row["LastModifiedById"] == USER
    assert not store.is_deleted("Contact", contact)
    assert store.find_by("Contact", "Legacy_Id__c", "C1") == [contact]
    assert list(store.children("Contact", "AccountId", acc, include_deleted=True)) == [contact]


def test_purge_leaves_nothing_in_the_bin(store: Store) -> None:
    rid = store.insert("Account", {"Name": "A"})
    store.purge("Account", rid)
    assert store.get_any("Account", rid) is None


def test_query_all_sees_the_bin_at_every_level(store: Store) -> None:
    acc = store.insert("Account", {"Name": "A"})
    kept = store.insert("Contact", {"LastName": "Kept", "AccountId": acc})
    gone = store.insert("Contact", {"LastName": "Gone", "AccountId": acc})
    mark = store.get("Contact", kept)["SystemModstamp"]  # type: ignore[index]
    store.delete("Contact", gone, user=AGENT)
    soql = "SELECT Id, IsDeleted, AccountId, Account.Name FROM Contact ORDER BY LastName"
    assert [r["Id"] for r in _query(store, soql)] == [kept]
    both = _query(store, soql, include_deleted=True)
    assert [(r["Id"], r["IsDeleted"], r["AccountId"]) for r in both] == [
        (gone, True, acc),
        (kept, False, acc),
    ]
    assert both[0]["Account"]["Name"] == "A"
    filtered = _query(
        store,
        f"SELECT Id FROM Contact WHERE IsDeleted = true AND SystemModstamp > "
        f"{mark[:23]}Z AND LastModifiedById != '{USER}'",
        include_deleted=True,
    )
    assert [r["Id"] for r in filtered] == [gone]
    assert _query(store, "SELECT Id FROM Contact WHERE IsDeleted = true") == []
    sub = "SELECT Id, (SELECT Id, IsDeleted FROM Contacts) FROM Account"
    assert _query(store, sub)[0]["Contacts"]["totalSize"] == 1
    assert _query(store, sub, include_deleted=True)[0]["Contacts"]["totalSize"] == 2
    by_index = f"SELECT Id FROM Contact WHERE AccountId = '{acc}'"
    assert len(_query(store, by_index, include_deleted=True)) == 2
    assert len(_query(store, by_index)) == 1
