"""FileLoader with in-memory orgs: which files go, base64 or streamed, byte-identical, linked to
the right records, within the byte budget; a replay uploads nothing twice; a failed file fails
its customer, named; a lost answer (DUPLICATE_VALUE on the retry) is read back, not duplicated."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from typing import Any

import pytest

from migration_app.audit.records import LedgerEntry
from migration_app.contracts.customer_status import CustomerStatus
from migration_app.migration.customer_transform import CustomerPlan
from migration_app.migration.spec import load_mapping
from migration_app.worker.files import FileLoader, FileSettings
from migration_app.worker.pipeline import CustomerOutcome, MigrationRequest
from tests.unit.worker.file_fakes import FakeFileSource, FakeFileTarget, V1File

ACC1, ACC2 = "001A00000000001AAA", "001A00000000002AAA"
CASE1 = "500A00000000001AAA"
CASE2 = "500A00000000002AAA"


def _version(n: int) -> str:
    return f"068A{n:011d}AAA"


def _document(n: int) -> str:
    return f"069A{n:011d}AAA"


@pytest.fixture(scope="module")
def spec():
    return load_mapping()


def _plan(cid: str, cases: list[str]) -> CustomerPlan:
    return CustomerPlan(
        cid,
        {
            "Account": [{"Legacy_Id__c": cid, "Name": "x"}],
            "Case": [{"Legacy_Id__c": c, "Subject": "s"} for c in cases],
        },
    )


def _outcome(cid: str, cases: list[str], attempt: int = 1, **kw: Any) -> CustomerOutcome:
    outcome = CustomerOutcome(
        request=MigrationRequest(cid, f"corr-{cid}", attempt, **kw),
        status=CustomerStatus.IN_PROGRESS,
        started_at=0.0,
    )
    outcome.records = [LedgerEntry("Account", cid, "V2" + cid, "created")]
    outcome.records += [LedgerEntry("Case", c, "V2" + c, "created") for c in cases]
    return outcome


def _loader(spec, source, target, **settings: Any) -> FileLoader:
    return FileLoader(spec, spec.files, source, target, FileSettings(**settings))


async def _run(loader: FileLoader, plans: dict, outcomes: dict) -> None:
    batch = await loader.extract(plans)
    await loader.load(batch, outcomes)


def _files() -> list[V1File]:
    return [
        V1File(_version(1), _document(1), b"small letter", [ACC1], title="letter.txt"),
        V1File(_version(2), _document(2), bytes(range(256)) * 4000, [CASE1, ACC1], "bill.pdf"),
        V1File(_version(3), _document(3), b"x" * 10, ["001A00000000999AAA"], "other.txt"),
    ]


async def test_files_arrive_byte_identical_linked_to_the_right_records(spec) -> None:
    source, target = FakeFileSource(_files()), FakeFileTarget()
    outcomes = {ACC1: _outcome(ACC1, [CASE1])}
    await _run(_loader(spec, source, target), {ACC1: _plan(ACC1, [CASE1])}, outcomes)

    assert outcomes[ACC1].status == CustomerStatus.IN_PROGRESS, outcomes[ACC1].issues
    assert set(target.versions) == {_version(1), _version(2)}  # not another customer's file
    for v1 in _files()[:2]:
        v2 = target.versions[v1.version_id]
        assert hashlib.md5(v2.data).hexdigest() == v1.checksum
        assert v2.fields["Title"] == v1.title
    # the small file travels base64, the 1 MB one streamed (never held whole)
    assert dict((k, m) for m, k in target.inserts) == {
        _version(1): "base64",
        _version(2): "multipart",
    }
    # published on the most specific record (the Case), linked to the Account too
    assert target.versions[_version(2)].links == ["V2" + CASE1, "V2" + ACC1]
    assert target.versions[_version(1)].links == ["V2" + ACC1]
    ledger = {(e.object, e.legacy_id, e.action) for e in outcomes[ACC1].records}
    assert ("ContentVersion", _version(2), "created") in ledger
    assert ("ContentDocument", _document(2), "created") in ledger
    assert outcomes[ACC1].counts["ContentVersion"] == 2
    assert all(s.closed for s in source.streams)
    # V1: one link query, one version query; V2 (first attempt): one read-back, one link read
    assert len(source.queries) == 2
    assert sum("FROM ContentVersion" in q for q in target.queries) == 1


async def test_a_replay_uploads_only_what_v2_lacks(spec) -> None:
    source, target = FakeFileSource(_files()), FakeFileTarget()
    plans = {ACC1: _plan(ACC1, [CASE1])}
    await _run(_loader(spec, source, target), plans, {ACC1: _outcome(ACC1, [CASE1])})
    assert len(target.versions) == 2
    del target.versions[_version(1)]  # as if the first attempt died before its upload

    again = {ACC1: _outcome(ACC1, [CASE1], attempt=2)}
    source.downloads.clear()
    await _run(_loader(spec, source, target), plans, again)
    assert again[ACC1].status == CustomerStatus.IN_PROGRESS, again[ACC1].issues
    assert source.downloads == [_version(1)]  # the other one is in V2 already
    assert len(target.versions) == 2
    assert [k for _, k in target.inserts].count(_version(2)) == 1  # never a second copy
    assert again[ACC1].counts["ContentVersion"] == 2
    actions = {(e.object, e.legacy_id): e.action for e in again[ACC1].records}
    assert actions[("ContentVersion", _version(1))] == "created"
    assert actions[("ContentVersion", _version(2))] == "updated"  # attempt 1 created it


async def test_files_found_after_an_interrupted_attempt_are_uncertain(spec) -> None:
    """Killed between the upload and the audit: no ledger row says the file is ours, so, as for
    records, the next attempt's ledger says uncertain (rollback keeps and names it)."""
    source, target = FakeFileSource(_files()), FakeFileTarget()
    plans = {ACC1: _plan(ACC1, [CASE1])}
    await _run(_loader(spec, source, target), plans, {ACC1: _outcome(ACC1, [CASE1])})
    again = {ACC1: _outcome(ACC1, [CASE1], attempt=2, interrupted_attempt=1)}
    await _run(_loader(spec, source, target), plans, again)
    assert len(target.versions) == 2 and len(target.inserts) == 2
    assert {e.action for e in again[ACC1].records if e.object.startswith("Content")} == {
        "uncertain"
    }


async def test_a_lost_answer_meets_duplicate_value_and_is_read_back(spec) -> None:
    source, target = FakeFileSource(_files()), FakeFileTarget()
    target.lose_answer.add(_version(2))  # stored, then 503: the retry meets DUPLICATE_VALUE
    outcomes = {ACC1: _outcome(ACC1, [CASE1])}
    await _run(_loader(spec, source, target), {ACC1: _plan(ACC1, [CASE1])}, outcomes)
    assert outcomes[ACC1].status == CustomerStatus.IN_PROGRESS, outcomes[ACC1].issues
    assert [k for _, k in target.inserts].count(_version(2)) == 2
    assert len(target.versions) == 2
    assert ("ContentVersion", _version(2), target.versions[_version(2)].id, "uncertain") in {
        (e.object, e.legacy_id, e.v2_id, e.action) for e in outcomes[ACC1].records
    }
    assert target.versions[_version(2)].links == ["V2" + CASE1, "V2" + ACC1]


async def test_a_failed_file_fails_its_customer_and_names_the_file(spec) -> None:
    source, target = FakeFileSource(_files()), FakeFileTarget(fail={_version(2): "STORAGE_LIMIT"})
    outcomes = {ACC1: _outcome(ACC1, [CASE1])}
    await _run(_loader(spec, source, target), {ACC1: _plan(ACC1, [CASE1])}, outcomes)
    outcome = outcomes[ACC1]
    assert outcome.status == CustomerStatus.FAILED
    assert "bill.pdf" in (outcome.error or "") and _version(2) in (outcome.error or "")
    (issue,) = [i for i in outcome.issues if i.is_error]
    assert (issue.object, issue.legacy_id, issue.code) == (
        "ContentVersion",
        _version(2),
        "STORAGE_LIMIT",
    )
    assert "bill.pdf" in issue.message
    # the other file is in, and in the ledger: the next attempt uploads only the failed one
    assert ("ContentVersion", _version(1)) in {(e.object, e.legacy_id) for e in outcome.records}


async def test_transient_failures_start_the_copy_over(spec, monkeypatch) -> None:
    source, target = FakeFileSource(_files()), FakeFileTarget()
    source.transient[_version(2)] = 2
    outcomes = {ACC1: _outcome(ACC1, [CASE1])}
    real_sleep = asyncio.sleep
    monkeypatch.setattr(asyncio, "sleep", lambda _delay: real_sleep(0))
    await _run(_loader(spec, source, target), {ACC1: _plan(ACC1, [CASE1])}, outcomes)
    assert outcomes[ACC1].status == CustomerStatus.IN_PROGRESS, outcomes[ACC1].issues
    assert len(target.versions) == 2
    assert source.downloads.count(_version(2)) == 1  # two failed opens, then one good copy


async def test_failed_customers_get_no_files(spec) -> None:
    source, target = FakeFileSource(_files()), FakeFileTarget()
    outcomes = {ACC1: _outcome(ACC1, [CASE1])}
    outcomes[ACC1].status = CustomerStatus.FAILED
    await _run(_loader(spec, source, target), {ACC1: _plan(ACC1, [CASE1])}, outcomes)
    assert target.versions == {} and source.downloads == []


async def test_the_byte_budget_bounds_what_is_in_flight(spec) -> None:
    """Twelve 300 KB files under a 1 MB budget: at most three stream at once, and the worker
    never holds more than a block of any of them; a 2 MB file still goes, alone."""
    big = V1File(_version(50), _document(50), b"B" * 2_000_000, [ACC2], "huge.bin")
    files = [
        V1File(_version(n), _document(n), bytes([n]) * 300_000, [ACC1], f"f{n}.bin")
        for n in range(1, 13)
    ]
    source, target = FakeFileSource([*files, big]), FakeFileTarget()

    async def slow_stream(sobject, body):
        await asyncio.sleep(0.01)
        return await FakeFileTarget.insert_blob_stream(target, sobject, body)

    target.insert_blob_stream = slow_stream  # type: ignore[method-assign]
    loader = _loader(spec, source, target, bytes_in_flight=1_000_000, concurrency=8)
    plans = {ACC1: _plan(ACC1, []), ACC2: _plan(ACC2, [])}
    outcomes = {ACC1: _outcome(ACC1, []), ACC2: _outcome(ACC2, [])}
    await _run(loader, plans, outcomes)
    assert all(o.status == CustomerStatus.IN_PROGRESS for o in outcomes.values())
    assert len(target.versions) == 13
    assert loader.budget.peak <= 2_000_000  # the big one alone; never big + others
    assert target.peak_in_flight <= 3
    assert loader.budget.in_use == 0
    assert source.largest_read <= 65536  # read block by block, never whole


def test_files_are_in_the_packaged_mapping(spec) -> None:
    assert spec.files is not None
    assert spec.files.linked_to == ("Account", "Case")
    assert replace(spec, files=None).files is None


async def test_a_file_shared_with_a_failed_customer_still_reaches_the_other(spec) -> None:
    shared = V1File(_version(7), _document(7), b"shared", [ACC1, ACC2], "shared.txt")
    source, target = FakeFileSource([shared]), FakeFileTarget()
    outcomes = {ACC1: _outcome(ACC1, []), ACC2: _outcome(ACC2, [])}
    outcomes[ACC1].status = CustomerStatus.FAILED  # its graph rolled back
    plans = {ACC1: _plan(ACC1, []), ACC2: _plan(ACC2, [])}
    await _run(_loader(spec, source, target), plans, outcomes)
    assert outcomes[ACC2].status == CustomerStatus.IN_PROGRESS, outcomes[ACC2].issues
    assert target.versions[_version(7)].links == ["V2" + ACC2]
    assert ("ContentVersion", "created") in {(e.object, e.action) for e in outcomes[ACC2].records}
