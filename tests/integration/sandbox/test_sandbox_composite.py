"""Composite, sObject Collections and composite/graph through simple-salesforce's restful()."""

from __future__ import annotations

import pytest
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from devstack.sandbox import SandboxThread
from tests.integration.sandbox.support import admin

BASE = "/services/data/v59.0"


def _accounts(n: int, prefix: str = "001L") -> list[dict]:
    return [
        {"attributes": {"type": "Account"}, "Name": f"A{i}", "Legacy_Id__c": f"{prefix}{i}"}
        for i in range(n)
    ]


def test_collections_upsert_results_in_order(sf2: Salesforce) -> None:
    body = {"allOrNone": False, "records": _accounts(3)}
    res = sf2.restful("composite/sobjects/Account/Legacy_Id__c", method="PATCH", json=body)
    assert [r["created"] for r in res] == [True, True, True]
    body["records"][1]["Status__c"] = "Suspended"  # invalid on V2
    body["records"].append(
        {"attributes": {"type": "Account"}, "Name": "New", "Legacy_Id__c": "001Lnew"}
    )
    res = sf2.restful("composite/sobjects/Account/Legacy_Id__c", method="PATCH", json=body)
    assert [r["success"] for r in res] == [True, False, True, True]
    assert [r.get("created") for r in res] == [False, None, False, True]
    assert res[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert sf2.query("SELECT COUNT() FROM Account")["totalSize"] == 4


def test_collections_upsert_children_by_parent_external_id(sf2: Salesforce) -> None:
    sf2.restful(
        "composite/sobjects/Account/Legacy_Id__c", method="PATCH", json={"records": _accounts(1)}
    )
    contacts = [
        {
            "attributes": {"type": "Contact"},
            "Legacy_Id__c": f"003L{i}",
            "LastName": "L",
            "Account": {"Legacy_Id__c": "001L0"},
        }
        for i in range(2)
    ]
    contacts.append(
        {
            "attributes": {"type": "Contact"},
            "Legacy_Id__c": "003Lx",
            "LastName": "L",
            "Account": {"Legacy_Id__c": "001MISSING"},
        }
    )
    res = sf2.restful(
        "composite/sobjects/Contact/Legacy_Id__c",
        method="PATCH",
        json={"allOrNone": False, "records": contacts},
    )
    assert [r["success"] for r in res] == [True, True, False]
    assert "Foreign key external ID: 001MISSING not found" in res[2]["errors"][0]["message"]
    acc = sf2.query("SELECT (SELECT Legacy_Id__c FROM Contacts) FROM Account")["records"][0]
    assert acc["Contacts"]["totalSize"] == 2


def test_collections_all_or_none_rolls_back(sf2: Salesforce, v2: SandboxThread) -> None:
    records = _accounts(3)
    records[2]["Name"] = None  # REQUIRED_FIELD_MISSING
    res = sf2.restful(
        "composite/sobjects/Account/Legacy_Id__c",
        method="PATCH",
        json={"allOrNone": True, "records": records},
    )
    assert [r["success"] for r in res] == [False, False, False]
    assert res[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert res[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert admin(v2, "GET", "counts")["Account"] == 0


def test_collections_duplicate_external_ids_in_one_call(sf2: Salesforce) -> None:
    records = _accounts(2)
    records[1]["Legacy_Id__c"] = records[0]["Legacy_Id__c"]
    res = sf2.restful(
        "composite/sobjects/Account/Legacy_Id__c", method="PATCH", json={"records": records}
    )
    assert {r["errors"][0]["statusCode"] for r in res} == {"DUPLICATE_EXTERNAL_ID"}


def test_collections_create_update_delete(sf2: Salesforce, v2: SandboxThread) -> None:
    created = sf2.restful(
        "composite/sobjects", method="POST", json={"allOrNone": True, "records": _accounts(2)}
    )
    ids = [r["id"] for r in created]
    assert all(r["success"] for r in created)
    updated = sf2.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [
                {"attributes": {"type": "Account"}, "Id": ids[0], "Name": "Renamed"},
                {"attributes": {"type": "Account"}, "Id": "001000000000000AAA", "Name": "Ghost"},
            ]
        },
    )
    assert [r["success"] for r in updated] == [True, False]
    got = sf2.restful("composite/sobjects/Account", params={"ids": ",".join(ids), "fields": "Name"})
    assert [r["Name"] for r in got] == ["Renamed", "A1"]
    deleted = sf2.restful(
        "composite/sobjects", method="DELETE", params={"ids": ",".join(ids), "allOrNone": "true"}
    )
    assert [r["id"] for r in deleted] == ids and all(r["success"] for r in deleted)
    assert admin(v2, "GET", "counts")["Account"] == 0


def test_collections_over_200_is_rejected(sf2: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf2.restful(
            "composite/sobjects/Account/Legacy_Id__c",
            method="PATCH",
            json={"records": _accounts(201)},
        )
    assert err.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_composite_references_and_all_or_none(sf2: Salesforce, v2: SandboxThread) -> None:
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {
                "method": "POST",
                "url": f"{BASE}/sobjects/Account",
                "referenceId": "acc",
                "body": {"Name": "Parent"},
            },
            {
                "method": "POST",
                "url": f"{BASE}/sobjects/Contact",
                "referenceId": "con",
                "body": {"LastName": "Child", "AccountId": "@{acc.id}"},
            },
            {
                "method": "GET",
                "url": f"{BASE}/sobjects/Contact/@{{con.id}}?fields=AccountId",
                "referenceId": "get",
            },
        ],
    }
    res = sf2.restful("composite", method="POST", json=body)["compositeResponse"]
    assert [r["httpStatusCode"] for r in res] == [201, 201, 200]
    assert res[2]["body"]["AccountId"] == res[0]["body"]["id"]
    body["compositeRequest"][1]["body"]["Email"] = "bad@"
    res = sf2.restful("composite", method="POST", json=body)["compositeResponse"]
    assert [r["httpStatusCode"] for r in res] == [400, 400, 400]
    assert res[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert res[1]["body"][0]["errorCode"] == "INVALID_EMAIL_ADDRESS"
    assert admin(v2, "GET", "counts")["Account"] == 1  # only the first, successful call's
    with pytest.raises(SalesforceMalformedRequest):
        sf2.restful(
            "composite",
            method="POST",
            json={
                "compositeRequest": [
                    {"method": "GET", "url": f"{BASE}/limits", "referenceId": f"r{i}"}
                    for i in range(26)
                ]
            },
        )


def test_composite_graph(sf2: Salesforce, v2: SandboxThread) -> None:
    def graph(gid: str, name: object) -> dict:
        return {
            "graphId": gid,
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"{BASE}/sobjects/Account",
                    "referenceId": "a",
                    "body": {"Name": name},
                },
                {
                    "method": "POST",
                    "url": f"{BASE}/sobjects/Meter_Point__c",
                    "referenceId": "m",
                    "body": {"MPAN__c": "1", "Account__c": "@{a.id}"},
                },
            ],
        }

    res = sf2.restful(
        "composite/graph", method="POST", json={"graphs": [graph("ok", "G"), graph("bad", None)]}
    )
    assert [g["isSuccessful"] for g in res["graphs"]] == [True, False]
    counts = admin(v2, "GET", "counts")
    assert isinstance(counts, dict)
    assert counts == {
        **dict.fromkeys(counts, 0),  # the objects the graphs did not write
        "Account": 1,
        "Contact": 0,
        "Case": 0,
        "Meter_Point__c": 1,
        "User": 11,  # reference data: the API user, 9 re-created V1 users, the fallback owner
        "RecordType": 7,
    }
