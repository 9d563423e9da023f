"""MigrationPipeline with in-memory orgs, collections strategy: batching, per-record failures,
dry runs, retries (the graph strategy: test_pipeline_graph.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from migration_app.contracts.customer_status import CustomerStatus
from migration_app.migration.issues import ERROR, WARNING
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


# the conflict guard after DUPLICATE_VALUE ------------------------------------------------------
# A first attempt's create meets its record in V2 (an earlier call wrote it and the answer was
# lost); an agent may have edited it since. The record is re-read and decided as graph and bulk
# decide it (write_plan.decide), never upserted blindly.
AGENT = "005000000000009AAA"


def _guarded(spec, target: FakeTarget, policy: str, *ids: str) -> CollectionsPipeline:
    return CollectionsPipeline(
        replace(spec, on_conflict=policy),
        FakeSource([v1_account(i) for i in ids]),
        target,
        integration_username="integration@v2.example",
    )


def _lost_answer(edited_by: str | None = AGENT, *ids: str) -> FakeTarget:
    """V2 holds these customers' Accounts from a write whose answer was lost, last modified by
    ``edited_by`` (None: by the integration user, i.e. us)."""
    target = FakeTarget()
    for legacy in ids or (ACC1,):
        target.v2[("Account", legacy)] = {"Name": "Edited in V2"}
        if edited_by is not None:
            target.last_modified_by[("Account", legacy)] = edited_by
    return target


def _account_reads(target: FakeTarget) -> list[str]:
    return [q for q in target.queries if " FROM Account " in q]


async def test_a_duplicate_changed_by_an_agent_is_kept_under_keep_v2(spec) -> None:
    target = _lost_answer()
    outcomes = await _guarded(spec, target, "keep_v2", ACC1, ACC2).migrate(_requests(ACC1, ACC2))
    assert [o.status for o in outcomes] == [CustomerStatus.COMPLETED] * 2
    (read,) = _account_reads(target)  # one read of the duplicates, by external id
    assert f"Legacy_Id__c IN ('{ACC1}')" in read
    assert target.calls == [("Account", 2), ("Contact", 2)]  # no upsert over the agent's edit
    assert target.v2[("Account", ACC1)]["Name"] == "Edited in V2"
    (conflict,) = [i for i in outcomes[0].issues if i.code == "CONFLICT"]
    assert (conflict.severity, conflict.object, conflict.legacy_id) == (WARNING, "Account", ACC1)
    assert "V2's version kept (on_conflict: keep_v2)" in conflict.message
    assert outcomes[0].counts == {"Account": 1, "Contact": 1}
    assert [(e.object, e.action) for e in outcomes[0].records] == [("Contact", "created")]


async def test_a_duplicate_changed_by_an_agent_fails_its_customer_under_fail_customer(
    spec,
) -> None:
    target = _lost_answer()
    outcomes = await _guarded(spec, target, "fail_customer", ACC1, ACC2).migrate(
        _requests(ACC1, ACC2)
    )
    by_id = {o.customer_id: o for o in outcomes}
    assert by_id[ACC2].status == CustomerStatus.COMPLETED
    failed = by_id[ACC1]
    assert failed.status == CustomerStatus.FAILED
    assert (failed.error or "").startswith(f"Account {ACC1}")
    (conflict,) = [i for i in failed.issues if i.code == "CONFLICT"]
    assert conflict.severity == ERROR and "on_conflict: fail_customer" in conflict.message
    assert "nothing of the customer written" in conflict.message  # the root: true
    assert target.v2[("Account", ACC1)]["Name"] == "Edited in V2"
    assert ("Contact", "003" + ACC1[3:]) not in target.v2  # nothing more of it was sent
    assert target.calls == [("Account", 2), ("Contact", 1)]
    assert failed.records == []


async def test_a_duplicate_changed_by_an_agent_is_written_over_under_overwrite(spec) -> None:
    target = _lost_answer()
    (outcome,) = await _guarded(spec, target, "overwrite", ACC1).migrate(_requests(ACC1))
    assert outcome.status == CustomerStatus.COMPLETED
    assert len(_account_reads(target)) == 1
    assert target.calls == [("Account", 1), ("Account", 1), ("Contact", 1)]  # create, upsert
    assert target.v2[("Account", ACC1)]["Name"] == v1_account(ACC1)["Name"]
    (conflict,) = [i for i in outcome.issues if i.code == "CONFLICT"]
    assert conflict.severity == WARNING and "written over it" in conflict.message
    actions = {e.object: e.action for e in outcome.records}
    assert actions == {"Account": "uncertain", "Contact": "created"}


async def test_a_duplicate_last_written_by_us_is_upserted_without_a_conflict(spec) -> None:
    target = _lost_answer(None)
    (outcome,) = await _guarded(spec, target, "fail_customer", ACC1).migrate(_requests(ACC1))
    assert outcome.status == CustomerStatus.COMPLETED, outcome.issues
    (read,) = _account_reads(target)  # the guard looked before writing
    assert f"Legacy_Id__c IN ('{ACC1}')" in read
    assert target.v2[("Account", ACC1)]["Name"] == v1_account(ACC1)["Name"]
    assert not any(i.code == "CONFLICT" for i in outcome.issues)
    actions = {e.object: e.action for e in outcome.records}
    assert actions == {"Account": "uncertain", "Contact": "created"}


async def test_a_chunks_duplicates_are_re_read_together_not_one_by_one(spec) -> None:
    ids = [f"001A{n:011d}AAA" for n in range(3)]
    target = _lost_answer(AGENT, *ids[:2])
    outcomes = await _guarded(spec, target, "keep_v2", *ids).migrate(_requests(*ids))
    assert {o.status for o in outcomes} == {CustomerStatus.COMPLETED}
    (read,) = _account_reads(target)
    assert f"Legacy_Id__c IN ('{ids[0]}','{ids[1]}')" in read
    assert sum(i.code == "CONFLICT" for o in outcomes for i in o.issues) == 2


async def test_a_customer_failed_by_the_guard_has_none_of_its_other_duplicates_sent(spec) -> None:
    account = v1_account(ACC1)
    first = account["Contacts"]["records"][0]
    second = {**first, "Id": "003B" + ACC1[4:], "Is_Primary__c": False}
    account["Contacts"] = {"totalSize": 2, "done": True, "records": [first, second]}
    target = FakeTarget()
    target.v2[("Account", ACC1)] = {"Name": account["Name"]}  # ours: created, answer lost
    for contact in (first, second):
        target.v2[("Contact", contact["Id"])] = {"LastName": "Edited in V2"}
    target.last_modified_by[("Contact", first["Id"])] = AGENT  # the second is still ours
    pipeline = CollectionsPipeline(
        replace(spec, on_conflict="fail_customer"),
        FakeSource([account]),
        target,
        integration_username="integration@v2.example",
    )
    (outcome,) = await pipeline.migrate(_requests(ACC1))
    assert outcome.status == CustomerStatus.FAILED
    assert (outcome.error or "").startswith(f"Contact {first['Id']}")
    # the Account (level 0) stays in V2: the CONFLICT must not say that nothing was written
    (conflict,) = [i for i in outcome.issues if i.code == "CONFLICT"]
    assert "nothing of the customer" not in conflict.message
    assert "what earlier levels of this attempt wrote stays in V2" in conflict.message
    # Account: create, upsert (ours); Contacts: the create only, the second not upserted
    assert target.calls == [("Account", 1), ("Account", 1), ("Contact", 2)]
    assert target.v2[("Contact", second["Id"])] == {"LastName": "Edited in V2"}
