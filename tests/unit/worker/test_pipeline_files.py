"""The pipeline with files: they load after the customer's graph commits, the customer is
COMPLETED only with its files in V2, a failed file fails its customer (its records stay, in the
ledger), and a customer whose graph failed gets no files."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from migration_app.contracts.customer_status import CustomerStatus
from migration_app.migration.spec import load_mapping
from migration_app.worker.files import FileLoader
from migration_app.worker.pipeline import MigrationPipeline, MigrationRequest
from tests.support.mapping import field_rules_only
from tests.unit.worker.file_fakes import FakeFileSource, FakeFileTarget, V1File
from tests.unit.worker.pipeline_fakes import ACC1, ACC2, FakeGraphOrg, FakeSource, v1_account

ACC3 = "001A00000000003AAA"


class Source(FakeSource):
    def __init__(self, accounts: list[dict[str, Any]], files: FakeFileSource) -> None:
        super().__init__(accounts)
        self.files = files

    async def query_all(self, soql: str) -> list[dict[str, Any]]:
        if " FROM Content" in soql:
            return await self.files.query_all(soql)
        return await super().query_all(soql)

    async def download(self, path: str) -> bytes:
        return await self.files.download(path)

    async def open_download(self, path: str):
        return await self.files.open_download(path)


class Target(FakeGraphOrg):
    def __init__(self, files: FakeFileTarget, **kw: Any) -> None:
        super().__init__(**kw)
        self.files = files
        self.order: list[str] = []

    async def query_all(self, soql: str) -> list[dict[str, Any]]:
        if " FROM Content" in soql:
            return await self.files.query_all(soql)
        return await super().query_all(soql)

    async def composite_graph(self, payload, *, allow_duplicates: bool = False):
        self.order.append("graph")
        return await super().composite_graph(payload, allow_duplicates=allow_duplicates)

    async def insert_blob(self, *args: Any) -> dict[str, Any]:
        self.order.append("file")
        return await self.files.insert_blob(*args)

    async def insert_blob_stream(self, *args: Any) -> dict[str, Any]:
        self.order.append("file")
        return await self.files.insert_blob_stream(*args)

    async def create_collection(self, records, *, allow_duplicates: bool = False):
        if records[0]["attributes"]["type"] == "ContentDocumentLink":
            return await self.files.create_collection(records)
        return await super().create_collection(records, allow_duplicates=allow_duplicates)


@pytest.fixture(scope="module")
def spec():
    return replace(field_rules_only(load_mapping()), files=load_mapping().files)


def _version(n: int) -> str:
    return f"068A{n:011d}AAA"


def _pipeline(spec, files: list[V1File], **target_kw: Any):
    v1_files, v2_files = FakeFileSource(files), FakeFileTarget(**target_kw.pop("files_kw", {}))
    source = Source([v1_account(a) for a in (ACC1, ACC2, ACC3)], v1_files)
    target = Target(v2_files, **target_kw)
    loader = FileLoader(spec, spec.files, source, target)
    return MigrationPipeline(spec, source, target, files=loader), target, v2_files


async def test_files_load_after_the_graph_and_complete_the_customer(spec) -> None:
    files = [
        V1File(_version(1), "069A00000000001AAA", b"a" * 500_000, [ACC1], "bill.pdf"),
        V1File(_version(2), "069A00000000002AAA", b"b" * 10, [ACC2], "note.txt"),
        V1File(_version(3), "069A00000000003AAA", b"c" * 10, [ACC3], "x.txt"),
    ]
    pipeline, target, v2 = _pipeline(
        spec,
        files,
        fail={"003" + ACC3[3:]: ("REQUIRED_FIELD_MISSING", "LastName")},
        files_kw={"fail": {_version(2): "STORAGE_LIMIT_EXCEEDED"}},
    )
    requests = [MigrationRequest(a, f"c-{a}", 1) for a in (ACC1, ACC2, ACC3)]
    outcomes = {o.customer_id: o for o in await pipeline.migrate(requests)}

    assert target.order[0] == "graph" and set(target.order[1:]) == {"file"}
    done = outcomes[ACC1]
    assert done.status == CustomerStatus.COMPLETED
    assert done.counts == {"Account": 1, "Contact": 1, "ContentVersion": 1}
    assert v2.versions[_version(1)].links == ["V2" + ACC1]
    # a failed file: FAILED with the file named; its records are in V2 and in the ledger
    failed = outcomes[ACC2]
    assert failed.status == CustomerStatus.FAILED and _version(2) in (failed.error or "")
    assert {e.object for e in failed.records} == {"Account", "Contact"}
    # a customer whose graph rolled back gets no files
    assert outcomes[ACC3].status == CustomerStatus.FAILED
    assert _version(3) not in v2.versions


async def test_without_files_in_the_mapping_nothing_about_files_is_asked(spec) -> None:
    pipeline, _, v2 = _pipeline(replace(spec, files=None), [])
    pipeline.files = None
    outcomes = await pipeline.migrate([MigrationRequest(ACC1, "c", 1)])
    assert outcomes[0].status == CustomerStatus.COMPLETED
    assert v2.queries == [] and pipeline.source.files.queries == []
