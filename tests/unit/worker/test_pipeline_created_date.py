"""Audit fields on create only (Salesforce Help 000176484: "only works for INSERT, not UPSERT"):
a record new to V2 is created with V1's CreatedDate; one already in V2 is upserted without it,
with a warning, on both load strategies; a first attempt that meets its records in V2
(DUPLICATE_VALUE) reads V2 and plans the customer again."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from migration_app.contracts.customer_status import CustomerStatus
from migration_app.migration.load_options import LoadOptions
from migration_app.migration.spec import MappingSpec, load_mapping
from migration_app.worker.pipeline import MigrationPipeline, MigrationRequest
from tests.support.mapping import field_rules_only
from tests.unit.worker.pipeline_fakes import ACC1, FakeGraphOrg, FakeSource, v1_account

CREATED = "2020-01-01T00:00:00.000+0000"
STRATEGIES = ["graph", "collections"]


@pytest.fixture(scope="module")
def spec() -> MappingSpec:
    base = field_rules_only(load_mapping())
    objects = tuple(replace(o, preserve_created_date=True) for o in base.objects)
    return MappingSpec(objects=objects)


def _dated_account(account_id: str = ACC1) -> dict[str, Any]:
    account = v1_account(account_id)
    account["CreatedDate"] = CREATED
    for contact in account["Contacts"]["records"]:
        contact["CreatedDate"] = CREATED
    return account


def _pipeline(spec: MappingSpec, org: FakeGraphOrg, strategy: str, *accounts) -> MigrationPipeline:
    return MigrationPipeline(
        spec,
        FakeSource(list(accounts) or [_dated_account()]),
        org,
        options=LoadOptions(strategy=strategy),
        integration_username="migration@v2.sandbox",
    )


def _contact_id(account_id: str = ACC1) -> str:
    return v1_account(account_id)["Contacts"]["records"][0]["Id"]


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_a_first_attempt_creates_every_record_with_its_v1_date_and_reads_nothing(
    spec: MappingSpec, strategy: str
) -> None:
    org = FakeGraphOrg()
    (outcome,) = await _pipeline(spec, org, strategy).migrate([MigrationRequest(ACC1, "c", 1)])
    assert outcome.status == CustomerStatus.COMPLETED, outcome.issues
    assert org.v2[("Account", ACC1)]["CreatedDate"] == CREATED
    assert org.v2[("Contact", _contact_id())]["CreatedDate"] == CREATED
    assert org.queries == []  # no read of V2 for a first attempt
    assert [r.action for r in outcome.records] == ["created", "created"]
    assert outcome.issues == []


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_a_re_migration_reads_v2_once_per_object_and_upserts_without_audit_fields(
    spec: MappingSpec, strategy: str
) -> None:
    org = FakeGraphOrg()
    await _pipeline(spec, org, strategy).migrate([MigrationRequest(ACC1, "c", 1)])
    org.bodies.clear()
    (outcome,) = await _pipeline(spec, org, strategy).migrate([MigrationRequest(ACC1, "c2", 2)])
    assert outcome.status == CustomerStatus.COMPLETED, outcome.issues
    reads = [q for q in org.queries if " FROM User " not in q]
    # one per object for the whole batch; none for follow-ups with no records planned
    assert len(reads) == len(spec.objects) - len(spec.follow_ups)
    assert all("CreatedDate" not in b for b in org.bodies)
    assert org.v2[("Account", ACC1)]["CreatedDate"] == CREATED  # kept from the create
    assert {i.code for i in outcome.issues} == {"CREATED_DATE_NOT_SET"}
    assert [r.action for r in outcome.records] == ["updated", "updated"]


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_a_first_attempt_meeting_its_account_in_v2_keeps_the_new_contacts_date(
    spec: MappingSpec, strategy: str
) -> None:
    """An earlier call created the Account and its answer was lost: the create meets
    DUPLICATE_VALUE, the Account is upserted without its date, the Contact still created with
    it, and the Account's ledger row is uncertain (maybe ours)."""
    org = FakeGraphOrg()
    org.v2[("Account", ACC1)] = {"Name": "there already", "CreatedDate": "2019-01-01"}
    (outcome,) = await _pipeline(spec, org, strategy).migrate([MigrationRequest(ACC1, "c", 1)])
    assert outcome.status == CustomerStatus.COMPLETED, outcome.issues
    assert org.v2[("Account", ACC1)]["CreatedDate"] == "2019-01-01"
    assert org.v2[("Contact", _contact_id())]["CreatedDate"] == CREATED
    actions = {r.object: r.action for r in outcome.records}
    assert actions == {"Account": "uncertain", "Contact": "created"}
    assert [(i.code, i.object) for i in outcome.issues] == [("CREATED_DATE_NOT_SET", "Account")]


async def test_a_batch_of_customers_already_in_v2_completes_in_a_few_rounds(
    spec: MappingSpec,
) -> None:
    """150 customers whose records V2 holds, on a first attempt (the table was lost): each
    graph fails once on DUPLICATE_VALUE, the customers are read and sent again as upserts."""
    accounts = [_dated_account(f"001A{n:011d}AAA") for n in range(150)]
    org = FakeGraphOrg()
    first = _pipeline(spec, org, "graph", *accounts)
    await first.migrate([MigrationRequest(a["Id"], "c", 1) for a in accounts])
    org.graph_calls.clear()
    again = _pipeline(spec, org, "graph", *accounts)
    outcomes = await again.migrate([MigrationRequest(a["Id"], "c", 1) for a in accounts])
    assert {o.status for o in outcomes} == {CustomerStatus.COMPLETED}
    assert len(org.graph_calls) <= 2 * (150 // 14 + 2), org.graph_calls


# the conflict guard ---------------------------------------------------------------------------
AGENT = "005000000000009AAA"


async def _edited_by_an_agent(spec: MappingSpec, strategy: str, policy: str):
    org = FakeGraphOrg()
    await _pipeline(spec, org, strategy).migrate([MigrationRequest(ACC1, "c", 1)])
    org.last_modified_by[("Contact", _contact_id())] = AGENT
    org.v2[("Contact", _contact_id())]["LastName"] = "Edited-by-agent"
    guarded = replace(spec, on_conflict=policy)
    org.bodies.clear()
    (outcome,) = await _pipeline(guarded, org, strategy).migrate([MigrationRequest(ACC1, "c", 2)])
    return org, outcome


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_keep_v2_leaves_an_agents_edit_and_names_who(spec, strategy) -> None:
    org, outcome = await _edited_by_an_agent(spec, strategy, "keep_v2")
    assert outcome.status == CustomerStatus.COMPLETED
    assert org.v2[("Contact", _contact_id())]["LastName"] == "Edited-by-agent"
    (conflict,) = [i for i in outcome.issues if i.code == "CONFLICT"]
    assert conflict.severity == "warning" and conflict.object == "Contact"
    assert "someone" in conflict.message and "V2's version kept" in conflict.message
    assert "CREATED_DATE_NOT_SET" not in {  # nothing was sent for the kept Contact
        i.code for i in outcome.issues if i.object == "Contact"
    }
    assert [r.object for r in outcome.records] == ["Account"]  # the Contact was not written
    assert outcome.counts["Contact"] == 1


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_overwrite_writes_over_the_edit_and_says_so(spec, strategy) -> None:
    org, outcome = await _edited_by_an_agent(spec, strategy, "overwrite")
    assert outcome.status == CustomerStatus.COMPLETED
    assert org.v2[("Contact", _contact_id())]["LastName"] == "Smith"
    (conflict,) = [i for i in outcome.issues if i.code == "CONFLICT"]
    assert "written over it (on_conflict: overwrite)" in conflict.message


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_fail_customer_writes_nothing_of_the_customer(spec, strategy) -> None:
    org, outcome = await _edited_by_an_agent(spec, strategy, "fail_customer")
    assert outcome.status == CustomerStatus.FAILED
    assert "CONFLICT" in [i.code for i in outcome.issues if i.severity == "error"]
    assert org.bodies == [] and outcome.records == []
