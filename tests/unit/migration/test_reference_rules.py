"""Owner, record type and CreatedDate rules: parsing, resolution against a V2 snapshot, the
issues they leave, and the preflight checks of the declared targets and of V1's gaps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from migration_app.migration.customer_transform import transform_customer
from migration_app.migration.mapping_check import (
    check_reference_fields,
    gap_findings,
    reference_gaps,
)
from migration_app.migration.reference_rules import (
    Fallback,
    OwnerRule,
    ReferenceData,
    RuleError,
    parse_owner_rule,
    resolve_owner,
)
from migration_app.migration.spec import MappingError, MappingSpec, parse_mapping

Factory = Callable[..., dict[str, Any]]
FALLBACK = "migration.owner@energy-v2.example"


def _user(uid: str, email: str, active: bool = True, username: str = "") -> dict[str, Any]:
    return {
        "Id": uid,
        "Username": username or email.replace("energy.", "energy-v2."),
        "Email": email,
        "FederationIdentifier": f"FED-{uid}",
        "IsActive": active,
    }


V2_USERS = [
    _user("005A", "ada@energy.example"),
    _user("005B", "ben@energy.example", active=False),
    _user("005F", "migration.owner@energy.example", username=FALLBACK),
]
V2_TYPES = [
    {"Id": "012R", "DeveloperName": "Residential", "SobjectType": "Account", "IsActive": True},
    {"Id": "012S", "DeveloperName": "SME", "SobjectType": "Account", "IsActive": True},
    {"Id": "012C", "DeveloperName": "Complaint", "SobjectType": "Case", "IsActive": True},
    {"Id": "012Q", "DeveloperName": "Billing_Query", "SobjectType": "Case", "IsActive": True},
    {"Id": "012V", "DeveloperName": "Service_Request", "SobjectType": "Case", "IsActive": True},
    {"Id": "012X", "DeveloperName": "Field_Visit", "SobjectType": "Case", "IsActive": False},
]


@pytest.fixture
def reference(full_spec: MappingSpec) -> ReferenceData:
    return ReferenceData.from_rows(full_spec.owners, V2_USERS, V2_TYPES)


def _owned(email: str | None) -> dict[str, Any]:
    return {"Owner": None if email is None else {"attributes": {"type": "User"}, "Email": email}}


def _rt(name: str | None) -> dict[str, Any]:
    return {"RecordType": None if name is None else {"DeveloperName": name}}


def test_owner_matched_by_normalised_email_record_type_and_created_date_kept(
    full_spec: MappingSpec, reference: ReferenceData, make_account: Factory, make_case: Factory
) -> None:
    account = make_account(
        cases=[make_case(1, **_owned("ADA@Energy.Example "), **_rt("Billing_Enquiry"))],
        CreatedDate="2020-01-01T00:00:00.000+0000",
        **_owned("ada@energy.example"),
        **_rt("Small_Business"),
    )
    plan = transform_customer(full_spec, account, reference)
    assert plan.issues == []
    payload = plan.records_by_object["Account"][0]
    assert (payload["OwnerId"], payload["RecordTypeId"]) == ("005A", "012S")  # renamed
    assert payload["CreatedDate"] == "2020-01-01T00:00:00.000+0000"
    case = plan.records_by_object["Case"][0]
    assert (case["OwnerId"], case["RecordTypeId"]) == ("005A", "012Q")
    assert "CreatedDate" not in case  # V1 gave none: V2 stamps it


@pytest.mark.parametrize(
    ("email", "why"),
    [
        ("ben@energy.example", "is inactive in V2; owners.on_inactive"),
        ("gone@energy.example", "has no V2 user; owners.on_missing"),
        (None, "has no Email; owners.on_missing"),
    ],
)
def test_inactive_missing_or_absent_owner_falls_back_with_a_warning(
    full_spec: MappingSpec,
    reference: ReferenceData,
    make_account: Factory,
    email: str | None,
    why: str,
) -> None:
    plan = transform_customer(full_spec, make_account(**_owned(email), **_rt(None)), reference)
    assert plan.records_by_object["Account"][0]["OwnerId"] == "005F"
    assert "RecordTypeId" not in plan.records_by_object["Account"][0]  # none in V1: default
    (issue,) = plan.issues
    assert (issue.severity, issue.code, issue.field) == ("warning", "OWNER_FALLBACK", "OwnerId")
    assert why in issue.message and f"fallback {FALLBACK}" in issue.message
    if email:
        assert repr(email) in issue.message  # the V1 value, for the operator


def test_record_type_without_active_v2_counterpart_falls_back(
    full_spec: MappingSpec, reference: ReferenceData, make_account: Factory, make_case: Factory
) -> None:
    account = make_account(
        cases=[make_case(1, **_owned("ada@energy.example"), **_rt("Field_Visit"))],
        **_owned("ada@energy.example"),
        **_rt("Legacy_Prepay"),
    )
    plan = transform_customer(full_spec, account, reference)
    assert plan.records_by_object["Account"][0]["RecordTypeId"] == "012R"
    assert plan.records_by_object["Case"][0]["RecordTypeId"] == "012V"
    messages = {i.object: i.message for i in plan.issues}
    assert [i.code for i in plan.issues] == ["RECORD_TYPE_FALLBACK"] * 2
    assert "'Legacy_Prepay' has no V2 Account record type" in messages["Account"]
    assert "'Field_Visit' is inactive in V2" in messages["Case"]


ERROR_MAPPING = """
version: 1
owners:
  match_on: FederationIdentifier
  normalise: exact
  on_inactive: error
  on_missing: {fallback_user: migration.owner@energy-v2.example}
objects:
  - source: Account
    target: Account
    external_id: Legacy_Id__c
    owner: true
    record_type: {on_missing: error}
    fields:
      - {source: Name, target: Name}
  - source: Case
    target: Case
    child_relationship: Cases
    external_id: Legacy_Id__c
    owner: true
    references:
      - {source: AccountId, relationship: Account, parent: Account, required: true}
    fields:
      - {source: Subject, target: Subject}
"""


def test_error_policies_reject_the_record_and_name_the_policy(make_account: Factory) -> None:
    spec = parse_mapping(ERROR_MAPPING)
    reference = ReferenceData.from_rows(spec.owners, V2_USERS, V2_TYPES)
    owner = {"Owner": {"FederationIdentifier": "FED-005B"}}  # Ben: inactive in V2
    plan = transform_customer(spec, make_account(**owner, **_rt("Residential")), reference)
    assert plan.account_rejected
    (issue,) = plan.issues
    assert (issue.severity, issue.code) == ("error", "OWNER_UNRESOLVED")
    assert "owners.on_inactive: error, record rejected" in issue.message

    active = {"Owner": {"FederationIdentifier": "FED-005A"}}
    plan = transform_customer(spec, make_account(**active, **_rt("Small_Business")), reference)
    (issue,) = plan.issues
    assert (issue.code, issue.field) == ("RECORD_TYPE_UNRESOLVED", "RecordTypeId")
    assert "'Small_Business' has no V2 Account record type" in issue.message
    assert "record_type.on_missing: error" in issue.message


def test_a_fallback_that_is_not_an_active_v2_target_is_an_error() -> None:
    rule = OwnerRule(on_missing=Fallback("nobody@energy-v2.example"))
    ref = ReferenceData.from_rows(rule, V2_USERS, [])
    value, issue, ok = resolve_owner(rule, ref, "Account", "001X", {"Email": "x@y.example"})
    assert (value, ok) == (None, False)
    assert issue is not None and "'nobody@energy-v2.example' is not an active V2" in issue.message


def test_normalisations_and_ambiguous_keys() -> None:
    local = OwnerRule(match_on="Username", normalise="local_part")
    assert local.key(" Ada.Lovelace@energy-v1.example ") == "ada.lovelace"
    assert OwnerRule(normalise="exact").key(" Ada@X ") == "Ada@X"
    assert OwnerRule().key("") is None
    twins = [_user("005A", "a@x.example"), _user("005C", "A@x.example")]
    ref = ReferenceData.from_rows(OwnerRule(), twins, [])
    _, issue, ok = resolve_owner(OwnerRule(), ref, "Account", "001X", {"Email": "a@x.example"})
    assert not ok and issue is not None and "matches several active V2 users" in issue.message
    inactive_twin = [_user("005A", "a@x.example", active=False), _user("005C", "a@x.example")]
    ref = ReferenceData.from_rows(OwnerRule(), inactive_twin, [])
    assert ref.users_by_key["a@x.example"].id == "005C"  # the active one wins


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"match_on": "Phone"}, "match_on must be one of"),
        ({"normalise": "upper", "on_inactive": "error", "on_missing": "error"}, "normalise"),
        ({"on_inactive": "error"}, "on_missing is required"),
        ({"on_inactive": {"fallback": "x"}, "on_missing": "error"}, r"unknown key\(s\) fallback"),
    ],
)
def test_malformed_owner_rules_are_refused(block: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse_owner_rule(block)


def test_owner_true_needs_the_owners_block_and_extract_reads_relationship_fields() -> None:
    text = ERROR_MAPPING.split("objects:", 1)[1]
    with pytest.raises(MappingError, match="owner: true needs a top-level owners: block"):
        parse_mapping("version: 1\nobjects:" + text)
    spec = parse_mapping(ERROR_MAPPING)
    soql = spec.extract_soql(["001000000000001AAA"])
    assert "Owner.FederationIdentifier, RecordType.DeveloperName FROM" not in soql
    assert "SELECT Id, Name, Owner.FederationIdentifier, RecordType.DeveloperName," in soql
    assert "(SELECT Id, Subject, AccountId, Owner.FederationIdentifier FROM Cases)" in soql


def test_the_transform_refuses_to_run_rules_without_reference_data(
    full_spec: MappingSpec, make_account: Factory
) -> None:
    with pytest.raises(ValueError, match="ReferenceData"):
        transform_customer(full_spec, make_account())


# --- preflight ----------------------------------------------------------------------------


def test_preflight_counts_the_records_each_gap_touches(
    full_spec: MappingSpec, reference: ReferenceData
) -> None:
    v1_users = [
        {"Id": "005V1A", "Email": "Ada@energy.example"},  # matches (casefold)
        {"Id": "005V1B", "Email": "ben@energy.example"},  # inactive in V2
        {"Id": "005V1J", "Email": "jonah@energy.example"},  # missing in V2
    ]
    v1_types = [
        {"Id": "012V1R", "DeveloperName": "Residential", "SobjectType": "Account"},
        {"Id": "012V1P", "DeveloperName": "Legacy_Prepay", "SobjectType": "Account"},
    ]
    findings, gaps = reference_gaps(full_spec, v1_users, v1_types, reference)
    assert [f.level for f in findings if f.level != "ok"] == []
    assert {(g.v1_object, g.v1_id) for g in gaps if g.field == "RecordTypeId"} == {
        ("Account", "012V1P")
    }
    counts = {("Account", "OwnerId", "005V1B"): 3, ("Account", "RecordTypeId", "012V1P"): 2}
    rows = gap_findings(gaps, counts)
    assert [(f.level, f.object, f.field) for f in rows] == [
        ("warning", "Account", "OwnerId"),
        ("warning", "Account", "RecordTypeId"),
    ]
    assert rows[0].message.startswith("3 record(s) with V1 Email='ben@energy.example'")
    assert "owners.on_inactive: fallback" in rows[0].message


def test_preflight_fails_on_a_renamed_or_fallback_record_type_v2_lacks() -> None:
    spec = parse_mapping(
        ERROR_MAPPING.replace(
            "record_type: {on_missing: error}",
            "record_type: {renamed: {Small_Business: SMB}, on_missing: {fallback: Domestic}}",
        )
    )
    ref = ReferenceData.from_rows(spec.owners, V2_USERS, V2_TYPES)
    findings, _ = reference_gaps(spec, [], [], ref)
    errors = [f.message for f in findings if f.level == "error"]
    assert errors == [
        "record_type.renamed Small_Business -> SMB: V2 Account has no active record type SMB",
        "record_type.on_missing: fallback Domestic is not an active V2 Account record type",
    ]
    error_policy = parse_mapping(ERROR_MAPPING)
    _, gaps = reference_gaps(
        error_policy,
        [],
        [{"Id": "012V1P", "DeveloperName": "Legacy_Prepay", "SobjectType": "Account"}],
        ref,
    )
    (row,) = gap_findings(gaps, {("Account", "RecordTypeId", "012V1P"): 5})
    assert (
        row.level == "error" and "5 record(s)" in row.message and "would be rejected" in row.message
    )


def test_preflight_wants_createable_created_date_when_preserving_it(
    full_spec: MappingSpec,
    v1_describe: dict[str, dict[str, Any]],
    v2_describe: dict[str, dict[str, Any]],
) -> None:
    findings = check_reference_fields(full_spec, v1_describe, v2_describe)
    assert [f.level for f in findings if f.level != "ok"] == []
    for describe in v2_describe.values():
        for meta in describe["fields"]:
            if meta["name"] == "CreatedDate":
                meta["createable"] = False
    errors = [
        f for f in check_reference_fields(full_spec, v1_describe, v2_describe) if f.level == "error"
    ]
    assert {f.object for f in errors} == {
        "Account -> Account",
        "Contact -> Contact",
        "Case -> Case",
        "Meter__c -> Meter_Point__c",
        "EmailMessage -> EmailMessage",
        "Task -> Task",
    }
    assert all("Set Audit Fields upon Record Creation" in f.message for f in errors)
