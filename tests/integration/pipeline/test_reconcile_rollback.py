"""Prove and undo, end to end: verify reads V2 back field by field, the ledger maps V1 ids to V2
ids, rollback deletes what the migration created and a later event migrates the customer again."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest

from migration_app.audit.ledger_export import export_id_map
from migration_app.client_config import audit_config
from migration_app.rollback.command import run_rollback
from migration_app.settings import Secret
from migration_app.verify.command import run_verify
from tests.integration.pipeline.audit_rows import audit_runs
from tests.integration.pipeline.worker_pool import READ_TOKEN
from tests.support.polling import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _v2_contact(harness, customer_id: str) -> dict | None:
    rows = harness.sf2.query_all(
        f"SELECT Id, Legacy_Id__c, Email FROM Contact WHERE Account.Legacy_Id__c = '{customer_id}'"
    )["records"]
    return rows[0] if rows else None


def test_verify_drift_missing_rollback_and_migrate_again(
    harness, customer_pool, shared_worker, tmp_path: Path
):
    # The commands ask the worker for customer state (status, rollback): point them at it.
    # The operator's CLI with the console's read token, as the worker it asks is deployed.
    settings = dataclasses.replace(
        harness.settings,
        web_port=int(shared_worker.url.rsplit(":", 1)[1]),
        console_read_token=Secret(READ_TOKEN),
    )
    ids = customer_pool.take(6)
    states = harness.migrate(shared_worker, ids, timeout=90)
    completed = [cid for cid in ids if states[cid]["status"] == "COMPLETED"]
    with_contact = [cid for cid in completed if _v2_contact(harness, cid)]
    assert len(with_contact) >= 2, states
    drifted, missing = with_contact[:2]

    ok, text = harness.run(run_verify(settings, completed), timeout=90)
    assert ok, text
    assert f"MATCH {len(completed)}" in text

    # DRIFT: change a field in V2 behind the migration's back.
    contact = _v2_contact(harness, drifted)
    harness.sf2.Contact.update(contact["Id"], {"Email": "changed@example.org"})
    # MISSING: delete a migrated record from V2.
    gone = _v2_contact(harness, missing)
    harness.sf2.Contact.delete(gone["Id"])
    ok, text = harness.run(run_verify(settings, completed), timeout=90)
    assert not ok
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("001")}
    assert "DRIFT" in lines[drifted] and "Email" in lines[drifted]
    assert repr(contact["Email"]) in lines[drifted] and "'changed@example.org'" in lines[drifted]
    assert "MISSING" in lines[missing] and gone["Legacy_Id__c"] in lines[missing]
    assert all("MATCH" in lines[c] for c in completed if c not in (drifted, missing))
    status, body = harness.view_state(shared_worker, drifted)
    assert status == 200 and body["verification"]["verdict"] == "DRIFT", body

    # Rollback: the plan first, then for real.
    created_before = [(o, v) for o, v, a in harness.ledger(drifted)]
    ok, plan = harness.run(run_rollback(settings, [drifted], execute=False))
    assert ok and f"delete {len(set(created_before))} record(s)" in plan, plan
    assert harness.v2_record_ids([drifted])["Account"], "a dry run deletes nothing"
    # Without a token the worker's state view answers 401: refused at once, nothing published.
    no_token = dataclasses.replace(settings, console_read_token=Secret(""))
    ok, text = harness.run(run_rollback(no_token, [drifted], execute=True), timeout=30)
    assert not ok and "MIGRATION_CONSOLE_READ_TOKEN" in text, text
    assert harness.v2_record_ids([drifted])["Account"], "nothing rolled back without a token"
    ok, text = harness.run(run_rollback(settings, [drifted], execute=True), timeout=120)
    assert ok, text
    assert all(not found for found in harness.v2_record_ids([drifted]).values())
    state = wait_for(
        lambda: (s := harness.state(drifted)) and s["status"] == "ROLLED_BACK" and s, timeout=30
    )
    events = harness.wait_result_events({drifted: state})
    assert events[drifted][-1]["status"] == "ROLLED_BACK"
    run = [r for r in audit_runs(harness.devstack.database_url, [drifted])][-1]
    assert run["status"] == "ROLLED_BACK"
    ledger = harness.ledger(drifted)
    assert {v for _, v, a in ledger if a == "deleted"} == {v for _, v in created_before}

    # The id map keeps the history: created, then deleted.
    out = tmp_path / "idmap.csv"
    harness.run(export_id_map(audit_config(settings, pool_max=1), str(out), page_size=7))
    rows = [r for r in csv.DictReader(out.open()) if r["customer_id"] == drifted]
    assert {r["action"] for r in rows} == {"created", "deleted"}

    # A later event migrates it again without force: new V2 ids, and verify says MATCH.
    again = harness.migrate(shared_worker, [drifted], timeout=90)
    assert again[drifted]["status"] == "COMPLETED"
    new_ids = harness.v2_record_ids([drifted])
    assert new_ids["Account"] and not (new_ids["Account"] & {v for _, v in created_before})
    ok, text = harness.run(run_verify(settings, [drifted]), timeout=60)
    assert ok, text
