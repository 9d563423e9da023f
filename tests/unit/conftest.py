"""Fixtures for the migration domain tests: the packaged spec, fake describes, record builders.

The fake describes follow docs/orgs.md field by field (the same contract the sandbox serves).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from migration_app.migration.spec import MappingSpec, load_mapping
from tests.mapping_support import field_rules_only

ACCOUNT_ID = "001000000000001AAA"


def _field(name: str, type_: str, length: int = 0, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "type": type_,
        "length": length,
        "externalId": False,
        "unique": False,
        "nillable": True,
        "createable": True,
        "updateable": True,
        "defaultedOnCreate": type_ == "boolean",
        "picklistValues": [],
        "restrictedPicklist": False,
        "referenceTo": [],
        "relationshipName": None,
    }
    meta.update(extra)
    return meta


def _picklist(name: str, values: list[str], restricted: bool = False) -> dict[str, Any]:
    return _field(
        name,
        "picklist",
        255,
        picklistValues=[{"value": v, "label": v, "active": True} for v in values],
        restrictedPicklist=restricted,
    )


def _ref(name: str, to: str, relationship: str, required: bool = False) -> dict[str, Any]:
    return _field(
        name,
        "reference",
        18,
        referenceTo=[to],
        relationshipName=relationship,
        nillable=not required,
    )


def _system_fields() -> list[dict[str, Any]]:
    return [
        _field("Id", "id", 18, nillable=False, createable=False, updateable=False),
        _field(
            "CreatedDate",
            "datetime",
            createable=False,
            updateable=False,
            nillable=False,
            defaultedOnCreate=True,
        ),
        _field(
            "LastModifiedDate",
            "datetime",
            createable=False,
            updateable=False,
            nillable=False,
            defaultedOnCreate=True,
        ),
    ]


def _reference_fields(name: str, v2: bool) -> list[dict[str, Any]]:
    """OwnerId (all), RecordTypeId (Account, Case) as docs/orgs.md lists them."""
    fields = [
        _field(
            "OwnerId",
            "reference",
            18,
            referenceTo=["User"],
            relationshipName="Owner",
            nillable=False,
            defaultedOnCreate=True,
        )
    ]
    if name in ("Account", "Case"):
        fields.append(_ref("RecordTypeId", "RecordType", "RecordType"))
    return fields


def _describe(
    name: str,
    fields: list[dict[str, Any]],
    children: list[tuple[str, str, str]] = (),
    v2: bool = False,
):
    system = _system_fields()
    if v2:  # the V2 org grants "Set Audit Fields upon Record Creation"
        system[1]["createable"] = True
    return {
        "name": name,
        "fields": system + fields + _reference_fields(name, v2),
        "childRelationships": [
            {"childSObject": c, "field": f, "relationshipName": r} for c, f, r in children
        ],
    }


def _account_fields(v2: bool) -> list[dict[str, Any]]:
    fields = [
        _field("Name", "string", 255, nillable=False),
        _field("Phone", "phone" if v2 else "string", 40),
        _field("BillingStreet", "textarea", 255),
        _field("BillingCity", "string", 40),
        _field("BillingPostalCode", "string", 20),
        _field("BillingCountry", "string", 80),
        _field("Customer_Number__c", "string", 20),
    ]
    if v2:
        fields += [
            _picklist("Status__c", ["Active", "Closed", "In_Arrears"], restricted=True),
            _field("Tariff_Code__c", "string", 50),
        ]
    else:
        fields += [
            _picklist("Account_Status__c", ["Active", "Closed", "Debt"]),
            _field("Tariff__c", "string", 50),
        ]
    return fields


def build_v1_describe() -> dict[str, dict[str, Any]]:
    return {
        "Account": _describe(
            "Account",
            _account_fields(v2=False),
            [
                ("Contact", "AccountId", "Contacts"),
                ("Case", "AccountId", "Cases"),
                ("Meter__c", "Account__c", "Meters__r"),
            ],
        ),
        "Contact": _describe(
            "Contact",
            [
                _ref("AccountId", "Account", "Account"),
                _field("FirstName", "string", 40),
                _field("LastName", "string", 80),
                _field("Email", "string", 80),
                _field("Phone", "string", 40),
                _field("Is_Primary__c", "boolean", nillable=False),
            ],
            [("Case", "ContactId", "Cases")],
        ),
        "Case": _describe(
            "Case",
            [
                _ref("AccountId", "Account", "Account"),
                _ref("ContactId", "Contact", "Contact"),
                _field("Subject", "string", 255),
                _field("Description", "textarea", 32000),
                _picklist("Status", ["New", "Working", "Escalated", "Closed"]),
                _picklist("Priority", ["High", "Medium", "Low"]),
                _picklist("Origin", ["Phone", "Email", "Web"]),
            ],
        ),
        "Meter__c": _describe(
            "Meter__c",
            [
                _field("Name", "string", 80),
                _ref("Account__c", "Account", "Account__r", required=True),
                _field("MPAN__c", "string", 21),
                _picklist("Fuel_Type__c", ["Electricity", "Gas"]),
                _field("Serial_Number__c", "string", 30),
            ],
        ),
    }


def _legacy_id() -> dict[str, Any]:
    return _field("Legacy_Id__c", "string", 18, externalId=True, unique=True)


def build_v2_describe() -> dict[str, dict[str, Any]]:
    return {
        "Account": _describe(
            "Account",
            [_legacy_id(), *_account_fields(v2=True)],
            [
                ("Contact", "AccountId", "Contacts"),
                ("Case", "AccountId", "Cases"),
                ("Meter_Point__c", "Account__c", "Meter_Points__r"),
            ],
            v2=True,
        ),
        "Contact": _describe(
            "Contact",
            [
                _legacy_id(),
                _ref("AccountId", "Account", "Account"),
                _field("FirstName", "string", 40),
                _field("LastName", "string", 80, nillable=False),
                _field("Email", "email", 80),
                _field("Phone", "phone", 40),
                _field("Primary__c", "boolean", nillable=False),
            ],
            [("Case", "ContactId", "Cases")],
            v2=True,
        ),
        "Case": _describe(
            "Case",
            [
                _legacy_id(),
                _ref("AccountId", "Account", "Account"),
                _ref("ContactId", "Contact", "Contact"),
                _field("Subject", "string", 255),
                _field("Description", "textarea", 4000),
                _picklist("Status", ["New", "Working", "Escalated", "Closed"], restricted=True),
                _picklist("Priority", ["High", "Medium", "Low"], restricted=True),
                _picklist("Origin", ["Phone", "Email", "Web"], restricted=True),
            ],
            v2=True,
        ),
        "Meter_Point__c": _describe(
            "Meter_Point__c",
            [
                _legacy_id(),
                _field("Name", "string", 80),
                _ref("Account__c", "Account", "Account__r", required=True),
                _field("MPAN__c", "string", 21, nillable=False),
                _picklist("Fuel__c", ["Electricity", "Gas"], restricted=True),
                _field("Serial__c", "string", 30),
            ],
            v2=True,
        ),
    }


_V1 = build_v1_describe()
_V2 = build_v2_describe()


@pytest.fixture(scope="session")
def spec() -> MappingSpec:
    """The packaged mapping's field and reference rules (owners, record types and CreatedDate
    are tested with `full_spec` in test_reference_rules.py)."""
    return field_rules_only(load_mapping())


@pytest.fixture(scope="session")
def full_spec() -> MappingSpec:
    return load_mapping()


@pytest.fixture
def v1_describe() -> dict[str, dict[str, Any]]:
    return copy.deepcopy(_V1)


@pytest.fixture
def v2_describe() -> dict[str, dict[str, Any]]:
    return copy.deepcopy(_V2)


def _sf_id(prefix: str, n: int) -> str:
    return f"{prefix}{n:012d}AAA"


def subquery(records: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    if records is None:
        return None
    return {"totalSize": len(records), "done": True, "records": records}


@pytest.fixture
def make_account() -> Callable[..., dict[str, Any]]:
    """Build a clean V1 Account record as SOQL returns it; keyword args override fields."""

    def make(
        account_id: str = ACCOUNT_ID,
        contacts: list[dict[str, Any]] | None = None,
        cases: list[dict[str, Any]] | None = None,
        meters: list[dict[str, Any]] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        record = {
            "attributes": {
                "type": "Account",
                "url": f"/services/data/v59.0/sobjects/Account/{account_id}",
            },
            "Id": account_id,
            "Name": "Acme Energy Ltd",
            "Phone": "020 7946 0018",
            "BillingStreet": "1 High Street",
            "BillingCity": "London",
            "BillingPostalCode": "N1 1AA",
            "BillingCountry": "United Kingdom",
            "Customer_Number__c": "C-0001",
            "Account_Status__c": "Active",
            "Tariff__c": "FIX-12",
            "Contacts": subquery(contacts),
            "Cases": subquery(cases),
            "Meters__r": subquery(meters),
        }
        record.update(fields)
        return record

    return make


@pytest.fixture
def make_contact() -> Callable[..., dict[str, Any]]:
    def make(n: int, account_id: str = ACCOUNT_ID, **fields: Any) -> dict[str, Any]:
        record = {
            "attributes": {"type": "Contact"},
            "Id": _sf_id("003", n),
            "AccountId": account_id,
            "FirstName": "Ada",
            "LastName": f"Lovelace{n}",
            "Email": f"ada{n}@example.com",
            "Phone": "07700 900123",
            "Is_Primary__c": n == 1,
        }
        record.update(fields)
        return record

    return make


@pytest.fixture
def make_case() -> Callable[..., dict[str, Any]]:
    def make(n: int, account_id: str = ACCOUNT_ID, **fields: Any) -> dict[str, Any]:
        record = {
            "attributes": {"type": "Case"},
            "Id": _sf_id("500", n),
            "AccountId": account_id,
            "ContactId": None,
            "Subject": "Meter reading",
            "Description": "Customer sent a reading.",
            "Status": "New",
            "Priority": "Medium",
            "Origin": "Phone",
        }
        record.update(fields)
        return record

    return make


@pytest.fixture
def make_meter() -> Callable[..., dict[str, Any]]:
    def make(n: int, account_id: str = ACCOUNT_ID, **fields: Any) -> dict[str, Any]:
        record = {
            "attributes": {"type": "Meter__c"},
            "Id": _sf_id("a00", n),
            "Account__c": account_id,
            "Name": f"M-{n}",
            "MPAN__c": "1200023305967",
            "Fuel_Type__c": "Electricity",
            "Serial_Number__c": f"S{n:05d}",
        }
        record.update(fields)
        return record

    return make
