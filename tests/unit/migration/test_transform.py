"""transform_customer on clean and dirty customers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from migration_app.migration.customer_transform import IncompleteExtractError, transform_customer
from migration_app.migration.issues import Issue
from migration_app.migration.spec import MappingSpec
from tests.unit.records import ACCOUNT_ID, sf_id

Factory = Callable[..., dict[str, Any]]


def codes(issues: list[Issue]) -> list[tuple[str, str, str | None, str | None, str]]:
    return [(i.severity, i.object, i.legacy_id, i.field, i.code) for i in issues]


def test_clean_account_payload(spec: MappingSpec, make_account: Factory) -> None:
    plan = transform_customer(spec, make_account(Account_Status__c="Debt"))
    assert plan.customer_id == ACCOUNT_ID
    assert plan.issues == []
    assert not plan.account_rejected
    assert plan.records_by_object["Account"] == [
        {
            "attributes": {"type": "Account"},
            "Legacy_Id__c": ACCOUNT_ID,
            "Name": "Acme Energy Ltd",
            "Phone": "+442079460018",
            "BillingStreet": "1 High Street",
            "BillingCity": "London",
            "BillingPostalCode": "N1 1AA",
            "BillingCountry": "United Kingdom",
            "Customer_Number__c": "C-0001",
            "Status__c": "In_Arrears",
            "Tariff_Code__c": "FIX-12",
        }
    ]
    assert list(plan.records_by_object) == [
        "Account",
        "Contact",
        "Case",
        "Meter_Point__c",
        "EmailMessage",
        "Task",
    ]
    assert plan.counts == {
        "Account": 1,
        "Contact": 0,
        "Case": 0,
        "Meter__c": 0,
        "EmailMessage": 0,
        "Task": 0,
    }
    assert plan.rejected == {
        "Account": 0,
        "Contact": 0,
        "Case": 0,
        "Meter__c": 0,
        "EmailMessage": 0,
        "Task": 0,
    }


def test_children_reference_parents_by_external_id(
    spec: MappingSpec,
    make_account: Factory,
    make_contact: Factory,
    make_case: Factory,
    make_meter: Factory,
) -> None:
    contact = make_contact(1)
    account = make_account(
        contacts=[contact], cases=[make_case(1, ContactId=contact["Id"])], meters=[make_meter(1)]
    )
    plan = transform_customer(spec, account)
    assert plan.issues == []
    (v2_contact,) = plan.records_by_object["Contact"]
    assert v2_contact == {
        "attributes": {"type": "Contact"},
        "Legacy_Id__c": contact["Id"],
        "FirstName": "Ada",
        "LastName": "Lovelace1",
        "Email": "ada1@example.com",
        "Phone": "+447700900123",
        "Primary__c": True,
        "Account": {"Legacy_Id__c": ACCOUNT_ID},
    }
    (v2_case,) = plan.records_by_object["Case"]
    assert v2_case["Account"] == {"Legacy_Id__c": ACCOUNT_ID}
    assert v2_case["Contact"] == {"Legacy_Id__c": contact["Id"]}
    assert "AccountId" not in v2_case and "ContactId" not in v2_case
    (v2_meter,) = plan.records_by_object["Meter_Point__c"]
    assert v2_meter["attributes"] == {"type": "Meter_Point__c"}
    assert v2_meter["Account__r"] == {"Legacy_Id__c": ACCOUNT_ID}
    assert (v2_meter["Fuel__c"], v2_meter["Serial__c"]) == ("Electricity", "S00001")
    assert plan.record_count == 4


def test_full_customer_with_dirty_children(
    spec: MappingSpec,
    make_account: Factory,
    make_contact: Factory,
    make_case: Factory,
    make_meter: Factory,
) -> None:
    good, nameless, bad_email = (
        make_contact(1),
        make_contact(2, LastName=None),
        make_contact(3, Email="not-an-email", Phone="call office"),
    )
    account = make_account(
        Account_Status__c="Suspended",
        contacts=[good, nameless, bad_email],
        cases=[
            make_case(1, ContactId=nameless["Id"], Description="d" * 5000),
            make_case(2, ContactId=good["Id"], Priority="Urgent"),
        ],
        meters=[make_meter(1), make_meter(2, MPAN__c="  "), make_meter(3, Fuel_Type__c="Oil")],
    )
    plan = transform_customer(spec, account)

    assert codes(plan.issues) == [
        ("warning", "Account", ACCOUNT_ID, "Account_Status__c", "UNMAPPABLE"),
        ("error", "Contact", nameless["Id"], "LastName", "REQUIRED_MISSING"),
        ("warning", "Contact", bad_email["Id"], "Email", "VALUE_DROPPED"),
        ("warning", "Contact", bad_email["Id"], "Phone", "VALUE_DROPPED"),
        ("warning", "Case", sf_id("500", 1), "Description", "TRUNCATED"),
        ("warning", "Case", sf_id("500", 1), "ContactId", "REFERENCE_DROPPED"),
        ("warning", "Case", sf_id("500", 2), "Priority", "UNMAPPABLE"),
        ("error", "Meter__c", sf_id("a00", 2), "MPAN__c", "REQUIRED_MISSING"),
        ("warning", "Meter__c", sf_id("a00", 3), "Fuel_Type__c", "UNMAPPABLE"),
    ]
    assert not plan.account_rejected
    assert plan.counts == {
        "Account": 1,
        "Contact": 3,
        "Case": 2,
        "Meter__c": 3,
        "EmailMessage": 0,
        "Task": 0,
    }
    assert plan.rejected == {
        "Account": 0,
        "Contact": 1,
        "Case": 0,
        "Meter__c": 1,
        "EmailMessage": 0,
        "Task": 0,
    }
    assert plan.records_by_object["Account"][0]["Status__c"] is None
    contacts = plan.records_by_object["Contact"]
    assert [c["Legacy_Id__c"] for c in contacts] == [good["Id"], bad_email["Id"]]
    assert (contacts[1]["Email"], contacts[1]["Phone"]) == (None, None)
    case1, case2 = plan.records_by_object["Case"]
    assert "Contact" not in case1
    assert len(case1["Description"]) == 4000
    assert case2["Priority"] == "Medium"
    assert [m["Legacy_Id__c"] for m in plan.records_by_object["Meter_Point__c"]] == [
        sf_id("a00", 1),
        sf_id("a00", 3),
    ]
    assert len(plan.errors) == 2 and len(plan.warnings) == 7


def test_reference_to_contact_outside_customer_is_dropped(
    spec: MappingSpec, make_account: Factory, make_case: Factory
) -> None:
    plan = transform_customer(
        spec, make_account(cases=[make_case(1, ContactId="003999999999999AAA")])
    )
    (issue,) = plan.issues
    assert (issue.severity, issue.code, issue.field) == (
        "warning",
        "REFERENCE_DROPPED",
        "ContactId",
    )
    assert "not in this customer" in issue.message
    assert "Contact" not in plan.records_by_object["Case"][0]


def test_rejected_contact_reference_message(
    spec: MappingSpec, make_account: Factory, make_contact: Factory, make_case: Factory
) -> None:
    contact = make_contact(1, LastName="   ")
    plan = transform_customer(
        spec, make_account(contacts=[contact], cases=[make_case(1, ContactId=contact["Id"])])
    )
    dropped = [i for i in plan.issues if i.code == "REFERENCE_DROPPED"]
    assert len(dropped) == 1 and "was rejected" in dropped[0].message


def test_child_without_required_parent_is_rejected(
    spec: MappingSpec, make_account: Factory, make_meter: Factory
) -> None:
    plan = transform_customer(spec, make_account(meters=[make_meter(1, Account__c=None)]))
    assert codes(plan.issues) == [
        ("error", "Meter__c", sf_id("a00", 1), "Account__c", "REQUIRED_MISSING")
    ]
    assert plan.records_by_object["Meter_Point__c"] == []
    assert plan.rejected["Meter__c"] == 1


def test_rejected_account_fails_the_customer(
    spec: MappingSpec, make_account: Factory, make_contact: Factory
) -> None:
    plan = transform_customer(spec, make_account(Name=" ", contacts=[make_contact(1)]))
    assert plan.account_rejected
    assert plan.issues[0].code == "REQUIRED_MISSING" and plan.issues[0].object == "Account"
    assert all(records == [] for records in plan.records_by_object.values())
    assert plan.record_count == 0
    assert plan.counts["Contact"] == 1


def test_incomplete_subquery_is_refused(spec: MappingSpec, make_account: Factory) -> None:
    account = make_account()
    account["Contacts"] = {"totalSize": 2500, "done": False, "records": [], "nextRecordsUrl": "/x"}
    with pytest.raises(IncompleteExtractError, match="nextRecordsUrl"):
        transform_customer(spec, account)


def test_output_is_deterministic(
    spec: MappingSpec, make_account: Factory, make_contact: Factory, make_case: Factory
) -> None:
    account = make_account(
        contacts=[make_contact(n, Email="bad" if n % 2 else None) for n in range(1, 6)],
        cases=[make_case(n) for n in range(1, 4)],
    )
    first, second = transform_customer(spec, account), transform_customer(spec, account)
    assert first == second
    assert [c["Legacy_Id__c"] for c in first.records_by_object["Contact"]] == [
        f"003{n:012d}AAA" for n in range(1, 6)
    ]
