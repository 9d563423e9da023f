"""The delta re-sync's plan (pure): the change queries, which customers changed after their own
baseline, and what a record deleted in V1 does to V2."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from migration_app.migration.spec import MappingSpec, ReferenceMap, load_mapping
from migration_app.migration.v2_state import V2Record
from migration_app.resync.plan import (
    ALREADY_DELETED,
    DELETED,
    GONE_FROM_V2,
    KEEP_EDITED,
    KEEP_NO_USER,
    KEEP_NOT_CREATED,
    MODIFIED,
    NOT_IN_LEDGER,
    WOULD_DELETE,
    Baseline,
    ChangedRecord,
    CustomerResync,
    Deletion,
    baseline_ids,
    change_queries,
    changed_records,
    check_queries,
    deletion_order,
    judge_deletions,
    owner_queries,
    owners_of,
    parse_check_rows,
    parse_datetime,
    plan_deletions,
    plan_resync,
    soql_datetime,
    unchecked_objects,
)

T0 = datetime(2026, 12, 1, 12, 0, 0, 500_000, tzinfo=UTC)
ACC1, ACC2, ACC3 = "0011S0000000001AAA", "0011S0000000002AAA", "0011S0000000003AAA"
INTEGRATION = "0051S0000000001AAA"
AGENT = "0051S0000000009AAA"


@pytest.fixture(scope="module")
def spec() -> MappingSpec:
    return load_mapping()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def change(obj: str, v1_id: str, customer: str, seconds: float, kind: str = MODIFIED):
    return ChangedRecord(obj, v1_id, customer, kind, at(seconds))


def test_one_query_all_per_mapped_object_reads_the_lookup_to_the_customer(spec) -> None:
    queries = change_queries(spec, T0)
    assert [(obj.source, soql) for obj, soql in queries[:4]] == [
        (
            "Account",
            "SELECT Id, SystemModstamp, IsDeleted FROM Account "
            "WHERE SystemModstamp > 2026-12-01T12:00:00Z",
        ),
        (
            "Contact",
            "SELECT Id, AccountId, SystemModstamp, IsDeleted FROM Contact "
            "WHERE SystemModstamp > 2026-12-01T12:00:00Z",
        ),
        (
            "Case",
            "SELECT Id, AccountId, SystemModstamp, IsDeleted FROM Case "
            "WHERE SystemModstamp > 2026-12-01T12:00:00Z",
        ),
        (
            "Meter__c",
            "SELECT Id, Account__c, SystemModstamp, IsDeleted FROM Meter__c "
            "WHERE SystemModstamp > 2026-12-01T12:00:00Z",
        ),
    ]
    # e-mails and tasks hang off a Case or a polymorphic WhatId: their parent, and its type
    assert [soql for obj, soql in queries[4:]] == [
        "SELECT Id, ParentId, SystemModstamp, IsDeleted FROM EmailMessage "
        "WHERE SystemModstamp > 2026-12-01T12:00:00Z",
        "SELECT Id, WhatId, What.Type, SystemModstamp, IsDeleted FROM Task "
        "WHERE SystemModstamp > 2026-12-01T12:00:00Z",
    ]
    assert unchecked_objects(spec) == []


def test_an_object_without_a_lookup_to_the_root_is_named_not_queried(spec) -> None:
    case = spec.object("Case")
    orphan = replace(case, references=(ReferenceMap("ContactId", "Contact", "Contact", "X"),))
    narrowed = MappingSpec(objects=tuple(orphan if o is case else o for o in spec.objects))
    assert "Case" not in [obj.source for obj, _ in change_queries(narrowed, T0)]
    # e-mails and tasks on Cases can no longer be traced to a customer either
    assert unchecked_objects(narrowed) == ["Case", "EmailMessage", "Task"]


def test_datetimes_are_floored_to_the_second_in_utc_and_parsed_in_salesforce_format() -> None:
    assert soql_datetime(datetime(2026, 12, 1, 13, 0, 5, 999_000)) == "2026-12-01T13:00:05Z"
    plus_one = datetime(2026, 12, 1, 14, 0, 5, tzinfo=UTC).astimezone().replace(microsecond=1)
    assert soql_datetime(plus_one) == "2026-12-01T14:00:05Z"
    assert parse_datetime("2026-12-03T15:40:01.123+0000") == datetime(
        2026, 12, 3, 15, 40, 1, 123_000, tzinfo=UTC
    )
    assert parse_datetime("2026-12-03T15:40:01") == datetime(2026, 12, 3, 15, 40, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_datetime("yesterday")


def test_rows_become_changes_of_their_customer_and_orphans_are_dropped(spec) -> None:
    contact, account = spec.object("Contact"), spec.object("Account")
    rows = [
        {
            "Id": "0031S0000000001AAA",
            "AccountId": ACC1,
            "SystemModstamp": "2026-12-01T12:00:01.000+0000",
            "IsDeleted": False,
        },
        {
            "Id": "0031S0000000002AAA",
            "AccountId": ACC1,
            "SystemModstamp": "2026-12-01T12:00:02.000+0000",
            "IsDeleted": True,
        },
        {
            "Id": "0031S0000000003AAA",
            "AccountId": None,
            "SystemModstamp": "2026-12-01T12:00:03.000+0000",
            "IsDeleted": False,
        },
    ]
    accounts = [{"Id": ACC2, "SystemModstamp": "2026-12-01T12:00:04.000+0000", "IsDeleted": False}]
    found = changed_records(spec, [(contact, rows), (account, accounts)])
    assert [(c.object, c.v1_id, c.customer_id, c.change) for c in found] == [
        ("Contact", "0031S0000000001AAA", ACC1, MODIFIED),
        ("Contact", "0031S0000000002AAA", ACC1, DELETED),
        ("Account", ACC2, ACC2, MODIFIED),
    ]
    assert baseline_ids(found) == [ACC1, ACC1[:15], ACC2, ACC2[:15]]


def test_emails_and_tasks_belong_to_the_customer_of_their_parent(spec) -> None:
    mail, task = spec.object("EmailMessage"), spec.object("Task")
    case1, case2 = "5001S0000000001AAA", "5001S0000000002AAA"
    stamp = "2026-12-01T12:00:05.000+0000"
    mails = [{"Id": "02s1S0000000001AAA", "ParentId": case1, "SystemModstamp": stamp}]
    tasks = [
        {"Id": "00T1S0000000001AAA", "WhatId": ACC2, "What": {"Type": "Account"},
         "SystemModstamp": stamp, "IsDeleted": True},
        {"Id": "00T1S0000000002AAA", "WhatId": case2, "What": {"Type": "Case"},
         "SystemModstamp": stamp},
        {"Id": "00T1S0000000003AAA", "WhatId": None, "What": None, "SystemModstamp": stamp},
    ]  # fmt: skip
    answers = [(mail, mails), (task, tasks)]
    ((lookup, soql),) = owner_queries(spec, answers)  # one query for both Cases
    assert (lookup, soql) == ("AccountId", f"SELECT Id, AccountId FROM Case WHERE Id IN "
                                           f"('{case1}','{case2}')")  # fmt: skip
    owners = owners_of([(lookup, [{"Id": case1, "AccountId": ACC1}])])  # case2: not found
    found = changed_records(spec, answers, owners)
    assert [(c.object, c.v1_id, c.customer_id, c.change) for c in found] == [
        ("EmailMessage", "02s1S0000000001AAA", ACC1, MODIFIED),
        ("Task", "00T1S0000000001AAA", ACC2, DELETED),
    ]


def test_each_customer_is_judged_against_its_own_last_completed_start() -> None:
    changes = [
        change("Contact", "0031S0000000001AAA", ACC1, 10),  # after ACC1's baseline (5)
        change("Case", "5001S0000000001AAA", ACC1, 3),  # before it: migrated already
        change("Contact", "0031S0000000002AAA", ACC2, 10),  # before ACC2's baseline (20)
        change("Account", ACC3, ACC3, 10),  # ACC3 never COMPLETED
    ]
    baselines = [
        Baseline(ACC1, at(5), "COMPLETED"),
        Baseline(ACC2, at(20), "COMPLETED"),
        Baseline(ACC3, None, "FAILED"),
    ]
    plan = plan_resync(changes, baselines)
    assert [(c.customer_id, [r.v1_id for r in c.changes]) for c in plan.customers] == [
        (ACC1, ["0031S0000000001AAA"])
    ]
    assert plan.to_enqueue == [ACC1]
    assert list(plan.not_migrated) == [ACC3]


def test_since_replaces_every_baseline() -> None:
    changes = [change("Contact", "0031S0000000001AAA", ACC1, 3)]
    baselines = [Baseline(ACC1, at(5), "COMPLETED")]
    assert plan_resync(changes, baselines).customers == []
    plan = plan_resync(changes, baselines, since=at(1))
    assert plan.to_enqueue == [ACC1] and plan.customers[0].since == at(1)


def test_a_rolled_back_customer_is_not_migrated_and_a_failed_retry_still_is() -> None:
    changes = [
        change("Contact", "0031S0000000001AAA", ACC1, 10),
        change("Contact", "0031S0000000002AAA", ACC2, 10),
    ]
    baselines = [Baseline(ACC1, at(5), "ROLLED_BACK"), Baseline(ACC2, at(5), "FAILED")]
    plan = plan_resync(changes, baselines)
    assert plan.to_enqueue == [ACC2]
    assert list(plan.not_migrated) == [ACC1]


def test_customers_match_by_the_first_15_characters_of_their_id() -> None:
    plan = plan_resync(
        [change("Contact", "0031S0000000001AAA", ACC1, 10)],
        [Baseline(ACC1[:15], at(5), "COMPLETED")],
    )
    assert plan.to_enqueue == [ACC1[:15]]  # the id the audit knows, as it was enqueued


def test_a_customer_an_earlier_resync_enqueued_waits_until_it_changes_again() -> None:
    changes = [
        change("Contact", "0031S0000000001AAA", ACC1, 10),
        change("Contact", "0031S0000000002AAA", ACC2, 10),
        change("Contact", "0031S0000000003AAA", ACC2, 30),  # after that resync
    ]
    baselines = [Baseline(ACC1, at(5), "COMPLETED"), Baseline(ACC2, at(5), "COMPLETED")]
    plan = plan_resync(changes, baselines, queued={ACC1: at(20), ACC2: at(20)})
    assert plan.to_enqueue == [ACC2]
    assert [c.customer_id for c in plan.queued] == [ACC1]
    assert plan.deleted_records() == []


def test_a_customer_deleted_in_v1_is_not_enqueued() -> None:
    changes = [
        change("Account", ACC1, ACC1, 10, DELETED),
        change("Contact", "0031S0000000001AAA", ACC1, 10, DELETED),
    ]
    plan = plan_resync(changes, [Baseline(ACC1, at(5), "COMPLETED")])
    (customer,) = plan.customers
    assert customer.root_deleted and not customer.enqueue
    assert plan.to_enqueue == []
    assert [r.v1_id for _, r in plan.deleted_records()] == [ACC1, "0031S0000000001AAA"]


def ledger_row(legacy: str, v2_id: str, action: str, obj: str = "Contact") -> dict:
    return {
        "customer_id": ACC1,
        "object": obj,
        "legacy_id": legacy,
        "v2_id": v2_id,
        "action": action,
    }


def test_only_what_this_project_created_may_be_deleted(spec) -> None:
    customer = CustomerResync(ACC1, at(5))
    gone = {key: change("Contact", f"0031S000000000{key}AAA", ACC1, 10, DELETED) for key in "12345"}
    ledger = [
        ledger_row(gone["1"].v1_id, "0032S0000000001AAA", "created"),
        ledger_row(gone["1"].v1_id, "0032S0000000001AAA", "updated"),  # re-migrated: still ours
        ledger_row(gone["2"].v1_id, "0032S0000000002AAA", "updated"),  # was in V2 before us
        ledger_row(gone["3"].v1_id, "0032S0000000003AAA", "uncertain"),
        ledger_row(gone["4"].v1_id, "0032S0000000004AAA", "created"),
        ledger_row(gone["4"].v1_id, "0032S0000000004AAA", "deleted"),
    ]
    deletions = plan_deletions(spec, [(customer, r) for r in gone.values()], ledger)
    assert [(d.v2_id, d.decision) for d in deletions] == [
        ("0032S0000000001AAA", WOULD_DELETE),
        ("0032S0000000002AAA", KEEP_NOT_CREATED),
        ("0032S0000000003AAA", KEEP_NOT_CREATED),
        ("0032S0000000004AAA", ALREADY_DELETED),
        (None, NOT_IN_LEDGER),
    ]
    assert all(d.target == "Contact" for d in deletions)


def deletion(v2_id: str, target: str = "Contact", v1_id: str = "0031S0000000001AAA") -> Deletion:
    return Deletion(ACC1, change(target, v1_id, ACC1, 10, DELETED), target, v2_id, WOULD_DELETE)


def test_who_changed_them_is_read_with_one_query_per_object_per_200_records() -> None:
    contacts = [deletion(f"0032S{n:010d}AAA") for n in range(250)]
    cases = [deletion("5002S0000000001AAA", "Case")]
    kept = Deletion(ACC1, contacts[0].record, "Contact", "0032S9999999999AAA", KEEP_NOT_CREATED)
    queries = check_queries([*contacts, *cases, kept])
    assert [(target, soql.count("'")) for target, soql in queries] == [
        ("Contact", 400),
        ("Contact", 100),
        ("Case", 2),
    ]
    assert "0032S9999999999AAA" not in " ".join(soql for _, soql in queries)
    assert queries[2][1] == (
        "SELECT Id, SystemModstamp, LastModifiedDate, LastModifiedById, LastModifiedBy.Username "
        "FROM Case WHERE Id IN ('5002S0000000001AAA')"
    )
    with pytest.raises(ValueError):
        check_queries([deletion("0032S' OR Name != '")])


def test_a_record_someone_changed_in_v2_since_our_write_is_kept() -> None:
    ours, edited, gone = (deletion(f"0032S000000000{n}AAA") for n in "123")
    rows = [
        {"Id": ours.v2_id, "LastModifiedById": INTEGRATION[:15], "SystemModstamp": "s1"},
        {
            "Id": edited.v2_id,
            "LastModifiedById": AGENT,
            "LastModifiedDate": "2026-12-02T09:00:00.000+0000",
            "LastModifiedBy": {"Username": "alice.archer@energy-v2.example"},
        },
    ]
    judge_deletions([ours, edited, gone], parse_check_rows(rows), INTEGRATION)
    assert ours.decision == WOULD_DELETE
    assert edited.decision == KEEP_EDITED
    assert edited.detail == "by alice.archer@energy-v2.example at 2026-12-02T09:00:00.000+0000"
    assert gone.decision == GONE_FROM_V2
    unknown = deletion("0032S0000000001AAA")
    judge_deletions([unknown], parse_check_rows(rows), None)
    assert unknown.decision == KEEP_NO_USER


def test_deletions_go_children_first(spec) -> None:
    account = deletion("0012S0000000001AAA", "Account", ACC1)
    contact = deletion("0032S0000000001AAA", "Contact")
    meter = deletion("a002S0000000001AAA", "Meter_Point__c", "a001S0000000001AAA")
    kept = replace(contact, decision=KEEP_EDITED)
    ordered = deletion_order(spec, [account, contact, meter, kept])
    assert [d.target for d in ordered] == ["Meter_Point__c", "Contact", "Account"]
    assert V2Record("x", None).changed_by_someone_else(INTEGRATION) is False
