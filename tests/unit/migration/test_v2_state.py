"""The V2 read before a re-migration: one query per object per batch, never per record."""

from __future__ import annotations

import pytest

from migration_app.migration.spec import load_mapping
from migration_app.migration.v2_state import ROOTS_PER_QUERY, V2Record, parse_rows, state_queries


@pytest.fixture(scope="module")
def spec():
    return load_mapping()


def test_one_query_per_object_reads_children_through_their_root() -> None:
    spec = load_mapping()
    queries = state_queries(spec, ["001A00000000001AAA", "001A00000000002AAA"])
    # follow-up objects (no lookup to the root) are read by their own external ids, when given
    assert [t for t, _ in queries] == [o.target for o in spec.objects if not o.follow_up]
    account, contact = queries[0][1], queries[1][1]
    assert (
        "FROM Account WHERE Legacy_Id__c IN ('001A00000000001AAA','001A00000000002AAA')" in account
    )
    assert "FROM Contact WHERE Account.Legacy_Id__c IN (" in contact
    assert "LastModifiedById" in contact and "SystemModstamp" in contact


def test_a_batch_larger_than_a_query_splits_by_customers(spec) -> None:
    ids = [f"001A{n:011d}AAA" for n in range(ROOTS_PER_QUERY + 1)]
    assert len(state_queries(spec, ids)) == 2 * (len(spec.objects) - len(spec.follow_ups))


def test_text_that_is_not_an_id_never_reaches_the_query(spec) -> None:
    with pytest.raises(ValueError, match="not a Salesforce id"):
        state_queries(spec, ["001A00000000001AAA", "x') OR Name != ('"])


def test_rows_are_keyed_by_object_and_legacy_id(spec) -> None:
    rows = [
        {
            "Id": "003B",
            "Legacy_Id__c": "003A",
            "LastModifiedById": "005P",
            "LastModifiedDate": "2026-12-03T10:00:00.000+0000",
            "LastModifiedBy": {"Username": "agent@v2"},
        }
    ]
    found = parse_rows(spec, [("Contact", rows)])
    assert found == {
        ("Contact", "003A"): V2Record(
            "003B", "005P", None, "2026-12-03T10:00:00.000+0000", "agent@v2"
        )
    }


def test_only_someone_elses_last_write_is_a_conflict() -> None:
    ours = V2Record("003B", "005000000000001AAA")
    assert not ours.changed_by_someone_else("005000000000001")  # 15 vs 18 characters
    assert V2Record("003B", "005000000000002AAA").changed_by_someone_else("005000000000001AAA")
    assert not V2Record("003B", None).changed_by_someone_else("005000000000001AAA")
