"""Preflight of the mapping against fake describes built from docs/orgs.md."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from migration_app.migration.mapping_check import Finding, check_mapping
from migration_app.migration.spec import MappingSpec, load_mapping

Describes = dict[str, dict[str, Any]]


def field_of(describe: Describes, obj: str, name: str) -> dict[str, Any]:
    return next(f for f in describe[obj]["fields"] if f["name"] == name)


def drop_field(describe: Describes, obj: str, name: str) -> None:
    describe[obj]["fields"] = [f for f in describe[obj]["fields"] if f["name"] != name]


def problems(findings: list[Finding]) -> list[tuple[str, str, str]]:
    return [(f.level, f.object, f.field) for f in findings if f.level != "ok"]


def test_packaged_mapping_passes(
    spec: MappingSpec, v1_describe: Describes, v2_describe: Describes
) -> None:
    report = check_mapping(spec, v1_describe, v2_describe)
    assert report.ok
    assert problems(report.findings) == []
    assert len(report.findings) == 57  # one ok row per field, reference, relationship, ext id


def test_missing_source_field(
    spec: MappingSpec, v1_describe: Describes, v2_describe: Describes
) -> None:
    drop_field(v1_describe, "Contact", "Email")
    report = check_mapping(spec, v1_describe, v2_describe)
    assert not report.ok
    assert problems(report.findings) == [("error", "Contact -> Contact", "Email -> Email")]
    assert "V1 field Contact.Email does not exist" in report.errors[0].message


def test_missing_target_field(
    spec: MappingSpec, v1_describe: Describes, v2_describe: Describes
) -> None:
    drop_field(v2_describe, "Meter_Point__c", "Fuel__c")
    report = check_mapping(spec, v1_describe, v2_describe)
    assert problems(report.findings) == [
        ("error", "Meter__c -> Meter_Point__c", "Fuel_Type__c -> Fuel__c")
    ]


def test_wrong_external_id(
    spec: MappingSpec, v1_describe: Describes, v2_describe: Describes
) -> None:
    field_of(v2_describe, "Case", "Legacy_Id__c")["externalId"] = False
    field_of(v2_describe, "Contact", "Legacy_Id__c")["unique"] = False
    report = check_mapping(spec, v1_describe, v2_describe)
    assert problems(report.findings) == [
        ("warning", "Contact -> Contact", "Legacy_Id__c"),
        ("error", "Case -> Case", "Legacy_Id__c"),
    ]
    assert "externalId=false" in report.errors[0].message


def test_bad_picklist_target(
    spec: MappingSpec, v1_describe: Describes, v2_describe: Describes
) -> None:
    status = field_of(v2_describe, "Account", "Status__c")
    status["picklistValues"] = [
        {"value": v, "active": True} for v in ("Active", "Closed", "Arrears")
    ]
    report = check_mapping(spec, v1_describe, v2_describe)
    assert problems(report.findings) == [
        ("error", "Account -> Account", "Account_Status__c -> Status__c")
    ]
    assert "In_Arrears" in report.errors[0].message


def test_v1_picklist_value_missing_from_map_warns(
    spec: MappingSpec, v1_describe: Describes, v2_describe: Describes
) -> None:
    field_of(v1_describe, "Case", "Priority")["picklistValues"].append(
        {"value": "Critical", "active": True}
    )
    report = check_mapping(spec, v1_describe, v2_describe)
    assert report.ok
    assert problems(report.findings) == [("warning", "Case -> Case", "Priority -> Priority")]
    assert "Critical" in report.warnings[0].message


def test_length_and_access_and_type(
    spec: MappingSpec, v1_describe: Describes, v2_describe: Describes
) -> None:
    field_of(v2_describe, "Account", "Tariff_Code__c")["length"] = 10  # no truncate: warning
    field_of(v2_describe, "Case", "Description")["length"] = 2000  # truncate 4000 > 2000: error
    field_of(v2_describe, "Contact", "FirstName")["updateable"] = False
    field_of(v2_describe, "Contact", "Primary__c")["type"] = "string"
    report = check_mapping(spec, v1_describe, v2_describe)
    assert problems(report.findings) == [
        ("warning", "Account -> Account", "Tariff__c -> Tariff_Code__c"),
        ("error", "Contact -> Contact", "FirstName -> FirstName"),
        ("error", "Contact -> Contact", "Is_Primary__c -> Primary__c"),
        ("error", "Case -> Case", "Description -> Description"),
    ]


def test_relationships_must_exist(
    spec: MappingSpec, v1_describe: Describes, v2_describe: Describes
) -> None:
    v1_describe["Account"]["childRelationships"] = [
        r for r in v1_describe["Account"]["childRelationships"] if r["relationshipName"] != "Cases"
    ]
    field_of(v2_describe, "Meter_Point__c", "Account__c")["relationshipName"] = "Acct__r"
    report = check_mapping(spec, v1_describe, v2_describe)
    assert problems(report.findings) == [
        ("error", "Case -> Case", "Cases"),
        ("error", "Meter__c -> Meter_Point__c", "Account__c -> Account__r"),
        # the required lookup is then written by nothing the mapping knows
        ("error", "Meter__c -> Meter_Point__c", "Account__c"),
    ]


def test_unmapped_required_v2_field_and_missing_object(
    spec: MappingSpec, v1_describe: Describes, v2_describe: Describes
) -> None:
    v2_describe["Contact"]["fields"].append(
        {
            "name": "Region__c",
            "type": "string",
            "length": 10,
            "nillable": False,
            "createable": True,
            "updateable": True,
        }
    )
    del v2_describe["Meter_Point__c"]
    report = check_mapping(spec, v1_describe, v2_describe)
    assert problems(report.findings) == [
        ("error", "Contact -> Contact", "Region__c"),
        ("error", "Meter__c -> Meter_Point__c", ""),
    ]


def test_render_is_a_table_with_verdict(
    spec: MappingSpec, v1_describe: Describes, v2_describe: Describes
) -> None:
    drop_field(v1_describe, "Contact", "Email")
    lines = check_mapping(spec, v1_describe, v2_describe).render().splitlines()
    assert lines[0].split() == ["LEVEL", "OBJECT", "FIELD", "MESSAGE"]
    assert any(line.startswith("ERROR  Contact -> Contact") for line in lines)
    assert lines[-1] == "FAIL: 1 error(s), 0 warning(s), 56 ok"


def test_a_polymorphic_type_v2_does_not_allow_is_an_error(
    full_spec: MappingSpec,
    v1_describe: dict[str, dict[str, Any]],
    v2_describe: dict[str, dict[str, Any]],
) -> None:
    what = next(f for f in v2_describe["Task"]["fields"] if f["name"] == "WhatId")
    what["referenceTo"] = ["Account"]  # V2 takes no Case in WhatId
    report = check_mapping(full_spec, v1_describe, v2_describe)
    errors = [(f.object, f.field, f.message) for f in report.findings if f.level == "error"]
    assert errors == [("Task -> Task", "WhatId -> What", "V2 What does not reference Case")]


def test_files_need_a_unique_external_id_on_v2_content_version(
    spec: MappingSpec, v1_describe: Describes, v2_describe: Describes
) -> None:
    spec = replace(spec, files=load_mapping().files)
    report = check_mapping(spec, v1_describe, v2_describe)
    assert report.ok and ("ok", "ContentVersion -> ContentVersion", "Legacy_Id__c") in [
        (f.level, f.object, f.field) for f in report.findings
    ]
    field_of(v2_describe, "ContentVersion", "Legacy_Id__c")["unique"] = False
    drop_field(v1_describe, "ContentVersion", "Checksum")
    report = check_mapping(spec, v1_describe, v2_describe)
    assert not report.ok
    assert problems(report.findings) == [
        ("error", "ContentVersion -> ContentVersion", "Checksum"),
        ("error", "ContentVersion -> ContentVersion", "Legacy_Id__c"),
    ]
    del v2_describe["ContentVersion"]
    assert ("error", "ContentVersion -> ContentVersion", "") in problems(
        check_mapping(spec, v1_describe, v2_describe).findings
    )
