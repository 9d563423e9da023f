"""sObject resources through simple-salesforce: describe, CRUD, external ids, validation."""

from __future__ import annotations

import pytest
from simple_salesforce import (
    Salesforce,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)


def _error(exc: pytest.ExceptionInfo) -> dict:
    return exc.value.content[0]


def test_describe_matches_orgs_md(sf2: Salesforce, sf1: Salesforce) -> None:
    names = {o["name"] for o in sf2.describe()["sobjects"]}
    history = {"Task", "EmailMessage", "ContentDocument", "ContentVersion", "ContentDocumentLink"}
    assert names == {"Account", "Contact", "Case", "Meter_Point__c", "User", "RecordType", *history}
    assert {o["name"] for o in sf1.describe()["sobjects"]} == {
        "Account",
        "Contact",
        "Case",
        "Meter__c",
        "User",
        "RecordType",
        *history,
    }
    meter = sf2.Meter_Point__c.describe()
    fields = {f["name"]: f for f in meter["fields"]}
    assert meter["keyPrefix"] == "a0B"
    assert fields["Legacy_Id__c"]["externalId"] and fields["Legacy_Id__c"]["unique"]
    assert fields["Account__c"]["referenceTo"] == ["Account"]
    assert fields["Account__c"]["relationshipName"] == "Account__r"
    assert not fields["MPAN__c"]["nillable"]
    assert fields["Fuel__c"]["restrictedPicklist"]
    assert fields["Fuel__c"]["picklistValues"][0]["value"] == "Electricity"
    account = sf2.Account.describe()
    rels = {r["relationshipName"]: r for r in account["childRelationships"]}
    assert rels["Meter_Points__r"] == {
        "childSObject": "Meter_Point__c",
        "field": "Account__c",
        "relationshipName": "Meter_Points__r",
        "cascadeDelete": False,
        "restrictedDelete": False,
    }
    assert rels["Contacts"]["cascadeDelete"] and rels["Cases"]["cascadeDelete"]
    v1_fields = {f["name"]: f for f in sf1.Account.describe()["fields"]}
    assert not v1_fields["Account_Status__c"]["restrictedPicklist"]
    assert v1_fields["CreatedDate"]["type"] == "datetime"


def test_crud_roundtrip(sf2: Salesforce) -> None:
    created = sf2.Account.create({"Name": "Acme", "Legacy_Id__c": "001A"})
    assert created["success"] is True and created["errors"] == []
    rid = created["id"]
    assert len(rid) == 18 and rid.startswith("001")
    assert sf2.Account.get(rid)["Name"] == "Acme"
    assert sf2.Account.get(rid[:15])["Id"] == rid
    assert sf2.Account.update(rid, {"Phone": "+44 1234"}) == 204
    assert sf2.Account.get_by_custom_id("Legacy_Id__c", "001A")["Phone"] == "+44 1234"
    assert sf2.Account.delete(rid) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf2.Account.get(rid)


def test_upsert_by_external_id(sf2: Salesforce) -> None:
    resp = sf2.Account.upsert("Legacy_Id__c/001X", {"Name": "One"}, raw_response=True)
    assert resp.status_code == 201 and resp.json()["created"] is True
    resp = sf2.Account.upsert("Legacy_Id__c/001X", {"Name": "Two"}, raw_response=True)
    assert resp.status_code == 200 and resp.json()["created"] is False
    contact = sf2.Contact.upsert(
        "Legacy_Id__c/003X",
        {"LastName": "L", "Account": {"Legacy_Id__c": "001X"}},
        raw_response=True,
    ).json()
    row = sf2.query(f"SELECT Account.Name FROM Contact WHERE Id = '{contact['id']}'")
    assert row["records"][0]["Account"]["Name"] == "Two"
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf2.Account.upsert("Name/One", {"Phone": "1"})
    assert "Provided external ID field does not exist" in _error(err)["message"]


def test_several_matches_give_300(sf2: Salesforce) -> None:
    for name in ("A", "B"):
        sf2.Account.create({"Name": name, "Customer_Number__c": "DUP"})
    with pytest.raises(SalesforceMoreThanOneRecord) as err:
        sf2.Account.upsert("Customer_Number__c/DUP", {"Name": "C"})
    assert err.value.status == 300 and len(err.value.content) == 2
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf2.Account.get_by_custom_id("Customer_Number__c", "DUP")


@pytest.mark.parametrize(
    ("sobject", "body", "code", "fields"),
    [
        ("Contact", {"FirstName": "x"}, "REQUIRED_FIELD_MISSING", ["LastName"]),
        ("Account", {"Name": "x", "Nope__c": 1}, "INVALID_FIELD", []),
        (
            "Account",
            {"Name": "x", "Status__c": "Suspended"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            ["Status__c"],
        ),
        ("Case", {"Priority": "Urgent"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Priority"]),
        ("Case", {"Description": "x" * 4001}, "STRING_TOO_LONG", ["Description"]),
        ("Contact", {"LastName": "x", "Email": "a@"}, "INVALID_EMAIL_ADDRESS", ["Email"]),
        (
            "Contact",
            {"LastName": "x", "AccountId": "001000000000000AAA"},
            "INVALID_CROSS_REFERENCE_KEY",
            ["AccountId"],
        ),
        (
            "Account",
            {"Name": "x", "Id": "001000000000000AAA"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["Id"],
        ),
    ],
)
def test_validation_errors(
    sf2: Salesforce, sobject: str, body: dict, code: str, fields: list[str]
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        getattr(sf2, sobject).create(body)
    assert _error(err)["errorCode"] == code
    assert _error(err)["fields"] == fields


def test_duplicate_and_unknown_parent(sf2: Salesforce) -> None:
    first = sf2.Account.create({"Name": "x", "Legacy_Id__c": "001D"})
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf2.Account.create({"Name": "y", "Legacy_Id__c": "001D"})
    assert _error(err) == {
        "errorCode": "DUPLICATE_VALUE",
        "message": "duplicate value found: Legacy_Id__c duplicates value on record with id: "
        + first["id"][:15],
        "fields": [],
    }
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf2.Meter_Point__c.create({"MPAN__c": "1", "Account__r": {"Legacy_Id__c": "001MISSING"}})
    assert _error(err)["message"].startswith("Foreign key external ID: 001MISSING not found")


def test_v1_is_loose(sf1: Salesforce) -> None:
    acc = sf1.Account.create({"Name": "Loose", "Account_Status__c": "Suspended"})
    contact = sf1.Contact.create({"AccountId": acc["id"], "Email": "not-an-email"})
    assert contact["success"] is True
    sf1.Account.delete(acc["id"])  # cascades to the contact
    with pytest.raises(SalesforceResourceNotFound):
        sf1.Contact.get(contact["id"])


def test_unknown_object_and_id(sf2: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        sf2.Nope__c.describe()
    with pytest.raises(SalesforceResourceNotFound):
        sf2.Account.get("garbage")
    assert sf2.limits()["DailyApiRequests"]["Max"] == 100_000
    assert sf2.api_usage["api-usage"].total == 100_000
