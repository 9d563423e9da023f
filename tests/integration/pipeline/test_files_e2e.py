"""Files end to end (issue 27): a customer's files arrive in V2 byte-identical (Checksum and the
MD5 of the downloaded bytes match V1's), each linked to the right V2 records; a forced
re-migration creates no second copy; verify compares the checksums; rollback deletes the
documents; a kill -9 half-way through a streamed upload leaves no duplicate and the file arrives
on replay.

The files are put in V1 by the test itself (a small one on the Account, sent base64; a larger
one on a Case and linked to the Account too, streamed), so the test does not depend on the
seed's file rate."""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import os

import pytest
from simple_salesforce import Salesforce

from migration_app.audit.ledger_export import export_id_map
from migration_app.client_config import audit_config
from migration_app.rollback.command import run_rollback
from migration_app.settings import Secret
from migration_app.verify.command import run_verify
from tests.integration.pipeline.orgs import soql_in
from tests.integration.pipeline.worker_pool import READ_TOKEN
from tests.support.polling import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

LARGE = 3 * 1024 * 1024 + 17  # over MIGRATION_FILE_BASE64_MAX_BYTES: streamed multipart


def _put_file(sf: Salesforce, title: str, data: bytes, on: str, also: list[str]) -> dict:
    """A V1 file published on ``on`` and linked to ``also``: its ContentVersion row."""
    created = sf.ContentVersion.create(
        {
            "Title": title,
            "PathOnClient": title,
            "VersionData": base64.b64encode(data).decode(),
            "FirstPublishLocationId": on,
        }
    )
    row = sf.query(
        "SELECT Id, ContentDocumentId, Checksum, ContentSize FROM ContentVersion "
        f"WHERE Id = '{created['id']}'"
    )["records"][0]
    for entity in also:
        sf.ContentDocumentLink.create(
            {
                "ContentDocumentId": row["ContentDocumentId"],
                "LinkedEntityId": entity,
                "ShareType": "V",
                "Visibility": "AllUsers",
            }
        )
    return row


def _case_of(sf: Salesforce, customer: str) -> str | None:
    rows = sf.query(f"SELECT Id FROM Case WHERE AccountId = '{customer}' LIMIT 1")["records"]
    return rows[0]["Id"] if rows else None


def _v2_versions(sf2: Salesforce, v1_ids: list[str]) -> list[dict]:
    return sf2.query_all(
        "SELECT Id, ContentDocumentId, Legacy_Id__c, Checksum, ContentSize FROM ContentVersion "
        f"WHERE Legacy_Id__c IN ({soql_in(v1_ids)})"
    )["records"]


def _v2_bytes(sf2: Salesforce, version_id: str) -> bytes:
    url = f"{sf2.base_url}sobjects/ContentVersion/{version_id}/VersionData"
    response = sf2.session.get(url, headers=sf2.headers, timeout=30)
    response.raise_for_status()
    return response.content


def _v2_links(sf2: Salesforce, document_id: str) -> set[str]:
    rows = sf2.query_all(
        f"SELECT LinkedEntityId FROM ContentDocumentLink WHERE ContentDocumentId = '{document_id}'"
    )["records"]
    return {r["LinkedEntityId"][:15] for r in rows}


def _v2_id(sf2: Salesforce, sobject: str, legacy_id: str) -> str:
    rows = sf2.query(f"SELECT Id FROM {sobject} WHERE Legacy_Id__c = '{legacy_id}'")["records"]
    assert rows, (sobject, legacy_id)
    return rows[0]["Id"]


def _customer_with_a_case(harness, customer_pool) -> tuple[str, str]:
    for _ in range(20):
        (customer,) = customer_pool.take(1)
        case = _case_of(harness.sf1, customer)
        if case is not None:
            return customer, case
    raise AssertionError("no customer with a Case in 20")


def test_files_arrive_byte_identical_linked_and_a_replay_adds_no_copy(
    harness, customer_pool, shared_worker, tmp_path
) -> None:
    customer, case = _customer_with_a_case(harness, customer_pool)
    small = b"Dear customer, your tariff changes on 1 April.\n" * 20
    large = os.urandom(LARGE)
    letter = _put_file(harness.sf1, "letter.txt", small, customer, [])
    bill = _put_file(harness.sf1, "bill.pdf", large, case, [customer])
    v1_files = {letter["Id"]: (letter, small), bill["Id"]: (bill, large)}

    states = harness.migrate(shared_worker, [customer], timeout=120)
    assert states[customer]["status"] == "COMPLETED", states

    v2_account, v2_case = (
        _v2_id(harness.sf2, "Account", customer),
        _v2_id(harness.sf2, "Case", case),
    )
    rows = {r["Legacy_Id__c"]: r for r in _v2_versions(harness.sf2, list(v1_files))}
    assert set(rows) == set(v1_files)
    for v1_id, (v1_row, data) in v1_files.items():
        v2 = rows[v1_id]
        assert v2["Checksum"] == v1_row["Checksum"] == hashlib.md5(data).hexdigest()
        assert hashlib.md5(_v2_bytes(harness.sf2, v2["Id"])).hexdigest() == v1_row["Checksum"]
    assert v2_account[:15] in _v2_links(harness.sf2, rows[letter["Id"]]["ContentDocumentId"])
    bill_links = _v2_links(harness.sf2, rows[bill["Id"]]["ContentDocumentId"])
    assert {v2_case[:15], v2_account[:15]} <= bill_links
    ledger = harness.ledger(customer)
    assert ("ContentVersion", rows[bill["Id"]]["Id"], "created") in ledger
    assert ("ContentDocument", rows[bill["Id"]]["ContentDocumentId"], "created") in ledger

    # A forced re-migration: the same files, no second copy, nothing uploaded again.
    again = harness.migrate(shared_worker, [customer], force=True, timeout=120)
    assert again[customer]["status"] == "COMPLETED", again
    after = _v2_versions(harness.sf2, list(v1_files))
    assert sorted(r["Id"] for r in after) == sorted(r["Id"] for r in rows.values())
    # Counted as the first attempt counted them: the two above plus any the seed gave it.
    runs = {r["attempt"]: r for r in harness.audit_runs([customer])}
    first = runs[states[customer]["attempt"]]["counts"].get("ContentVersion")
    assert first is not None and first >= 2, runs
    assert runs[again[customer]["attempt"]]["counts"].get("ContentVersion") == first, runs

    settings = dataclasses.replace(
        harness.settings,
        web_port=int(shared_worker.url.rsplit(":", 1)[1]),
        console_read_token=Secret(READ_TOKEN),
    )
    ok, text = harness.run(run_verify(settings, [customer]), timeout=90)
    assert ok, text

    # The id map lists the files (V1 ContentVersion Id -> V2 ContentVersion Id).
    out = tmp_path / "idmap.csv"
    harness.run(
        export_id_map(audit_config(settings, pool_max=1), str(out), sobject="ContentVersion")
    )
    listed = {
        (r["legacy_id"], r["v2_id"])
        for r in csv.DictReader(out.open())
        if r["customer_id"] == customer
    }
    assert {(v1, rows[v1]["Id"]) for v1 in v1_files} <= listed

    # Rollback deletes the documents (versions and links go with them).
    ok, text = harness.run(run_rollback(settings, [customer], execute=True), timeout=120)
    assert ok, text
    wait_for(lambda: (s := harness.state(customer)) and s["status"] == "ROLLED_BACK", timeout=60)
    assert _v2_versions(harness.sf2, list(v1_files)) == []


def test_a_kill_during_an_upload_leaves_no_duplicate_and_the_file_arrives_on_replay(
    harness, customer_pool, exclusive_worker, tmp_path
) -> None:
    customer, case = _customer_with_a_case(harness, customer_pool)
    data = os.urandom(LARGE)
    bill = _put_file(harness.sf1, "killed.pdf", data, case, [customer])
    env = {"MIGRATION_BATCH_SIZE": "1", "MIGRATION_DATA_DIR": str(tmp_path / "volume")}
    before = harness.attempts([customer])
    first = exclusive_worker(**env, MIGRATION_FAULT_KILL_AT="during-file-upload")
    harness.enqueue([customer])
    wait_for(first.exited, timeout=90, interval=0.1)
    assert first.returncode == -9, first.exit_report()
    assert "fault point during-file-upload reached" in first.log_tail(200)
    assert _v2_versions(harness.sf2, [bill["Id"]]) == []  # half a body makes no file

    second = exclusive_worker(**env)
    states = harness.wait_terminal(second, [customer], before, timeout=120)
    assert states[customer]["status"] == "COMPLETED", states
    (v2,) = _v2_versions(harness.sf2, [bill["Id"]])
    assert v2["Checksum"] == bill["Checksum"] == hashlib.md5(data).hexdigest()
    assert _v2_id(harness.sf2, "Case", case)[:15] in _v2_links(harness.sf2, v2["ContentDocumentId"])


def test_a_kill_between_the_upload_and_the_audit_uploads_nothing_twice(
    harness, customer_pool, exclusive_worker, tmp_path
) -> None:
    """The file is in V2, no ledger row names it (the audit never ran): the next attempt finds
    it by its external id, uploads nothing, links what is missing, and calls it uncertain."""
    customer, case = _customer_with_a_case(harness, customer_pool)
    bill = _put_file(harness.sf1, "audited-later.pdf", os.urandom(LARGE), case, [customer])
    env = {"MIGRATION_BATCH_SIZE": "1", "MIGRATION_DATA_DIR": str(tmp_path / "volume")}
    before = harness.attempts([customer])
    first = exclusive_worker(**env, MIGRATION_FAULT_KILL_AT="between-load-and-audit")
    harness.enqueue([customer])
    wait_for(first.exited, timeout=90, interval=0.1)
    assert first.returncode == -9, first.exit_report()
    (uploaded,) = _v2_versions(harness.sf2, [bill["Id"]])

    second = exclusive_worker(**env)
    states = harness.wait_terminal(second, [customer], before, timeout=120)
    assert states[customer]["status"] == "COMPLETED", states
    (v2,) = _v2_versions(harness.sf2, [bill["Id"]])
    assert v2["Id"] == uploaded["Id"]  # the same file, not a second copy
    assert ("ContentVersion", v2["Id"], "uncertain") in harness.ledger(customer)
