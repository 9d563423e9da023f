"""The graph load strategy with an in-memory V2 that keeps Composite Graph's promises
(pipeline_fakes.FakeGraphOrg): each graph commits or rolls back as a whole, and after
``halt_after`` failed graphs the rest are halted."""

from __future__ import annotations

import pytest

from migration_app.contracts.customer_status import CustomerStatus
from migration_app.migration.load_options import LoadOptions
from migration_app.migration.spec import load_mapping
from migration_app.salesforce.errors import SalesforceTransientError
from migration_app.worker.pipeline import MigrationPipeline, MigrationRequest
from tests.support.mapping import field_rules_only
from tests.unit.worker.pipeline_fakes import FakeGraphOrg, FakeSource, v1_account


def _requests(*ids: str) -> list[MigrationRequest]:
    return [MigrationRequest(i, f"corr-{i}", 1) for i in ids]


def _ids(n: int) -> list[str]:
    return [f"001A{i:011d}AAA" for i in range(n)]


@pytest.fixture(scope="module")
def spec():
    return field_rules_only(load_mapping())  # owners/record types: test_reference_rules.py


async def test_a_batch_goes_out_as_one_graph_request(spec) -> None:
    ids = _ids(20)
    org = FakeGraphOrg()
    outcomes = await MigrationPipeline(spec, FakeSource([v1_account(i) for i in ids]), org).migrate(
        _requests(*ids)
    )
    assert org.graph_calls == [20] and org.calls == []
    assert {o.status for o in outcomes} == {CustomerStatus.COMPLETED}
    assert outcomes[0].counts == {"Account": 1, "Contact": 1}
    assert outcomes[0].v2_account_id == "V2" + ids[0]


async def test_a_rejected_record_rolls_back_only_its_customer(spec) -> None:
    ids = _ids(3)
    bad_contact = "003A0000000000" + ids[1][-4:]
    org = FakeGraphOrg(fail={bad_contact: ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Email")})
    outcomes = await MigrationPipeline(spec, FakeSource([v1_account(i) for i in ids]), org).migrate(
        _requests(*ids)
    )
    by_id = {o.customer_id: o for o in outcomes}
    failed = by_id[ids[1]]
    assert failed.status == CustomerStatus.FAILED and failed.counts == {}
    (issue,) = [i for i in failed.issues if i.is_error]
    assert (issue.object, issue.legacy_id, issue.field, issue.code) == (
        "Contact",
        bad_contact,
        "Email",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
    )
    assert ids[1] not in org.records  # the Account of the failed customer is not in V2
    assert {ids[0], ids[2]} <= set(org.records)
    assert by_id[ids[0]].status == by_id[ids[2]].status == CustomerStatus.COMPLETED


async def test_halted_graphs_are_resent(spec) -> None:
    ids = _ids(6)
    fail = {"003A0000000000" + i[-4:]: ("FIELD_INTEGRITY_EXCEPTION", "Email") for i in ids[:2]}
    org = FakeGraphOrg(fail=fail, halt_after=2)
    outcomes = await MigrationPipeline(spec, FakeSource([v1_account(i) for i in ids]), org).migrate(
        _requests(*ids)
    )
    assert org.graph_calls == [6, 4]  # the four halted graphs went out again
    assert [o.status for o in outcomes] == [CustomerStatus.FAILED] * 2 + [
        CustomerStatus.COMPLETED
    ] * 4


async def test_a_customer_too_large_for_a_graph_falls_back_to_collections_with_a_warning(
    spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("migration_app.migration.graph_plan.MAX_NODES_PER_GRAPH", 1)
    ids = _ids(1)
    org = FakeGraphOrg()
    (outcome,) = await MigrationPipeline(spec, FakeSource([v1_account(ids[0])]), org).migrate(
        _requests(*ids)
    )
    assert outcome.status == CustomerStatus.COMPLETED
    assert org.graph_calls == [] and [c[0] for c in org.calls] == ["Account", "Contact"]
    assert [i.code for i in outcome.issues if not i.is_error] == ["NOT_ATOMIC"]

    strict = MigrationPipeline(
        spec,
        FakeSource([v1_account(ids[0])]),
        FakeGraphOrg(),
        options=LoadOptions(require_atomic=True),
    )
    (outcome,) = await strict.migrate(_requests(*ids))
    assert outcome.status == CustomerStatus.FAILED
    assert [i.code for i in outcome.issues if i.is_error] == ["NOT_ATOMIC"]


async def test_transient_node_errors_leave_the_batch_to_a_retry(spec) -> None:
    ids = _ids(1)
    org = FakeGraphOrg(fail={"003A0000000000" + ids[0][-4:]: ("UNABLE_TO_LOCK_ROW", "Id")})
    pipeline = MigrationPipeline(spec, FakeSource([v1_account(ids[0])]), org)
    with pytest.raises(SalesforceTransientError, match="UNABLE_TO_LOCK_ROW"):
        await pipeline.migrate(_requests(*ids))


async def test_the_duplicate_rule_header_is_sent_when_configured(spec) -> None:
    ids = _ids(1)
    org = FakeGraphOrg()
    options = LoadOptions(allow_duplicate_save=True)
    await MigrationPipeline(spec, FakeSource([v1_account(ids[0])]), org, options=options).migrate(
        _requests(*ids)
    )
    assert org.headers == [True]
