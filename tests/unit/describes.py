"""Fake describes of the two orgs (V1 and V2), as the migration domain tests need them.

They follow docs/orgs.md field by field (the same contract the sandbox serves). The fixtures
``v1_describe`` and ``v2_describe`` (tests/unit/conftest.py) hand each test its own copy.
"""

from __future__ import annotations

from typing import Any


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


def _ref(
    name: str, to: str | list[str], relationship: str, required: bool = False
) -> dict[str, Any]:
    return _field(
        name,
        "reference",
        18,
        referenceTo=[to] if isinstance(to, str) else to,
        relationshipName=relationship,
        nillable=not required,
        polymorphicForeignKey=not isinstance(to, str),
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
    if name == "EmailMessage":  # no owner: it belongs to its Case
        return []
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
        _ref("ParentId", "Account", "Parent"),
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


def _content_version(v2: bool) -> dict[str, Any]:
    """Files (docs/orgs.md "Files"): the fields the files: section reads and writes."""
    fields = [
        _ref("ContentDocumentId", "ContentDocument", "ContentDocument"),
        _field("Title", "string", 255),
        _field("PathOnClient", "string", 500),
        _field("VersionData", "base64"),
        _field("Checksum", "string", 50, createable=False, updateable=False),
        _field("ContentSize", "int", createable=False, updateable=False),
        _ref("FirstPublishLocationId", "Account", "FirstPublishLocation"),
    ]
    return _describe("ContentVersion", [_legacy_id(), *fields] if v2 else fields, v2=v2)


def build_v1_describe() -> dict[str, dict[str, Any]]:
    return {
        "ContentVersion": _content_version(v2=False),
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
        **_history(v2=False),
    }


def _history(v2: bool) -> dict[str, dict[str, Any]]:
    """Task and EmailMessage as docs/orgs.md lists them (V2: restricted picklists and
    Legacy_Id__c)."""
    legacy = [_legacy_id()] if v2 else []
    return {
        "EmailMessage": _describe(
            "EmailMessage",
            [
                *legacy,
                _ref("ParentId", "Case", "Parent"),
                _field("Subject", "string", 3000),
                _field("HtmlBody", "textarea", 131072),
                _field("TextBody", "textarea", 131072),
                _field("FromAddress", "email", 255),
                _field("FromName", "string", 1000),
                _field("ToAddress", "string", 4000),
                _field("CcAddress", "string", 4000),
                _field("MessageDate", "datetime"),
                _field("Incoming", "boolean", nillable=False),
                {
                    **_picklist("Status", ["0", "1", "2", "3", "4", "5"], restricted=v2),
                    "nillable": False,
                },
            ],
            v2=v2,
        ),
        "Task": _describe(
            "Task",
            [
                *legacy,
                _ref("WhatId", ["Account", "Case"], "What"),
                _ref("WhoId", ["Contact"], "Who"),
                _field("Subject", "string", 255),
                _picklist("Status", ["Not Started", "In Progress", "Completed"], restricted=v2),
                _picklist("Priority", ["High", "Normal", "Low"], restricted=v2),
                _field("ActivityDate", "date"),
                _field("Description", "textarea", 32000),
            ],
            v2=v2,
        ),
    }


def _legacy_id() -> dict[str, Any]:
    return _field("Legacy_Id__c", "string", 18, externalId=True, unique=True)


def build_v2_describe() -> dict[str, dict[str, Any]]:
    return {
        "ContentVersion": _content_version(v2=True),
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
        **_history(v2=True),
    }
