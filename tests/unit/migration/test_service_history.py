"""E-mails, tasks and hierarchies in the pure domain: the mapping's follow-up extracts and
polymorphic references (spec), the follow-up queries and where their rows go (extract_plan),
the transform's polymorphic payloads and drops, and references across customers
(cross_references)."""

from __future__ import annotations

from typing import Any

import pytest

from migration_app.migration.cross_references import CrossReference, split
from migration_app.migration.customer_transform import transform_customer
from migration_app.migration.extract_plan import (
    IDS_PER_QUERY,
    attach,
    file_entities,
    file_link_queries,
    follow_up_key,
    follow_up_queries,
    parent_owners,
    waves,
)
from migration_app.migration.spec import MappingError, MappingSpec, parse_mapping
from migration_app.migration.v2_state import state_queries

ACC = "001000000000001AAA"
ACC2 = "001000000000002AAA"
CON = "003000000000001AAA"
CASE = "500000000000001AAA"
CASE2 = "500000000000002AAA"
MAIL = "02s000000000001AAA"
TASK = "00T000000000001AAA"

MAPPING = """
version: 1
objects:
  - source: Account
    target: Account
    external_id: Legacy_Id__c
    references:
      - {source: ParentId, relationship: Parent, parent: Account, across_customers: true}
    fields: [{source: Name, target: Name}]
  - source: Contact
    target: Contact
    child_relationship: Contacts
    external_id: Legacy_Id__c
    references: [{source: AccountId, relationship: Account, parent: Account, required: true}]
    fields: [{source: LastName, target: LastName}]
  - source: Case
    target: Case
    child_relationship: Cases
    external_id: Legacy_Id__c
    references: [{source: AccountId, relationship: Account, parent: Account, required: true}]
    fields: [{source: Subject, target: Subject}]
  - source: EmailMessage
    target: EmailMessage
    extract_by: {field: ParentId, parents: [Case]}
    external_id: Legacy_Id__c
    references: [{source: ParentId, relationship: Parent, parent: Case, required: true}]
    fields: [{source: Subject, target: Subject}]
  - source: Task
    target: Task
    extract_by: {field: WhatId, parents: [Account, Case]}
    external_id: Legacy_Id__c
    references:
      - {source: WhatId, relationship: What, parent: [Account, Case], required: true}
      - {source: WhoId, relationship: Who, parent: [Contact]}
    fields: [{source: Subject, target: Subject}]
"""


@pytest.fixture(scope="module")
def spec() -> MappingSpec:
    return parse_mapping(MAPPING)


def sub(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"totalSize": len(records), "done": True, "records": records}


def root(
    account_id: str = ACC, cases: list[str] = (CASE,), parent: str | None = None
) -> dict[str, Any]:
    return {
        "Id": account_id,
        "Name": "Acme Ltd",
        "ParentId": parent,
        "Contacts": sub([{"Id": CON, "AccountId": account_id, "LastName": "Lovelace"}]),
        "Cases": sub([{"Id": c, "AccountId": account_id, "Subject": "Bill"} for c in cases]),
    }


# spec -------------------------------------------------------------------------------------------
def test_the_mapping_expresses_follow_ups_polymorphism_and_across_customers(
    spec: MappingSpec,
) -> None:
    assert [o.source for o in spec.children] == ["Contact", "Case"]
    assert [o.source for o in spec.follow_ups] == ["EmailMessage", "Task"]
    what = spec.object("Task").references[0]
    assert what.polymorphic and what.allowed_parents == ("Account", "Case")
    assert what.v2_id_field == "WhatId"
    parent = spec.root.references[0]
    assert parent.across_customers and not parent.polymorphic
    # the root extract has no subquery for follow-ups, and reads ParentId
    soql = spec.extract_soql([ACC])
    assert "ParentId" in soql and "EmailMessage" not in soql and "Task" not in soql
    # load waves: EmailMessage and Task after Case (a cross-customer reference adds none)
    assert [spec.level(o.source) for o in spec] == [0, 1, 1, 2, 2]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    extract_by: {field: ParentId, parents: [Case]}\n", "", "EmailMessage: child_rel"),
        ("parents: [Case]}", "parents: [Meter__c]}", "parent 'Meter__c' must be a mapped"),
        ("parent: [Account, Case], required", "parent: [Account, Nope], required", "'Nope'"),
        (
            "parent: Account, across_customers: true",
            "parent: [Account], across_customers: true",
            "cannot be polymorphic",
        ),
        (
            "{source: ParentId, relationship: Parent, parent: Account, across_customers: true}",
            "{source: ParentId, relationship: Parent, parent: Account}",
            "only have references across customers",
        ),
    ],
)
def test_mapping_errors_name_the_object(old: str, new: str, message: str) -> None:
    assert old in MAPPING
    with pytest.raises(MappingError, match=message):
        parse_mapping(MAPPING.replace(old, new, 1))


# extract plan ----------------------------------------------------------------------------------
def test_a_small_batch_reads_follow_ups_by_their_parents_ids(spec: MappingSpec) -> None:
    roots = {ACC[:15]: root(), ACC2[:15]: root(ACC2, cases=[CASE2])}
    (wave,) = waves(spec)
    assert [o.source for o in wave] == ["EmailMessage", "Task"]
    mail, task = wave
    owners = parent_owners(spec, mail, roots)
    assert owners == {CASE[:15]: ACC[:15], CASE2[:15]: ACC2[:15]}
    (soql,) = follow_up_queries(spec, mail, roots)
    assert soql == (
        f"SELECT Id, Subject, ParentId FROM EmailMessage WHERE ParentId IN ('{CASE}','{CASE2}')"
    )
    (task_soql,) = follow_up_queries(spec, task, roots)  # both parents' ids in one list
    assert task_soql == (
        "SELECT Id, Subject, WhatId, WhoId FROM Task WHERE WhatId IN "
        f"('{ACC}','{ACC2}','{CASE}','{CASE2}')"
    )


def test_a_full_batch_reads_follow_ups_through_the_root(spec: MappingSpec) -> None:
    """200 customers with 3 Cases each: 600 Case ids would take 3 queries, 800 Account and
    Case ids 4; through the root it is one query per parent."""
    roots = {
        f"001{n:012d}": root(f"001{n:012d}", cases=[f"500{n:09d}{k:03d}" for k in range(3)])
        for n in range(IDS_PER_QUERY)
    }
    in_roots = ",".join(f"'001{n:012d}'" for n in range(IDS_PER_QUERY))
    (soql,) = follow_up_queries(spec, spec.object("EmailMessage"), roots)
    assert soql == (
        "SELECT Id, Subject, ParentId FROM EmailMessage WHERE ParentId IN "
        f"(SELECT Id FROM Case WHERE AccountId IN ({in_roots}))"
    )
    by_account, by_case = follow_up_queries(spec, spec.object("Task"), roots)
    select = "SELECT Id, Subject, WhatId, WhoId FROM Task WHERE "
    assert by_account == select + f"WhatId IN ({in_roots})"
    # Salesforce refuses a semi-join under OR: the Case parent is a query of its own
    assert by_case == select + f"WhatId IN (SELECT Id FROM Case WHERE AccountId IN ({in_roots}))"


def test_follow_up_queries_skip_absent_parents_and_check_ids(spec: MappingSpec) -> None:
    mail, task = spec.object("EmailMessage"), spec.object("Task")
    many = {f"001{n:012d}": root(f"001{n:012d}", cases=[]) for n in range(IDS_PER_QUERY + 1)}
    assert follow_up_queries(spec, mail, many) == []  # no Case in the batch: nothing to ask
    assert len(follow_up_queries(spec, task, many)) == 2  # chunked, never per record
    assert follow_up_queries(spec, mail, {}) == []
    with pytest.raises(ValueError, match="not a Salesforce id"):
        follow_up_queries(spec, task, {"x": root("x' OR Id != '")})


def test_file_links_are_read_per_linked_object_through_the_root(spec: MappingSpec) -> None:
    class Plan:
        def __init__(self, account: str, cases: list[str]) -> None:
            self.records_by_object = {
                "Account": [{"Legacy_Id__c": account}],
                "Case": [{"Legacy_Id__c": c} for c in cases],
            }

    plans = {"a": Plan(ACC, [CASE]), "b": Plan(ACC2, [CASE2])}
    entities = file_entities(spec, ["Account", "Case"], plans)
    assert entities[CASE][0] == "a" and entities[ACC2][0] == "b"
    select = "SELECT ContentDocumentId, LinkedEntityId FROM ContentDocumentLink WHERE "
    assert file_link_queries(spec, plans, entities) == [
        select + f"LinkedEntityId IN ('{ACC}','{ACC2}','{CASE}','{CASE2}')"
    ]
    full = {
        f"001{n:012d}": Plan(f"001{n:012d}", [f"500{n:09d}{k:03d}" for k in range(3)])
        for n in range(IDS_PER_QUERY)
    }
    by_account, by_case = file_link_queries(
        spec, full, file_entities(spec, ["Account", "Case"], full)
    )
    assert by_account.startswith(select + "LinkedEntityId IN ('001")
    assert by_case.startswith(select + "LinkedEntityId IN (SELECT Id FROM Case WHERE AccountId")


def test_rows_are_attached_to_the_customer_owning_their_parent(spec: MappingSpec) -> None:
    roots = {ACC[:15]: root(), ACC2[:15]: root(ACC2, cases=[CASE2])}
    mail = spec.object("EmailMessage")
    owners = parent_owners(spec, mail, roots)
    rows = [
        {"Id": MAIL, "ParentId": CASE2, "Subject": "Re: bill"},
        {"Id": MAIL, "ParentId": CASE2, "Subject": "Re: bill"},  # a page repeated: once
    ]
    attach(mail, roots, owners, rows)
    assert roots[ACC2[:15]][follow_up_key(mail)]["records"] == rows[:1]
    assert roots[ACC[:15]][follow_up_key(mail)] == {"totalSize": 0, "done": True, "records": []}


# transform -------------------------------------------------------------------------------------
def with_follow_ups(spec: MappingSpec, record: dict[str, Any], mails: list, tasks: list) -> dict:
    record[follow_up_key(spec.object("EmailMessage"))] = sub(mails)
    record[follow_up_key(spec.object("Task"))] = sub(tasks)
    return record


def test_emails_and_tasks_reference_their_targets_with_the_type_named(spec: MappingSpec) -> None:
    record = with_follow_ups(
        spec,
        root(),
        [{"Id": MAIL, "ParentId": CASE, "Subject": "Re: bill"}],
        [
            {"Id": TASK, "WhatId": CASE, "WhoId": CON, "Subject": "Call back"},
            {"Id": "00T000000000002AAA", "WhatId": ACC, "WhoId": None, "Subject": "Review"},
        ],
    )
    plan = transform_customer(spec, record)
    assert plan.issues == []
    (mail,) = plan.records_by_object["EmailMessage"]
    assert mail["Parent"] == {"Legacy_Id__c": CASE}  # an ordinary lookup: no type
    on_case, on_account = plan.records_by_object["Task"]
    assert on_case["What"] == {"attributes": {"type": "Case"}, "Legacy_Id__c": CASE}
    assert on_case["Who"] == {"attributes": {"type": "Contact"}, "Legacy_Id__c": CON}
    assert on_account["What"] == {"attributes": {"type": "Account"}, "Legacy_Id__c": ACC}
    assert "Who" not in on_account


def test_a_reference_to_a_type_not_allowed_or_outside_the_customer_is_dropped_or_rejects(
    spec: MappingSpec,
) -> None:
    record = with_follow_ups(
        spec,
        root(),
        [],
        [
            # WhatId at a Contact: a type the mapping does not allow -> required: rejected
            {"Id": TASK, "WhatId": CON, "WhoId": None, "Subject": "x"},
            # WhoId at a Case: not allowed, optional -> dropped, the task kept
            {"Id": "00T000000000002AAA", "WhatId": CASE, "WhoId": CASE, "Subject": "y"},
            # WhatId at another customer's case -> rejected
            {"Id": "00T000000000003AAA", "WhatId": CASE2, "WhoId": None, "Subject": "z"},
        ],
    )
    plan = transform_customer(spec, record)
    found = [(i.severity, i.legacy_id, i.field, i.code) for i in plan.issues]
    assert found == [
        ("error", TASK, "WhatId", "REFERENCE_DROPPED"),
        ("warning", "00T000000000002AAA", "WhoId", "REFERENCE_DROPPED"),
        ("error", "00T000000000003AAA", "WhatId", "REFERENCE_DROPPED"),
    ]
    assert "a Contact, a type this field does not allow" in plan.issues[0].message
    assert "not in this customer" in plan.issues[2].message
    (kept,) = plan.records_by_object["Task"]
    assert kept["Legacy_Id__c"] == "00T000000000002AAA" and "Who" not in kept
    assert plan.rejected["Task"] == 2


def test_a_parent_account_of_another_customer_is_a_cross_reference_not_a_payload_field(
    spec: MappingSpec,
) -> None:
    plan = transform_customer(spec, root(parent=ACC2))
    (account,) = plan.records_by_object["Account"]
    assert "Parent" not in account
    (ref,) = plan.cross_references
    assert (ref.customer_id, ref.legacy_id, ref.relationship, ref.parent_legacy_id) == (
        ACC,
        ACC,
        "Parent",
        ACC2,
    )
    assert ref.value() == {"Legacy_Id__c": ACC2}
    assert ref.fill_record() == {
        "attributes": {"type": "Account"},
        "Legacy_Id__c": ACC,
        "Parent": {"Legacy_Id__c": ACC2},
    }
    # its own parent: dropped with a warning
    itself = transform_customer(spec, root(parent=ACC))
    assert itself.cross_references == [] and itself.issues[0].code == "REFERENCE_DROPPED"


def ref(parent: str, child: str = ACC) -> CrossReference:
    return CrossReference(
        child, "Account", "Account", child, "Legacy_Id__c", "ParentId", "Parent", "Account",
        parent, "Legacy_Id__c",
    )  # fmt: skip


def test_split_writes_migrated_parents_and_leaves_the_others_pending() -> None:
    a, b = ref(ACC2), ref("001000000000003AAA", child="001000000000004AAA")
    now, pending = split([a, b], {ACC2[:15]})  # the ledger may hold 15 or 18 characters
    assert now == [a] and pending == [b]
    assert split([a, b], set()) == ([], [a, b])


def test_a_cycle_never_waits_on_itself() -> None:
    """A -> B -> A: A first (B not migrated): pending; B then (A migrated): written directly;
    B completing fills A's pending reference."""
    a_to_b, b_to_a = ref(ACC2, child=ACC), ref(ACC, child=ACC2)
    assert split([a_to_b], set()) == ([], [a_to_b])
    assert split([b_to_a], {ACC}) == ([b_to_a], [])


# v2 state --------------------------------------------------------------------------------------
def test_follow_up_objects_are_read_from_v2_by_their_own_external_ids(spec: MappingSpec) -> None:
    queries = dict(state_queries(spec, [ACC], {"EmailMessage": [MAIL], "Task": []}))
    assert "WHERE Legacy_Id__c IN ('" + MAIL + "')" in queries["EmailMessage"]
    assert "Task" not in queries  # nothing planned: no query
    assert "WHERE Account.Legacy_Id__c IN" in queries["Case"]
