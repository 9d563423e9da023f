"""Loading and validating the mapping; the extract SOQL builder."""

from __future__ import annotations

from pathlib import Path

import pytest

from migration_app.migration.field_transforms import Phone, Picklist, Truncate
from migration_app.migration.spec import MappingError, MappingSpec, load_mapping, parse_mapping

A1 = "001000000000001AAA"
A2 = "001000000000002"


def test_packaged_mapping_loads_in_load_order(spec: MappingSpec) -> None:
    assert [o.source for o in spec.objects] == [
        "Account",
        "Contact",
        "Case",
        "Meter__c",
        "EmailMessage",
        "Task",
    ]
    assert [o.target for o in spec.objects] == [
        "Account",
        "Contact",
        "Case",
        "Meter_Point__c",
        "EmailMessage",
        "Task",
    ]
    assert [spec.level(o.source) for o in spec.objects] == [0, 1, 2, 1, 3, 3]
    assert [o.source for o in spec.follow_ups] == ["EmailMessage", "Task"]
    assert {o.external_id for o in spec.objects} == {"Legacy_Id__c"}


def test_packaged_mapping_field_details(spec: MappingSpec) -> None:
    status = next(f for f in spec.object("Account").fields if f.source == "Account_Status__c")
    picklist = status.transform("picklist")
    assert status.target == "Status__c"
    assert isinstance(picklist, Picklist) and picklist.mapping["Debt"] == "In_Arrears"
    description = next(f for f in spec.object("Case").fields if f.source == "Description")
    assert isinstance(description.transform("truncate"), Truncate)
    assert description.transform("truncate").length == 4000  # type: ignore[union-attr]
    phone = next(f for f in spec.object("Contact").fields if f.source == "Phone")
    assert isinstance(phone.transform("phone"), Phone)


def test_field_lists(spec: MappingSpec) -> None:
    assert spec.v1_fields("Contact") == (
        "Id",
        "FirstName",
        "LastName",
        "Email",
        "Phone",
        "Is_Primary__c",
        "AccountId",
    )
    assert spec.v2_fields("Meter__c") == (
        "Legacy_Id__c",
        "Name",
        "MPAN__c",
        "Fuel__c",
        "Serial__c",
        "Account__r",
    )


def test_extract_soql_exact_text(spec: MappingSpec) -> None:
    assert spec.extract_soql([A1, A2, A1]) == (
        "SELECT Id, Name, Phone, BillingStreet, BillingCity, BillingPostalCode, BillingCountry, "
        "Customer_Number__c, Account_Status__c, Tariff__c, ParentId, "
        "(SELECT Id, FirstName, LastName, Email, Phone, Is_Primary__c, AccountId FROM Contacts), "
        "(SELECT Id, Subject, Description, Status, Priority, Origin, AccountId, ContactId "
        "FROM Cases), "
        "(SELECT Id, Name, MPAN__c, Fuel_Type__c, Serial_Number__c, Account__c FROM Meters__r) "
        f"FROM Account WHERE Id IN ('{A1}','{A2}')"
    )


@pytest.mark.parametrize(
    "bad",
    [
        "001000000000001AAA' OR Name != '",
        "0010000000000",  # too short
        "001000000000001AAAA",  # 19
        "001000000000001AA",  # 17
        "001-00000000001AAA",
        "",
        None,
    ],
)
def test_extract_soql_rejects_non_ids(spec: MappingSpec, bad: object) -> None:
    with pytest.raises(ValueError, match="not a Salesforce id"):
        spec.extract_soql([A1, bad])  # type: ignore[list-item]


def test_extract_soql_needs_ids(spec: MappingSpec) -> None:
    with pytest.raises(ValueError, match="at least one"):
        spec.extract_soql([])
    with pytest.raises(ValueError, match="sequence"):
        spec.extract_soql(A1)


MINIMAL = """
version: 1
objects:
  - source: Account
    target: Account
    external_id: Legacy_Id__c
    fields:
      - {source: Name, target: Name, required: true}
  - source: Contact
    target: Contact
    child_relationship: Contacts
    external_id: Legacy_Id__c
    references:
      - {source: AccountId, relationship: Account, parent: Account, required: true}
    fields:
      - {source: LastName, target: LastName, transforms: [trim]}
"""


def test_minimal_mapping_parses() -> None:
    spec = parse_mapping(MINIMAL)
    assert spec.object("Contact").references[0].parent_external_id == "Legacy_Id__c"


def test_load_mapping_from_path(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert [o.source for o in load_mapping(path).objects] == ["Account", "Contact"]


def test_load_mapping_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot read mapping"):
        load_mapping(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "transforms: [trim]",
            "transforms: [trimm]",
            r"object Contact\.LastName: transform 'trimm'",
        ),
        ("transforms: [trim]", "transforms: [{truncate: -1}]", "positive length"),
        (
            "transforms: [trim]",
            "transforms: [{picklist: {map: {A: B}, on_unknown: ignore}}]",
            r"Contact\.LastName.*on_unknown must be",
        ),
        (
            "transforms: [trim]",
            "transforms: [{picklist: {map: {Yes: B}}}]",
            "must be strings",
        ),
        ("parent: Account", "parent: Nope", r"object Contact\.AccountId: parent 'Nope'"),
        ("target: LastName", "target: Last Name", r"Contact\.LastName: target must be"),
        ("    child_relationship: Contacts\n", "", "object Contact: child_relationship"),
        ("version: 1", "version: 2", "version must be 1"),
        ("{source: LastName,", "{colour: red, source: LastName,", "unknown key.*colour"),
        ("target: LastName", "target: Legacy_Id__c", "external id is set from the V1 Id"),
        ("fields:\n      - {source: LastName", "fields: []\n      - {source: LastName", "YAML"),
        (
            "{source: LastName, target: LastName, transforms: [trim]}",
            "{source: LastName, target: LastName}\n      - {source: LastName, target: FirstName}",
            "mapped twice: LastName",
        ),
        ("required: true}\n    fields:", 'required: "true"}\n    fields:', "required must be"),
    ],
)
def test_mapping_errors_name_object_and_field(old: str, new: str, message: str) -> None:
    assert old in MINIMAL
    with pytest.raises(MappingError, match=message):
        parse_mapping(MINIMAL.replace(old, new, 1), "m.yaml")


def test_duplicate_yaml_keys_are_rejected() -> None:
    text = MINIMAL.replace("external_id: Legacy_Id__c", "external_id: A\n    external_id: B", 1)
    with pytest.raises(MappingError, match="duplicate key 'external_id'"):
        parse_mapping(text)


def test_error_message_names_the_file() -> None:
    with pytest.raises(MappingError, match=r"^m\.yaml: "):
        parse_mapping("version: 1\nobjects: []\n", "m.yaml")
