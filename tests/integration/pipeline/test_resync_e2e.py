"""Delta re-sync, end to end (issue 26): customers are migrated, people change and delete V1
records, `migration-app resync --dry-run` lists exactly those customers with what changed,
`resync` brings them to COMPLETED again and `verify` says MATCH; a record deleted in V1 is
deleted in V2 (ours, unchanged) or kept (an agent changed it in V2), and the ledger says so."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import psycopg2
import pytest
from simple_salesforce import Salesforce

from devstack.sandbox.reference_data import agents
from migration_app.audit.store import AuditStore
from migration_app.client_config import audit_config
from migration_app.migration.spec import load_mapping
from migration_app.resync.plan import DELETED_IN_V2, KEEP_EDITED, KEEP_REPORTED, WOULD_DELETE
from migration_app.rollback.plan import plan_rollback
from migration_app.salesforce.http import HttpSettings, build_session, login_domain_for
from migration_app.settings import Secret
from migration_app.verify.command import run_verify
from tests.integration.pipeline.orgs import soql_in
from tests.integration.pipeline.worker_pool import READ_TOKEN
from tests.integration.sandbox.support import login_as

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


def _cli(devstack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "migration_app", *args],
        env={**os.environ, **devstack.env()},
        capture_output=True,
        text=True,
        timeout=180,
    )


def _resync_json(devstack, *args: str) -> dict:
    result = _cli(devstack, "resync", "--json", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout[result.stdout.index("{") :])


def _agent(harness) -> Salesforce:
    """A person at work in V2 (a JWT session whose subject is an agent)."""
    org = harness.settings.sf2
    return Salesforce(
        username=agents("v2")[1],
        consumer_key=org.client_id,
        privatekey_file=org.private_key_file,
        domain=login_domain_for(org.url),
        session=build_session(HttpSettings(connect_timeout=2.0, read_timeout=10.0), org.url),
    )


def _v1_contacts(harness, customers: list[str]) -> dict[str, list[str]]:
    """customer -> the V1 Ids of its Contacts that are in V2 (dirty ones may have been
    rejected by the migration)."""
    in_v2 = {
        r["Legacy_Id__c"]
        for r in harness.sf2.query_all(
            f"SELECT Legacy_Id__c FROM Contact WHERE Account.Legacy_Id__c IN ({soql_in(customers)})"
        )["records"]
    }
    rows = harness.sf1.query_all(
        f"SELECT Id, AccountId FROM Contact WHERE AccountId IN ({soql_in(customers)}) ORDER BY Id"
    )["records"]
    out: dict[str, list[str]] = {}
    for row in rows:
        if row["Id"] in in_v2:
            out.setdefault(row["AccountId"], []).append(row["Id"])
    return out


def _v2_contact(harness, legacy_id: str) -> dict | None:
    rows = harness.sf2.query_all(
        f"SELECT Id, FirstName, LastModifiedById FROM Contact WHERE Legacy_Id__c = '{legacy_id}'"
    )["records"]
    return rows[0] if rows else None


def test_resync_finds_exactly_the_changed_customers_and_brings_them_to_match(
    harness, customer_pool, shared_worker, devstack
) -> None:
    # a customer with a task on one of its Cases: traced to the customer through the Case
    free = customer_pool.free
    case_tasks = harness.sf1.query_all(
        "SELECT Id, WhatId FROM Task WHERE WhatId IN "
        f"(SELECT Id FROM Case WHERE AccountId IN ({soql_in(free[:150])}))"
    )["records"]
    assert case_tasks, "no task on a Case among the pool's customers"
    task = case_tasks[0]["Id"]
    tasked = harness.sf1.query(
        f"SELECT AccountId FROM Case WHERE Id = '{case_tasks[0]['WhatId']}'"
    )["records"][0]["AccountId"]
    customer_pool.free = [c for c in free if c != tasked]
    ids = [*customer_pool.take(8), tasked]
    not_migrated = ids.pop(0)  # never enqueued: its V1 change is "not migrated yet"
    states = harness.migrate(shared_worker, ids, timeout=120)
    completed = [cid for cid in ids if states[cid]["status"] == "COMPLETED"]
    assert tasked in completed, states
    contacts = _v1_contacts(harness, completed)  # those the migration wrote to V2
    with_two = [c for c in completed if len(contacts.get(c, [])) >= 2 and c != tasked]
    assert len(with_two) >= 3 and len(completed) >= 6, (states, contacts)
    modified, deleted, kept = with_two[:3]  # Contact changed; Contact deleted; deleted but edited
    renamed = next(c for c in completed if c not in (modified, deleted, kept, tasked))
    untouched = [c for c in completed if c not in (modified, deleted, kept, renamed, tasked)]

    # People at work: an agent's V1 edits and deletions (a session as that person: the sandbox
    # stamps SystemModstamp and LastModifiedById on each write)...
    agent_v1 = login_as(devstack.sf1, agents("v1")[0])
    agent_v1.Contact.update(contacts[modified][0], {"FirstName": "Resynced"})
    agent_v1.Account.update(renamed, {"BillingCity": "Resync City"})
    gone = _v2_contact(harness, contacts[deleted][0])
    assert gone is not None
    agent_v1.Contact.delete(contacts[deleted][0])
    agent_v1.Contact.delete(contacts[kept][0])
    agent_v1.Account.update(not_migrated, {"BillingCity": "Not Migrated"})
    agent_v1.Task.update(task, {"Subject": "Resynced task"})
    # ... and an agent's edit in V2 of a record V1 then deleted: it must stay.
    edited = _v2_contact(harness, contacts[kept][0])
    assert edited is not None
    _agent(harness).Contact.update(edited["Id"], {"FirstName": "Kept-By-Agent"})

    # --dry-run lists exactly the changed customers, with what changed; enqueues nothing.
    report = _resync_json(devstack, "--dry-run")
    changed = {c["customer_id"]: c for c in report["customers"]}
    assert set(changed) == {modified, renamed, deleted, kept, tasked}, report
    assert report["enqueued"] == [] and report["dry_run"] is True
    assert not_migrated in report["not_migrated"]
    assert not set(untouched) & set(changed)
    by_id = {ch["v1_id"]: ch for c in report["customers"] for ch in c["changes"]}
    assert by_id[contacts[modified][0]]["change"] == "modified"
    assert by_id[renamed]["change"] == "modified" and by_id[renamed]["object"] == "Account"
    assert by_id[contacts[deleted][0]]["change"] == "deleted"
    assert by_id[contacts[deleted][0]]["v2"]["decision"] == KEEP_REPORTED  # the default policy
    assert by_id[task]["object"] == "Task" and by_id[task]["change"] == "modified"
    # one queryAll per mapped object, and one for the changed task's Case (its Account)
    assert report["api_calls"]["find_queries"] == len(load_mapping().objects) + 1
    assert report["unchecked_objects"] == []
    assert report["checked_customers"] >= len(completed)
    text = _cli(devstack, "resync", "--dry-run", "--deleted", "delete")
    assert text.returncode == 0, text.stderr
    assert "dry run: nothing enqueued, deleted or recorded" in text.stdout
    assert f"{WOULD_DELETE}" in text.stdout and KEEP_EDITED in text.stdout

    # resync: deletes what is ours and unchanged, enqueues the four, which complete again.
    before = harness.attempts(list(changed))
    report = _resync_json(devstack, "--deleted", "delete")
    assert sorted(report["enqueued"]) == sorted(changed), report
    by_id = {ch["v1_id"]: ch for c in report["customers"] for ch in c["changes"]}
    assert by_id[contacts[deleted][0]]["v2"]["decision"] == DELETED_IN_V2
    assert by_id[contacts[kept][0]]["v2"]["decision"] == KEEP_EDITED
    again = harness.wait_terminal(shared_worker, list(changed), before, timeout=120)
    assert {s["status"] for s in again.values()} == {"COMPLETED"}, again

    assert _v2_contact(harness, contacts[deleted][0]) is None
    assert _v2_contact(harness, contacts[kept][0])["FirstName"] == "Kept-By-Agent"
    assert _v2_contact(harness, contacts[modified][0])["FirstName"] == "Resynced"
    assert _deleted_v2_id(harness, deleted) == gone["Id"]
    # the customers' action log (console): what the resync did, the kept record as a warning
    log = _action_log(devstack, list(changed))
    assert {(cid, "resync", "enqueued") for cid in changed} <= log
    assert (deleted, "resync: deleted in V1", "deleted") in log
    assert (kept, "resync: deleted in V1", "warning") in log

    # verify: the re-synced customers MATCH; the one whose deleted record an agent kept is
    # UNEXPECTED (V2 holds a record V1 no longer has: a person decides).
    settings = dataclasses.replace(
        harness.settings,
        web_port=int(shared_worker.url.rsplit(":", 1)[1]),
        console_read_token=Secret(READ_TOKEN),
    )
    ok, text = harness.run(run_verify(settings, [modified, renamed, deleted]), timeout=90)
    assert ok, text
    lines = {line.split()[0]: line.split()[1] for line in text.splitlines() if line[:3] == "001"}
    assert lines == {modified: "MATCH", renamed: "MATCH", deleted: "MATCH"}, text
    v2_task = harness.sf2.query(f"SELECT Subject FROM Task WHERE Legacy_Id__c = '{task}'")
    assert v2_task["records"][0]["Subject"] == "Resynced task"
    _, text = harness.run(run_verify(settings, [kept]), timeout=90)
    assert "UNEXPECTED" in text, text

    # A rollback would not touch what the resync deleted (the ledger says deleted).
    plan = harness.run(_rollback_plan(settings, deleted), timeout=30)
    assert gone["Id"] not in {r.v2_id for r in plan.delete}

    # The next resync finds nothing new for them: their baselines moved past the changes.
    report = _resync_json(devstack, "--dry-run")
    assert not {c["customer_id"] for c in report["customers"]} & set(changed), report


def _action_log(devstack, customers: list[str]) -> set[tuple[str, str, str]]:
    conn = psycopg2.connect(devstack.database_url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT customer_id, action, outcome FROM console_action "
                "WHERE customer_id = ANY(%s) AND actor = 'migration-app resync'",
                (customers,),
            )
            return {tuple(row) for row in cur.fetchall()}
    finally:
        conn.close()


def _deleted_v2_id(harness, customer: str) -> str:
    deleted = [v2_id for _, v2_id, action in harness.ledger(customer) if action == "deleted"]
    assert len(deleted) == 1, harness.ledger(customer)
    return deleted[0]


async def _rollback_plan(settings, customer: str):
    store = AuditStore(audit_config(settings, pool_max=1))
    await store.start()
    try:
        rows = await store.ledger_for([customer])
    finally:
        await store.close()
    return plan_rollback(rows, load_mapping(), [customer])[customer]
