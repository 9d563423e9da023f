"""Seeding: deterministic per seed, shapes per customer, dirty data at the configured rate."""

from __future__ import annotations

import pytest

from devstack.sandbox.ids import IdFactory
from devstack.sandbox.schema import v1_schema
from devstack.sandbox.seed import seed_v1
from devstack.sandbox.store import Store


def _seeded(customers: int, seed: int, dirty: float = 0.05) -> Store:
    store = Store(v1_schema(), IdFactory("1S"))
    seed_v1(store, customers, seed, dirty)
    return store


def _dump(store: Store) -> dict:
    return {name: list(t.rows.values()) for name, t in store.tables.items()}


def test_same_seed_same_data_other_seed_other_data() -> None:
    assert _dump(_seeded(50, 42)) == _dump(_seeded(50, 42))
    assert _dump(_seeded(50, 42)) != _dump(_seeded(50, 43))


def test_customer_shapes() -> None:
    store = _seeded(200, 1)
    for acc_id in store.table("Account").rows:
        assert 1 <= len(store.children("Contact", "AccountId", acc_id)) <= 4
        assert 0 <= len(store.children("Case", "AccountId", acc_id)) <= 5
        assert 1 <= len(store.children("Meter__c", "Account__c", acc_id)) <= 2


def test_dirty_data_kinds_present_at_rate() -> None:
    store = _seeded(1000, 5, dirty=0.05)
    contacts = list(store.table("Contact").rows.values())
    missing = sum(c["LastName"] is None for c in contacts) / len(contacts)
    bad_email = sum(
        "@example.com" not in c["Email"] or " " in c["Email"] or "@@" in c["Email"]
        for c in contacts
    ) / len(contacts)
    assert 0.03 < missing < 0.07 and 0.03 < bad_email < 0.07
    cases = list(store.table("Case").rows.values())
    assert any(len(c["Description"]) > 4000 for c in cases)
    assert any(c["Priority"] not in ("High", "Medium", "Low") for c in cases)
    accounts = list(store.table("Account").rows.values())
    assert any(a["Account_Status__c"] not in ("Active", "Closed", "Debt") for a in accounts)
    assert any(not a["Phone"].startswith("+44") for a in accounts)
    clean = _seeded(300, 5, dirty=0.0)
    assert all(c["LastName"] for c in clean.table("Contact").rows.values())


@pytest.mark.timeout(120)  # a hang guard; seeding speed is for benchmarks/, not a test
def test_ten_thousand_customers_seed() -> None:
    store = _seeded(10_000, 42)
    accounts = store.table("Account").rows
    assert len(accounts) == 10_000
    assert len({a["Customer_Number__c"] for a in accounts.values()}) == 10_000
