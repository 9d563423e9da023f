"""Reconciliation verdicts (pure): MATCH, DRIFT with both values, MISSING, UNEXPECTED."""

from __future__ import annotations

from dataclasses import replace

import pytest

from migration_app.migration.customer_transform import transform_customer
from migration_app.migration.spec import MappingSpec, load_mapping
from migration_app.verify.plan import (
    DRIFT,
    EDITED_IN_V2,
    MATCH,
    MISSING,
    UNEXPECTED,
    compare_customer,
    expected_records,
    same,
    v2_path,
    v2_select,
)
from tests.support.mapping import field_rules_only

ACC = "001A00000000001AAA"
CON = "003A00000000001AAA"


@pytest.fixture(scope="module")
def spec():
    return field_rules_only(load_mapping())  # owner/record type resolution: test_reference_rules


def v1_account() -> dict:
    return {
        "Id": ACC,
        "Name": "Customer",
        "Phone": "+44 20 7946 0000",
        "Account_Status__c": "Active",
        "Contacts": {
            "totalSize": 1,
            "done": True,
            "records": [
                {
                    "Id": CON,
                    "AccountId": ACC,
                    "FirstName": "Ann",
                    "LastName": "Smith",
                    "Email": "ann@example.com",
                    "Phone": None,
                    "Is_Primary__c": True,
                }
            ],
        },
        "Cases": None,
        "Meters__r": None,
    }


def as_v2(expected: dict) -> dict:
    """What SOQL returns for what the load sent (attributes dropped, references as paths)."""
    out = {}
    for key, record in expected.items():
        out[key] = {k: v for k, v in record.items() if k != "attributes"}
    return out


def test_what_was_loaded_matches(spec) -> None:
    expected = expected_records(transform_customer(spec, v1_account()), spec)
    verdict = compare_customer(ACC, expected, as_v2(expected), spec)
    assert verdict.verdict == MATCH and verdict.details() == []


def test_a_changed_field_is_drift_with_both_values(spec) -> None:
    expected = expected_records(transform_customer(spec, v1_account()), spec)
    actual = as_v2(expected)
    actual[("Contact", CON)]["Email"] = "other@example.com"
    verdict = compare_customer(ACC, expected, actual, spec)
    assert verdict.verdict == DRIFT
    assert verdict.details() == [
        {
            "kind": DRIFT,
            "object": "Contact",
            "legacy_id": CON,
            "field": "Email",
            "expected": "ann@example.com",
            "actual": "other@example.com",
        }
    ]


def test_a_dropped_reference_is_drift(spec) -> None:
    expected = expected_records(transform_customer(spec, v1_account()), spec)
    actual = as_v2(expected)
    actual[("Contact", CON)]["Account"] = None
    (diff,) = compare_customer(ACC, expected, actual, spec).drift
    assert (diff.field, diff.expected, diff.actual) == ("Account.Legacy_Id__c", ACC, None)


def test_an_absent_record_is_missing_and_an_extra_one_unexpected(spec) -> None:
    expected = expected_records(transform_customer(spec, v1_account()), spec)
    actual = as_v2(expected)
    del actual[("Contact", CON)]
    assert compare_customer(ACC, expected, actual, spec).verdict == MISSING
    actual = as_v2(expected)
    actual[("Case", "500A00000000009AAA")] = {"Legacy_Id__c": "500A00000000009AAA"}
    verdict = compare_customer(ACC, expected, actual, spec)
    assert verdict.verdict == UNEXPECTED
    assert verdict.unexpected == [("Case", "500A00000000009AAA")]


def test_normalisation_blank_is_null_and_numbers_by_value() -> None:
    assert same(None, "") and same(" x ", "x") and same(1, 1.0)
    assert not same("a", "b") and not same(True, None)


def test_long_text_is_truncated_in_details(spec) -> None:
    expected = expected_records(transform_customer(spec, v1_account()), spec)
    actual = as_v2(expected)
    actual[("Account", ACC)]["Name"] = "x" * 500
    (detail,) = compare_customer(ACC, expected, actual, spec).details()
    assert detail["actual"].endswith("(500 chars)") and len(detail["actual"]) < 200


def test_children_are_found_through_the_account_external_id(spec) -> None:
    contact = spec.by_target("Contact")
    assert v2_path(contact, spec) == "Account.Legacy_Id__c"
    assert "Account.Legacy_Id__c" in v2_select(contact, spec)
    assert v2_path(spec.root, spec) == "Legacy_Id__c"


US = "005000000000001AAA"
AGENT = "005000000000009AAA"


def test_a_difference_someone_else_made_in_v2_is_an_edit_not_drift(spec) -> None:
    expected = expected_records(transform_customer(spec, v1_account()), spec)
    actual = as_v2(expected)
    for row in actual.values():
        row["LastModifiedById"] = US
    contact = actual[("Contact", CON)]
    contact.update(Email="agent@example.com", LastModifiedById=AGENT)
    contact["LastModifiedBy"] = {"Username": "agent@v2"}
    verdict = compare_customer(ACC, expected, actual, spec, US[:15])
    assert verdict.verdict == EDITED_IN_V2 and verdict.drift == []
    (detail,) = verdict.details()
    assert detail["kind"] == EDITED_IN_V2 and detail["by"] == "agent@v2"
    contact["LastModifiedById"] = US  # the same difference written by us is drift
    assert compare_customer(ACC, expected, actual, spec, US).verdict == DRIFT


def test_a_preserved_created_date_is_compared_as_an_instant() -> None:
    base = field_rules_only(load_mapping())
    spec = MappingSpec(objects=tuple(replace(o, preserve_created_date=True) for o in base.objects))
    account = v1_account()
    account["CreatedDate"] = "2020-01-01T00:00:00.000+0000"
    expected = expected_records(transform_customer(spec, account), spec)
    actual = as_v2(expected)
    actual[("Account", ACC)]["CreatedDate"] = "2020-01-01T00:00:00Z"
    assert compare_customer(ACC, expected, actual, spec).verdict == MATCH
    actual[("Account", ACC)]["CreatedDate"] = "2026-12-03T10:00:00.000+0000"
    (diff,) = compare_customer(ACC, expected, actual, spec).drift
    assert diff.field == "CreatedDate"


def test_files_are_compared_by_checksum_and_missing_ones_reported() -> None:
    from migration_app.migration.files_plan import FileCopy, LinkTarget
    from migration_app.verify.plan import Verdict, compare_files

    def file(n: int, checksum: str) -> FileCopy:
        return FileCopy(
            f"068A0000000000{n}AAA", f"069A0000000000{n}AAA", "bill", "bill.pdf", 10,
            checksum, None, (LinkTarget("Account", ACC),), (ACC,),
        )  # fmt: skip

    verdict = Verdict(ACC)
    v2 = {
        file(1, "aa").version_id: {"Checksum": "AA"},
        file(2, "bb").version_id: {"Checksum": "cc"},
    }
    compare_files(verdict, [file(1, "aa"), file(2, "bb"), file(3, "dd")], v2)
    assert verdict.missing == [("ContentVersion", file(3, "dd").version_id)]
    (diff,) = verdict.drift
    assert (diff.field, diff.expected, diff.actual) == ("Checksum", "bb", "cc")
    assert verdict.verdict == MISSING
