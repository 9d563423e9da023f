"""The delta re-sync against fake orgs and a fake audit: which calls it makes (one queryAll per
object, never per customer), and what it records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from migration_app.audit import resync_queries
from migration_app.migration.spec import load_mapping
from migration_app.resync.execution import (
    apply_deletions,
    decide_deletions,
    find_changes,
    record,
)
from migration_app.resync.plan import (
    DELETE,
    DELETE_FAILED,
    DELETED_IN_V2,
    KEEP_EDITED,
    KEEP_REPORTED,
    REPORT,
    RESYNC_ACTION,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ACC1, ACC2, ACC3 = "0011S0000000001AAA", "0011S0000000002AAA", "0011S0000000003AAA"
INTEGRATION = "0051S0000000001AAA"


def stamp(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class FakeOrg:
    def __init__(self, answers: dict[str, list[dict[str, Any]]]) -> None:
        self.answers = answers  # FROM <object> -> rows
        self.queries: list[tuple[str, bool]] = []
        self.deleted: list[list[str]] = []
        self.refuse: set[str] = set()

    async def query_all(self, soql: str, *, include_deleted: bool = False) -> list[dict]:
        self.queries.append((soql, include_deleted))
        if soql.startswith("SELECT Id FROM User"):
            return [{"Id": INTEGRATION}]
        obj = soql.split(" FROM ")[1].split()[0]
        return self.answers.get(obj, [])

    async def delete_collection(self, ids: list[str]) -> list[dict]:
        self.deleted.append(list(ids))
        return [
            {
                "id": i,
                "success": False,
                "errors": [{"statusCode": "DELETE_FAILED", "message": "no"}],
            }
            if i in self.refuse
            else {"id": i, "success": True, "errors": []}
            for i in ids
        ]


class FakeAudit:
    def __init__(self, runs: dict[str, tuple[float | None, str]], ledger: list[dict]) -> None:
        self.runs = runs  # customer -> (started_at seconds of the last COMPLETED, latest status)
        self.ledger = ledger
        self.queued: dict[str, datetime] = {}
        self.actions: list[dict] = []
        self.ledger_written: list[dict] = []
        self.baseline_lookups: list[list[str]] = []

    async def fetch(self, sql: str, params: dict | None = None) -> list[dict]:
        if sql is resync_queries._MIGRATED_SUMMARY:
            migrated = [s for s, status in self.runs.values() if s is not None]
            earliest = T0 + timedelta(seconds=min(migrated)) if migrated else None
            return [{"customers": len(migrated), "earliest": earliest}]
        if sql is resync_queries._BASELINES:
            assert params is not None
            self.baseline_lookups.append(params["ids"])
            return [
                {
                    "customer_id": cid,
                    "since": T0 + timedelta(seconds=s) if s is not None else None,
                    "completed_at": None,
                    "latest_status": status,
                }
                for cid, (s, status) in self.runs.items()
                if cid in params["ids"]
            ]
        if sql is resync_queries._RECENT_RESYNCS:
            assert params is not None
            return [
                {"customer_id": c, "at": at} for c, at in self.queued.items() if c in params["ids"]
            ]
        if sql is resync_queries._RECORD_DELETED:
            assert params is not None
            rows = json.loads(params["rows"])
            self.ledger_written += rows
            return [{"id": n} for n in range(len(rows))]
        raise AssertionError(sql)

    async def execute(self, sql: str, params: dict | None = None) -> None:
        assert sql is resync_queries._RECORD_ACTIONS and params is not None
        self.actions += [{**row, "actor": params["actor"]} for row in json.loads(params["rows"])]

    async def ledger_for(self, customer_ids: list[str]) -> list[dict]:
        return [row for row in self.ledger if row["customer_id"] in customer_ids]


@pytest.fixture
def spec():
    return load_mapping()


def v1() -> FakeOrg:
    return FakeOrg(
        {
            "Account": [{"Id": ACC2, "SystemModstamp": stamp(30), "IsDeleted": False}],
            "Contact": [
                {
                    "Id": "0031S01",
                    "AccountId": ACC1,
                    "SystemModstamp": stamp(15),
                    "IsDeleted": True,
                },
                {
                    "Id": "0031S02",
                    "AccountId": ACC1,
                    "SystemModstamp": stamp(16),
                    "IsDeleted": True,
                },
                {
                    "Id": "0031S03",
                    "AccountId": ACC3,
                    "SystemModstamp": stamp(40),
                    "IsDeleted": False,
                },
            ],
        }
    )


def audit() -> FakeAudit:
    ledger = [
        {
            "customer_id": ACC1,
            "object": "Contact",
            "legacy_id": "0031S01",
            "v2_id": "0032S0000000001AAA",
            "action": "created",
        },
        {
            "customer_id": ACC1,
            "object": "Contact",
            "legacy_id": "0031S02",
            "v2_id": "0032S0000000002AAA",
            "action": "created",
        },
    ]
    return FakeAudit(
        {ACC1: (10, "COMPLETED"), ACC2: (20, "COMPLETED"), ACC3: (None, "FAILED")}, ledger
    )


async def test_finding_costs_one_query_all_per_object_whatever_the_customers(spec) -> None:
    source, store = v1(), audit()
    found = await find_changes(spec, source, store)  # type: ignore[arg-type]
    assert found.checked_customers == 2
    assert found.query_since == T0 + timedelta(seconds=10)
    assert len(source.queries) == len(spec.objects)  # e-mails and tasks: none changed here
    assert all(include_deleted for _, include_deleted in source.queries)
    assert all("SystemModstamp > 2026-12-01T12:00:10Z" in soql for soql, _ in source.queries)
    assert found.plan.to_enqueue == [ACC1, ACC2]
    assert list(found.plan.not_migrated) == [ACC3]
    assert store.baseline_lookups == [[ACC2, ACC2[:15], ACC1, ACC1[:15], ACC3, ACC3[:15]]]


async def test_nobody_migrated_means_no_query(spec) -> None:
    source = v1()
    found = await find_changes(spec, source, FakeAudit({}, []))  # type: ignore[arg-type]
    assert found.checked_customers == 0 and found.query_since is None
    assert source.queries == [] and found.plan.customers == []


async def test_report_policy_keeps_v2_and_reads_no_v2(spec) -> None:
    source, store, target = v1(), audit(), FakeOrg({})
    found = await find_changes(spec, source, store)  # type: ignore[arg-type]
    deletions = await decide_deletions(
        spec,
        found.plan,
        store,
        target,
        policy=REPORT,
        integration_username="x",  # type: ignore[arg-type]
    )
    assert [d.decision for d in deletions] == [KEEP_REPORTED, KEEP_REPORTED]
    assert target.queries == []


async def test_delete_policy_deletes_ours_keeps_edited_and_records_both(spec) -> None:
    source, store = v1(), audit()
    target = FakeOrg(
        {
            "Contact": [
                {"Id": "0032S0000000001AAA", "LastModifiedById": INTEGRATION},
                {"Id": "0032S0000000002AAA", "LastModifiedById": "0051S0000000009AAA"},
            ]
        }
    )
    found = await find_changes(spec, source, store)  # type: ignore[arg-type]
    deletions = await decide_deletions(
        spec,
        found.plan,
        store,
        target,
        policy=DELETE,
        integration_username="migration@v2",  # type: ignore[arg-type]
    )
    assert len(target.queries) == 2  # the integration user's Id, then one Contact query
    await apply_deletions(spec, deletions, target)  # type: ignore[arg-type]
    assert target.deleted == [["0032S0000000001AAA"]]
    assert [d.decision for d in deletions] == [DELETED_IN_V2, KEEP_EDITED]
    written = await record(store, found.plan, deletions, [ACC1, ACC2], actor="resync")  # type: ignore[arg-type]
    assert written == 1
    assert store.ledger_written == [
        {
            "customer_id": ACC1,
            "object": "Contact",
            "legacy_id": "0031S01",
            "v2_id": "0032S0000000001AAA",
        }
    ]
    outcomes = [(a["action"], a["customer_id"], a["outcome"]) for a in store.actions]
    assert outcomes == [
        (RESYNC_ACTION, ACC1, "enqueued"),
        (RESYNC_ACTION, ACC2, "enqueued"),
        ("resync: deleted in V1", ACC1, "deleted"),
        ("resync: deleted in V1", ACC1, "warning"),
    ]
    assert "Contact 0031S02 deleted in V1" in store.actions[3]["detail"]
    # the next resync soon after: both customers wait for their re-migration
    store.queued = {ACC1: T0 + timedelta(seconds=100), ACC2: T0 + timedelta(seconds=100)}
    again = await find_changes(spec, v1(), store)  # type: ignore[arg-type]
    assert again.plan.to_enqueue == [] and len(again.plan.queued) == 2


async def test_a_refused_delete_is_a_failure_with_its_code(spec) -> None:
    source, store = v1(), audit()
    target = FakeOrg(
        {
            "Contact": [
                {"Id": f"0032S000000000{n}AAA", "LastModifiedById": INTEGRATION} for n in "12"
            ]
        }
    )
    target.refuse = {"0032S0000000002AAA"}
    found = await find_changes(spec, source, store)  # type: ignore[arg-type]
    deletions = await decide_deletions(
        spec,
        found.plan,
        store,
        target,
        policy=DELETE,
        integration_username="migration@v2",  # type: ignore[arg-type]
    )
    await apply_deletions(spec, deletions, target)  # type: ignore[arg-type]
    assert [d.decision for d in deletions] == [DELETED_IN_V2, DELETE_FAILED]
    assert deletions[1].detail == "DELETE_FAILED: no"


async def test_a_customer_whose_enqueue_failed_is_not_marked_handled(spec) -> None:
    source, store = v1(), audit()
    found = await find_changes(spec, source, store)  # type: ignore[arg-type]
    await record(store, found.plan, [], [ACC2], actor="resync")  # type: ignore[arg-type]
    assert [(a["customer_id"], a["outcome"]) for a in store.actions] == [(ACC2, "enqueued")]
