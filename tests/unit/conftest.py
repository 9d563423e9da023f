"""Fixtures for the migration domain tests: the packaged spec, fake describes, record builders.

Fixtures only: the fake describes are in describes.py, record ids and shapes in records.py.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from migration_app.migration.spec import MappingSpec, load_mapping
from tests.support.mapping import field_rules_only
from tests.unit.describes import build_v1_describe, build_v2_describe
from tests.unit.records import ACCOUNT_ID, sf_id, subquery

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
            "Id": sf_id("003", n),
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
            "Id": sf_id("500", n),
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
            "Id": sf_id("a00", n),
            "Account__c": account_id,
            "Name": f"M-{n}",
            "MPAN__c": "1200023305967",
            "Fuel_Type__c": "Electricity",
            "Serial_Number__c": f"S{n:05d}",
        }
        record.update(fields)
        return record

    return make
