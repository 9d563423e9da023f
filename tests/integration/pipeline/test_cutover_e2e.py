"""Cutover against the sandbox orgs, end to end (issue 26): records are created with V1's
CreatedDate, and a re-migration after an agent's edit in V2 keeps the edit and reports CONFLICT
in the audit, the result event and verify."""

from __future__ import annotations

import dataclasses

import pytest
from simple_salesforce import Salesforce

from devstack.sandbox.reference_data import agents
from migration_app.salesforce.http import HttpSettings, build_session, login_domain_for
from migration_app.settings import Secret
from migration_app.verify.command import run_verify
from tests.integration.pipeline.orgs import soql_in
from tests.integration.pipeline.worker_pool import READ_TOKEN

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _agent(harness) -> Salesforce:
    """A person at work in V2: a JWT session whose subject is an agent, not the integration
    user (the sandbox stamps what it saves with that user)."""
    org = harness.settings.sf2
    return Salesforce(
        username=agents("v2")[0],
        consumer_key=org.client_id,
        privatekey_file=org.private_key_file,
        domain=login_domain_for(org.url),
        session=build_session(HttpSettings(connect_timeout=2.0, read_timeout=10.0), org.url),
    )


def _created_dates(sf: Salesforce, soql: str, key: str) -> dict[str, str]:
    return {r[key]: r["CreatedDate"] for r in sf.query_all(soql)["records"]}


def test_first_load_keeps_v1_created_dates_and_an_agents_edit_survives_a_re_migration(
    harness, customer_pool, shared_worker
) -> None:
    ids = customer_pool.take(4)
    states = harness.migrate(shared_worker, ids, timeout=90)
    completed = [cid for cid in ids if states[cid]["status"] == "COMPLETED"]
    assert len(completed) >= 3, states

    # CreatedDate: V1's, on every preserved record created by the first load.
    for v1_object, parent in (("Account", "Id"), ("Contact", "AccountId")):
        v1 = _created_dates(
            harness.sf1,
            f"SELECT Id, CreatedDate FROM {v1_object} WHERE {parent} IN ({soql_in(completed)})",
            "Id",
        )
        path = "Legacy_Id__c" if v1_object == "Account" else "Account.Legacy_Id__c"
        v2 = _created_dates(
            harness.sf2,
            f"SELECT Legacy_Id__c, CreatedDate FROM {v1_object} "
            f"WHERE {path} IN ({soql_in(completed)})",
            "Legacy_Id__c",
        )
        # Every record the load created carries V1's date (a dirty V1 record the transform
        # rejected is not in V2: compare what V2 holds).
        assert v2 and set(v2) <= set(v1), (v1_object, v1, v2)
        assert {k: v1[k] for k in v2} == v2, (v1_object, v1, v2)

    # An agent edits a migrated Contact in V2.
    contacts = harness.sf2.query_all(
        "SELECT Id, Legacy_Id__c, Account.Legacy_Id__c, LastName FROM Contact "
        f"WHERE Account.Legacy_Id__c IN ({soql_in(completed)})"
    )["records"]
    edited = contacts[0]
    customer = edited["Account"]["Legacy_Id__c"]
    _agent(harness).Contact.update(edited["Id"], {"LastName": "Edited-By-Agent"})

    # A forced re-migration (what resync enqueues) keeps the edit and says so.
    again = harness.migrate(shared_worker, [customer], force=True, timeout=90)
    assert again[customer]["status"] == "COMPLETED", again
    row = harness.sf2.query(f"SELECT LastName FROM Contact WHERE Id = '{edited['Id']}'")
    assert row["records"][0]["LastName"] == "Edited-By-Agent"
    runs = [r for r in harness.audit_runs([customer]) if r["attempt"] == again[customer]["attempt"]]
    conflicts = [i for r in runs for i in r["issues"] if i["code"] == "CONFLICT"]
    assert len(conflicts) == 1 and conflicts[0]["legacy_id"] == edited["Legacy_Id__c"], runs
    assert agents("v2")[0] in conflicts[0]["message"]
    events = harness.wait_result_events({customer: again[customer]})
    (event,) = [e for e in events[customer] if e["attempt"] == again[customer]["attempt"]]
    assert "CONFLICT" in {i["code"] for i in event["warnings"]}, event

    # verify: the agent's edit is expected (EDITED_IN_V2), not drift; the command succeeds.
    settings = dataclasses.replace(
        harness.settings,
        web_port=int(shared_worker.url.rsplit(":", 1)[1]),
        console_read_token=Secret(READ_TOKEN),
    )
    ok, text = harness.run(run_verify(settings, completed), timeout=90)
    assert ok, text
    line = next(x for x in text.splitlines() if x.startswith(customer))
    assert "EDITED_IN_V2" in line and "LastName" in line, text
    assert line.split()[1] == "EDITED_IN_V2", line  # its own column (was 'EDITED_IN_V2Contact')
