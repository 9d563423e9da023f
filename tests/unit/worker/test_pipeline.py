"""MigrationPipeline with in-memory orgs, collections strategy: batching, per-record failures,
dry runs, retries (the graph strategy: test_pipeline_graph.py)."""

from __future__ import annotations

from typing import Any

import pytest

from migration_app.contracts.customer_status import CustomerStatus
from migration_app.migration.load_options import LoadOptions
from migration_app.migration.spec import load_mapping
from migration_app.salesforce.errors import SalesforceTransientError
from migration_app.worker.pipeline import MigrationPipeline, MigrationRequest
from tests.support.mapping import field_rules_only
from tests.unit.worker.pipeline_fakes import ACC1, ACC2, FakeSource, FakeTarget, v1_account


class CollectionsPipeline(MigrationPipeline):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, options=LoadOptions(strategy="collections"), **kwargs)


def _requests(*ids: str, dry_run: bool = False) -> list[MigrationRequest]:
    return [MigrationRequest(i, f"corr-{i}", 1, dry_run) for i in ids]


@pytest.fixture(scope="module")
def spec():
    return field_rules_only(load_mapping())  # owners/record types: test_reference_rules.py


async def test_batch_shares_one_query_and_one_call_per_object(spec) -> None:
    source, target = FakeSource([v1_account(ACC1), v1_account(ACC2)]), FakeTarget()
    outcomes = await CollectionsPipeline(spec, source, target).migrate(_requests(ACC1, ACC2))
    assert [o.status for o in outcomes] == [CustomerStatus.COMPLETED, CustomerStatus.COMPLETED]
    # the root query, and the tasks by the batch's account ids (no cases: no e-mail query)
    assert len(source.queries) == 2 and " FROM Task WHERE WhatId IN (" in source.queries[1]
    assert target.calls == [("Account", 2), ("Contact", 2)]
    assert outcomes[0].v2_account_id == "V2" + ACC1
    assert outcomes[0].counts == {"Account": 1, "Contact": 1}


async def test_missing_and_malformed_customers_fail_clearly(spec) -> None:
    source, target = FakeSource([v1_account(ACC1)]), FakeTarget()
    outcomes = await CollectionsPipeline(spec, source, target).migrate(
        _requests(ACC1, ACC2, "not-an-id'); DROP")
    )
    by_id = {o.customer_id: o for o in outcomes}
    assert by_id[ACC1].status == CustomerStatus.COMPLETED
    assert by_id[ACC2].status == CustomerStatus.FAILED
    assert "not found in V1" in (by_id[ACC2].error or "")
    assert by_id["not-an-id'); DROP"].issues[0].code == "INVALID_ID"
    assert "DROP" not in source.queries[0]


async def test_rejected_parent_skips_its_children_and_fails_only_that_customer(spec) -> None:
    target = FakeTarget(fail_codes={ACC2: "DUPLICATE_VALUE"})
    outcomes = await CollectionsPipeline(
        spec, FakeSource([v1_account(ACC1), v1_account(ACC2)]), target
    ).migrate(_requests(ACC1, ACC2))
    by_id = {o.customer_id: o for o in outcomes}
    assert by_id[ACC1].status == CustomerStatus.COMPLETED
    assert by_id[ACC2].status == CustomerStatus.FAILED
    assert by_id[ACC2].issues[-1].code == "DUPLICATE_VALUE"
    assert target.calls == [("Account", 2), ("Contact", 1)]


async def test_dry_run_transforms_without_writing(spec) -> None:
    target = FakeTarget()
    outcomes = await CollectionsPipeline(spec, FakeSource([v1_account(ACC1)]), target).migrate(
        _requests(ACC1, dry_run=True)
    )
    assert outcomes[0].status == CustomerStatus.DRY_RUN
    assert outcomes[0].counts == {"Account": 1, "Contact": 1}
    assert target.calls == []


async def test_record_errors_in_transform_are_audited_not_loaded(spec) -> None:
    target = FakeTarget()
    outcomes = await CollectionsPipeline(
        spec, FakeSource([v1_account(ACC1, last_name=None)]), target
    ).migrate(_requests(ACC1))
    assert outcomes[0].status == CustomerStatus.COMPLETED
    assert any(i.code == "REQUIRED_MISSING" for i in outcomes[0].issues)
    assert target.calls == [("Account", 1)]


async def test_transient_failure_propagates_for_a_batch_retry(spec) -> None:
    pipeline = CollectionsPipeline(
        spec, FakeSource([v1_account(ACC1)]), FakeTarget(transient_calls=1)
    )
    with pytest.raises(SalesforceTransientError):
        await pipeline.migrate(_requests(ACC1))
    outcomes = await pipeline.migrate(_requests(ACC1))
    assert outcomes[0].status == CustomerStatus.COMPLETED


async def test_large_batches_extract_in_bounded_queries(spec) -> None:
    ids = [f"001A{n:011d}AAA"[:18] for n in range(450)]
    source = FakeSource([v1_account(i) for i in ids])
    outcomes = await CollectionsPipeline(spec, source, FakeTarget()).migrate(_requests(*ids))
    assert all(o.status == CustomerStatus.COMPLETED for o in outcomes)
    assert len(source.queries) == 3 + 3  # root queries, then the tasks by their account ids
    assert max(len(q) for q in source.queries) < 16_000
