"""Chunking customers' records into sObject Collections upserts."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from migration_app.migration.chunks import chunked
from migration_app.migration.collections_plan import UpsertChunk, plan_upserts
from migration_app.migration.customer_transform import CustomerPlan, transform_customer
from migration_app.migration.spec import MappingSpec

Factory = Callable[..., dict[str, Any]]


def account_id(n: int) -> str:
    return f"001{n:012d}AAA"


def test_chunked_splits_with_short_tail() -> None:
    assert [list(c) for c in chunked(list(range(5)), 2)] == [[0, 1], [2, 3], [4]]
    assert list(chunked([], 3)) == []
    with pytest.raises(ValueError):
        list(chunked([1], 0))


def test_201_records_make_200_plus_1(
    spec: MappingSpec, make_account: Factory, make_contact: Factory
) -> None:
    # 3 customers with 67 contacts each: 201 contacts, 3 accounts.
    plans = [
        transform_customer(
            spec,
            make_account(
                account_id(c),
                contacts=[make_contact(c * 1000 + i, account_id(c)) for i in range(67)],
            ),
        )
        for c in range(1, 4)
    ]
    chunks = plan_upserts(plans, spec)
    assert [(ch.object, len(ch)) for ch in chunks] == [
        ("Account", 3),
        ("Contact", 200),
        ("Contact", 1),
    ]
    assert chunks[0].customer_ids == (account_id(1), account_id(2), account_id(3))
    assert chunks[1].customer_ids[:67] == (account_id(1),) * 67
    assert chunks[1].customer_ids[67:134] == (account_id(2),) * 67
    assert chunks[2].customer_ids == (account_id(3),)
    assert chunks[2].records[0]["Account"] == {"Legacy_Id__c": account_id(3)}
    assert all(ch.external_id_field == "Legacy_Id__c" for ch in chunks)


def test_parents_first_and_every_record_maps_back(
    spec: MappingSpec,
    make_account: Factory,
    make_contact: Factory,
    make_case: Factory,
    make_meter: Factory,
) -> None:
    plans = []
    for c in (1, 2):
        aid = account_id(c)
        plans.append(
            transform_customer(
                spec,
                make_account(
                    aid,
                    contacts=[make_contact(c * 10, aid)],
                    cases=[make_case(c * 10, aid), make_case(c * 10 + 1, aid)],
                    meters=[make_meter(c * 10, aid)],
                ),
            )
        )
    chunks = plan_upserts(plans, spec, max_batch=3)
    assert [(ch.object, len(ch), ch.level) for ch in chunks] == [
        ("Account", 2, 0),
        ("Contact", 2, 1),
        ("Case", 3, 2),
        ("Case", 1, 2),
        ("Meter_Point__c", 2, 1),
    ]
    owner_of = {
        legacy_id: customer
        for ch in chunks
        for legacy_id, customer in zip(ch.legacy_ids(), ch.customer_ids, strict=True)
    }
    for plan in plans:
        for records in plan.records_by_object.values():
            for record in records:
                assert owner_of[record["Legacy_Id__c"]] == plan.customer_id
    assert len(owner_of) == sum(p.record_count for p in plans)


def test_rejected_and_duplicate_customers(
    spec: MappingSpec, make_account: Factory, make_contact: Factory
) -> None:
    rejected = transform_customer(spec, make_account(account_id(1), Name=None))
    first = transform_customer(spec, make_account(account_id(2), Name="Old"))
    again = transform_customer(
        spec, make_account(account_id(2), Name="New", contacts=[make_contact(1, account_id(2))])
    )
    chunks = plan_upserts([rejected, first, again], spec)
    assert [(ch.object, ch.customer_ids) for ch in chunks] == [
        ("Account", (account_id(2),)),
        ("Contact", (account_id(2),)),
    ]
    assert chunks[0].records[0]["Name"] == "New"


def test_empty_plans_and_bad_batch_size(spec: MappingSpec) -> None:
    assert plan_upserts([], spec) == []
    empty = CustomerPlan(customer_id="x", records_by_object={})
    assert plan_upserts([empty], spec) == []
    for bad in (0, 201):
        with pytest.raises(ValueError, match="max_batch"):
            plan_upserts([], spec, max_batch=bad)


def test_chunk_is_immutable_view() -> None:
    chunk = UpsertChunk("Account", "Legacy_Id__c", ({"Legacy_Id__c": "a"},), ("c",), 0)
    assert chunk.legacy_ids() == ("a",) and len(chunk) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        chunk.object = "Contact"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        chunk.records += ({"Legacy_Id__c": "b"},)  # type: ignore[misc]
    with pytest.raises((AttributeError, TypeError)):  # slots: no new attributes either
        chunk.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):  # the sequences are tuples, not lists
        chunk.customer_ids.append("d")  # type: ignore[attr-defined]
    assert (chunk.object, chunk.records, chunk.customer_ids, chunk.level) == (
        "Account",
        ({"Legacy_Id__c": "a"},),
        ("c",),
        0,
    )
