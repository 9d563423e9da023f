"""The ``bulk`` load strategy (Bulk API 2.0) end to end, with a real worker, broker, registry,
PostgreSQL and sandbox: customers migrate to MATCH through ingest jobs; a customer with a
Contact V2 rejects is compensated (what the attempt created deleted) and FAILED, absent from V2;
a worker killed while a job runs leaves no duplicate and no lost customer.

Named to run after the other modules of this directory: they take customers from the shared pool
in file order, and some of them (test_cutover_e2e's CreatedDate check, test_files_e2e,
test_service_history_e2e) pass only with the customers they get when nothing runs before them
(e.g. the cutover test assumes every V1 Contact of its four customers reaches V2, which a dirty
Contact breaks)."""

from __future__ import annotations

import pytest

from devstack.sandbox.faults import would_fail
from tests.integration.pipeline.audit_rows import issue_codes
from tests.integration.pipeline.expectations import assert_v2_matches, run_of
from tests.integration.pipeline.orgs import OBJECTS, admin
from tests.integration.pipeline.test_graph_atomicity import _v1_contacts
from tests.support.polling import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

BULK = {"MIGRATION_LOAD_STRATEGY": "bulk"}
RATE = 0.1
CODE = "FIELD_CUSTOM_VALIDATION_EXCEPTION"


def _v2_records_of(harness, cid: str) -> int:
    total = 0
    for target, _, relationship in OBJECTS.values():
        path = "Legacy_Id__c" if relationship is None else f"{relationship}.Legacy_Id__c"
        total += harness.sf2.query(f"SELECT COUNT() FROM {target} WHERE {path} = '{cid}'")[
            "totalSize"
        ]
    return total


def _jobs(harness) -> int:
    return int(admin(harness.devstack.sf2.url, "bulk")["jobs"])


def test_bulk_migrates_customers_to_match(harness, customer_pool, exclusive_worker):
    ids = customer_pool.take(10)
    jobs_before = _jobs(harness)
    worker = exclusive_worker(**BULK, MIGRATION_BATCH_SIZE="10")
    states = harness.migrate(worker, ids, timeout=120)
    assert {cid: s["status"] for cid, s in states.items()} == dict.fromkeys(ids, "COMPLETED")
    assert_v2_matches(harness, ids, states)
    assert _jobs(harness) > jobs_before  # loaded through ingest jobs, not REST writes
    for cid in ids:
        actions = {a for _, _, a in harness.ledger(cid)}
        assert actions == {"created"}, (cid, actions)


def test_bulk_compensation_leaves_a_customer_with_a_rejected_contact_absent_and_failed(
    harness, customer_pool, exclusive_worker
):
    ids = customer_pool.take(16)
    seed = harness.devstack.config.seed
    contacts = _v1_contacts(harness, ids)
    doomed = {
        cid: [c for c in cs if would_fail("Contact", c, RATE, seed)] for cid, cs in contacts.items()
    }
    doomed = {cid: cs for cid, cs in doomed.items() if cs}
    assert doomed, "the seed predicts no failing Contact among these customers: take more"
    worker = exclusive_worker(**BULK, MIGRATION_BATCH_SIZE="16")
    sf2 = harness.devstack.sf2
    admin(sf2.url, "faults/records", {"Contact": {"rate": RATE, "code": CODE, "field": "Email"}})
    try:
        states = harness.migrate(worker, ids, timeout=120)
    finally:
        admin(sf2.url, "faults/records", {})

    runs = harness.audit_runs(ids)
    failed = {cid for cid, s in states.items() if s["status"] == "FAILED"}
    assert failed == set(doomed), (doomed, states)
    for cid in doomed:
        assert _v2_records_of(harness, cid) == 0, f"{cid} FAILED but left records in V2"
        run = run_of(runs, cid, states[cid]["attempt"])
        named = {
            i["legacy_id"]
            for i in run["issues"]
            if (i["object"], i["field"], i["code"]) == ("Contact", "Email", CODE)
        }
        assert named == set(doomed[cid]), (cid, run["issues"])  # bulk reports every record
        assert ("BULK_COMPENSATED", cid, "Account") in issue_codes(run["issues"]), run["issues"]
        assert "Contact" in run["error"] and CODE in run["error"], run["error"]
        assert {a for _, _, a in harness.ledger(cid)} <= {"deleted"}, harness.ledger(cid)
    completed = [cid for cid in ids if cid not in doomed]
    assert_v2_matches(harness, completed, {cid: states[cid] for cid in completed})

    # The fault is gone: the compensated customers migrate again, complete and match.
    again = harness.migrate(worker, list(doomed), timeout=120)
    assert {cid: s["status"] for cid, s in again.items()} == dict.fromkeys(doomed, "COMPLETED")
    assert_v2_matches(harness, list(doomed), again)


def test_a_kill_during_a_bulk_job_leaves_no_duplicate_and_no_lost_customer(
    harness, customer_pool, exclusive_worker, tmp_path
):
    ids = customer_pool.take(6)
    env = {**BULK, "MIGRATION_BATCH_SIZE": "6", "MIGRATION_DATA_DIR": str(tmp_path / "volume")}
    before = harness.attempts(ids)
    first = exclusive_worker(**env, MIGRATION_FAULT_KILL_AT="during-bulk-job@2")
    harness.enqueue(ids)
    wait_for(first.exited, timeout=60, interval=0.1)
    assert first.returncode == -9, first.exit_report()
    assert "fault point during-bulk-job reached" in first.log_tail(200)

    second = exclusive_worker(**env)
    states = harness.wait_terminal(second, ids, before, timeout=120)
    assert {cid: s["status"] for cid, s in states.items()} == dict.fromkeys(ids, "COMPLETED")
    assert_v2_matches(harness, ids, states)  # each record once: no duplicate
    assert "bulk job" in second.log_tail(400)  # the killed attempt's job was found and settled
