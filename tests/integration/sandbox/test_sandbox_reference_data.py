"""Users, record types, owners and creation dates in the sandbox orgs, as Salesforce validates
them: inactive owners, record types of another object or inactive, audit fields on insert only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from devstack.sandbox import SandboxConfig, SandboxThread
from devstack.sandbox.reference_data import PEOPLE
from tests.integration.sandbox.support import login


def _error(exc: pytest.ExceptionInfo) -> dict:
    return exc.value.content[0]


def _users(sf: Salesforce) -> dict[str, dict]:
    soql = "SELECT Id, Username, Email, FederationIdentifier, IsActive, Name FROM User"
    rows = sf.query_all(soql)
    return {r["FederationIdentifier"]: r for r in rows["records"] if r["FederationIdentifier"]}


def _record_types(sf: Salesforce) -> dict[tuple[str, str], dict]:
    rows = sf.query_all("SELECT Id, DeveloperName, SobjectType, IsActive FROM RecordType")
    return {(r["SobjectType"], r["DeveloperName"]): r for r in rows["records"]}


def test_v2_users_are_v1_users_recreated_with_new_ids_and_usernames(
    sf1: Salesforce, sf2: Salesforce
) -> None:
    v1, v2 = _users(sf1), _users(sf2)
    assert len(v1) == len(PEOPLE)
    missing = {p.federation_id for p in PEOPLE if p.v2 == "missing"}
    inactive = {p.federation_id for p in PEOPLE if p.v2 == "inactive"}
    assert missing and inactive
    assert set(v1) - set(v2) == missing
    for fed, user in v1.items():
        if fed in missing:
            continue
        twin = v2[fed]
        assert twin["Id"] != user["Id"] and twin["Username"] != user["Username"]
        assert twin["Email"].lower() == user["Email"].lower()
        assert twin["IsActive"] is (fed not in inactive)
    assert any(u["Email"] != u["Email"].lower() for u in v1.values()), "no case to normalise"


def test_v1_accounts_and_cases_carry_owners_record_types_and_original_dates(
    sf1: Salesforce, sf2: Salesforce
) -> None:
    rows = sf1.query_all(
        "SELECT Id, Owner.Email, RecordType.DeveloperName, CreatedDate, "
        "(SELECT Id, Owner.Email, RecordType.DeveloperName, CreatedDate FROM Cases) FROM Account"
    )["records"]
    account_types = {r["RecordType"]["DeveloperName"] for r in rows}
    case_types = {c["RecordType"]["DeveloperName"] for r in rows for c in _sub(r, "Cases")}
    v2_types = {name for (_, name) in _record_types(sf2)}
    assert account_types - v2_types, "some V1 Account record type must lack a V2 counterpart"
    assert case_types - v2_types or "Field_Visit" in case_types
    assert all(r["Owner"]["Email"] for r in rows)
    assert all(r["CreatedDate"].startswith("20") for r in rows)


def _sub(record: dict, name: str) -> list[dict]:
    return (record.get(name) or {}).get("records") or []


def test_owner_must_be_active_and_record_type_must_fit(sf2: Salesforce, v2: SandboxThread) -> None:
    users = _users(sf2)
    active = next(u for u in users.values() if u["IsActive"])
    inactive = next(u for u in users.values() if not u["IsActive"])
    types = _record_types(sf2)
    created = sf2.Account.create(
        {
            "Name": "Owned",
            "Legacy_Id__c": "001OWNED",
            "OwnerId": active["Id"],
            "RecordTypeId": types[("Account", "SME")]["Id"],
        }
    )
    row = sf2.query(
        f"SELECT Owner.Username, RecordType.DeveloperName FROM Account WHERE Id = '{created['id']}'"
    )["records"][0]
    assert row["Owner"]["Username"] == active["Username"]
    assert row["RecordType"]["DeveloperName"] == "SME"

    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf2.Account.create({"Name": "x", "OwnerId": inactive["Id"]})
    assert _error(exc)["errorCode"] == "INACTIVE_OWNER_OR_USER"
    for bad in (types[("Case", "Complaint")], types[("Case", "Field_Visit")]):
        with pytest.raises(SalesforceMalformedRequest) as exc:
            target = sf2.Account if bad["SobjectType"] != "Account" else sf2.Case
            target.create({"Name": "x", "RecordTypeId": bad["Id"]})
        assert _error(exc)["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"
        assert _error(exc)["fields"] == ["RecordTypeId"]
    # no owner given: the API user owns it
    plain = sf2.Account.create({"Name": "plain"})
    owner = sf2.query(f"SELECT Owner.Username FROM Account WHERE Id = '{plain['id']}'")
    assert owner["records"][0]["Owner"]["Username"] == v2.state.org.config.username


def test_created_date_is_writable_on_insert_only(sf2: Salesforce) -> None:
    """Help 000176484: audit fields "can only be set on create (INSERT)" and "this only works
    for INSERT, not UPSERT": a POST create keeps them, an upsert is refused whether it inserts or
    updates."""
    describe = {f["name"]: f for f in sf2.Case.describe()["fields"]}
    assert describe["CreatedDate"]["createable"] and not describe["CreatedDate"]["updateable"]
    dated = {"Name": "d", "Legacy_Id__c": "001DATED", "CreatedDate": "2019-03-04T05:06:07Z"}
    sf2.Account.create(dated)
    row = sf2.Account.get_by_custom_id("Legacy_Id__c", "001DATED")
    assert row["CreatedDate"] == "2019-03-04T05:06:07.000+0000"
    assert row["LastModifiedDate"] > row["CreatedDate"]
    for key in ("001DATED", "001NEW"):  # upsert matching (an update), upsert inserting
        with pytest.raises(SalesforceMalformedRequest) as exc:
            sf2.Account.upsert(
                f"Legacy_Id__c/{key}", {"Name": "d", "CreatedDate": "2018-01-01T00:00:00Z"}
            )
        assert _error(exc)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
        assert _error(exc)["fields"] == ["CreatedDate"]
    assert sf2.query("SELECT Id FROM Account WHERE Legacy_Id__c = '001NEW'")["totalSize"] == 0


@pytest.fixture
def strict_v2() -> Iterator[SandboxThread]:
    """A V2 org without "Set Audit Fields upon Record Creation", allowing inactive owners."""
    config = SandboxConfig(org="v2", port=0, set_audit_fields=False, allow_inactive_owners=True)
    with SandboxThread(config) as sb:
        yield sb


def test_without_the_audit_permission_created_date_is_read_only(strict_v2: SandboxThread) -> None:
    sf = login(strict_v2)
    describe = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert not describe["CreatedDate"]["createable"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.create({"Name": "d", "CreatedDate": "2019-03-04T05:06:07Z"})
    assert _error(exc)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    inactive = next(u for u in _users(sf).values() if not u["IsActive"])
    assert sf.Account.create({"Name": "kept", "OwnerId": inactive["Id"]})["success"]
