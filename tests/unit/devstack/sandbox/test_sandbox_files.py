"""Files through Org.dispatch: ContentVersion inserts (base64 JSON), what Salesforce derives
(Checksum MD5, ContentSize, FileExtension, the ContentDocument, the links), the size limit of a
JSON insert, ContentDocumentLink rules and query restriction, deletes, and the seeded files."""

from __future__ import annotations

import base64
import hashlib

import pytest

from devstack.sandbox import files
from devstack.sandbox.api import Org
from devstack.sandbox.config import SandboxConfig
from devstack.sandbox.seed import SeedOptions, seed_v1
from tests.unit.devstack.sandbox.test_sandbox_hierarchy import call

DATA = b"%PDF-1.7\n" + bytes(range(256)) * 40


@pytest.fixture
def v2(tmp_path) -> Org:
    org = Org(SandboxConfig(org="v2", state_dir=str(tmp_path)))
    call(org, "POST", "sobjects/Account", {"Name": "Acme", "Legacy_Id__c": "001A"})
    call(
        org,
        "POST",
        "sobjects/Case",
        {"Subject": "Bill", "Legacy_Id__c": "500A", "Account": {"Legacy_Id__c": "001A"}},
    )
    return org


def _upload(org: Org, **extra: object) -> tuple[int, object]:
    body = {
        "Title": "Bill March",
        "PathOnClient": "bill-march.pdf",
        "VersionData": base64.b64encode(DATA).decode(),
        **extra,
    }
    return call(org, "POST", "sobjects/ContentVersion", body)


def _account(org: Org) -> str:
    return org.store.find_by("Account", "Legacy_Id__c", "001A")[0]


def test_json_insert_derives_document_checksum_and_links(v2: Org, tmp_path) -> None:
    account = _account(v2)
    status, body = _upload(v2, FirstPublishLocationId=account, Legacy_Id__c="068A")
    assert status == 201, body
    rid = body["id"]
    status, rec = call(v2, "GET", f"sobjects/ContentVersion/{rid}")
    assert rec["Checksum"] == hashlib.md5(DATA).hexdigest()
    assert (rec["ContentSize"], rec["FileExtension"], rec["FileType"]) == (len(DATA), "pdf", "PDF")
    assert rec["IsLatest"] is True and rec["VersionNumber"] == "1"
    assert rec["VersionData"] == f"/services/data/v59.0/sobjects/ContentVersion/{rid}/VersionData"
    assert (tmp_path / "files" / "files" / rid).read_bytes() == DATA  # on disk, not in the row
    doc = rec["ContentDocumentId"]
    status, page = call(
        v2,
        "GET",
        "query",
        q=f"SELECT LinkedEntityId, ShareType, Visibility FROM ContentDocumentLink "
        f"WHERE ContentDocumentId = '{doc}'",
    )
    links = {r["LinkedEntityId"]: r["ShareType"] for r in page["records"]}
    assert links == {account: "I", v2.user_id: "I"}  # the record and the owner
    status, page = call(
        v2,
        "GET",
        "query",
        q=f"SELECT Id, Checksum, ContentSize FROM ContentVersion "
        f"WHERE ContentDocumentId IN ('{doc}') AND IsLatest = true",
    )
    assert [r["Id"] for r in page["records"]] == [rid]
    status, page = call(
        v2, "GET", "query", q="SELECT Title, LatestPublishedVersionId FROM ContentDocument"
    )
    assert page["records"][0]["LatestPublishedVersionId"] == rid
    assert page["records"][0]["Title"] == "Bill March"
    status, page = call(
        v2,
        "GET",
        "query",
        q="SELECT Name, (SELECT ContentDocumentId FROM ContentDocumentLinks) FROM Account",
    )
    assert page["records"][0]["ContentDocumentLinks"]["records"][0]["ContentDocumentId"] == doc
    status, err = _upload(v2, Legacy_Id__c="068A")
    assert status == 400 and err[0]["errorCode"] == "DUPLICATE_VALUE"
    blob = call(v2, "GET", f"sobjects/ContentVersion/{rid}/VersionData")[1]
    assert isinstance(blob, files.BinaryBody) and blob.size == len(DATA)
    assert blob.content_type == "application/pdf" and blob.path.read_bytes() == DATA


def test_new_version_of_a_document(v2: Org) -> None:
    first = _upload(v2)[1]["id"]
    doc = v2.store.get("ContentVersion", first)["ContentDocumentId"]
    status, body = _upload(v2, ContentDocumentId=doc, PathOnClient="bill-v2.pdf")
    assert status == 201, body
    assert v2.store.get("ContentVersion", first)["IsLatest"] is False
    second = v2.store.get("ContentVersion", body["id"])
    assert (second["IsLatest"], second["VersionNumber"]) == (True, "2")
    assert v2.store.get("ContentDocument", doc)["LatestPublishedVersionId"] == body["id"]


def test_refusals(v2: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    status, err = _upload(v2, Checksum="x")
    assert err[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    status, err = call(v2, "POST", "sobjects/ContentVersion", {"PathOnClient": "a.txt"})
    assert err[0]["errorCode"] == "REQUIRED_FIELD_MISSING" and err[0]["fields"] == ["VersionData"]
    status, err = _upload(v2, VersionData="not base64!")
    assert err[0]["errorCode"] == "JSON_PARSER_ERROR"
    monkeypatch.setattr(files, "JSON_BLOB_MAX", 1000)
    status, err = _upload(v2)
    assert (status, err[0]["errorCode"]) == (400, "MAXIMUM_SIZE_OF_DOCUMENT")
    monkeypatch.undo()
    rid = _upload(v2)[1]["id"]
    status, err = call(v2, "DELETE", f"sobjects/ContentVersion/{rid}")
    assert err[0]["errorCode"] == "INVALID_TYPE_FOR_OPERATION"
    status, err = call(v2, "POST", "sobjects/ContentDocument", {"Title": "x"})
    assert err[0]["errorCode"] == "INVALID_TYPE_FOR_OPERATION"
    status, err = call(v2, "PATCH", f"sobjects/ContentVersion/{rid}", {"PathOnClient": "b.pdf"})
    assert err[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    status, err = call(v2, "GET", "query", q="SELECT Id FROM ContentDocumentLink")
    assert status == 400 and err[0]["errorCode"] == "MALFORMED_QUERY"
    assert err[0]["message"] == files.LINK_QUERY_RESTRICTION
    status, err = call(
        v2, "GET", "query", q="SELECT Id FROM ContentDocumentLink WHERE ShareType = 'V'"
    )
    assert status == 400


def test_links_and_deletes(v2: Org) -> None:
    account = _account(v2)
    case = v2.store.find_by("Case", "Legacy_Id__c", "500A")[0]
    rid = _upload(v2, FirstPublishLocationId=case)[1]["id"]
    doc = v2.store.get("ContentVersion", rid)["ContentDocumentId"]
    link = {"ContentDocumentId": doc, "LinkedEntityId": account, "ShareType": "V"}
    status, body = call(v2, "POST", "sobjects/ContentDocumentLink", link)
    assert status == 201, body
    status, err = call(v2, "POST", "sobjects/ContentDocumentLink", link)
    assert err[0]["errorCode"] == "DUPLICATE_VALUE"
    assert err[0]["message"] == (
        f"Document with ID: {doc} is already linked with the entity with ID: {account}"
    )
    bad = {**link, "LinkedEntityId": v2.store.find_by("Account", "Legacy_Id__c", "001A")[0][:3]}
    assert call(v2, "POST", "sobjects/ContentDocumentLink", bad)[1][0]["errorCode"] == (
        "MALFORMED_ID"
    )
    status, err = call(v2, "POST", "sobjects/ContentDocumentLink", {**link, "LinkedEntityId": rid})
    assert err[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    status, page = call(
        v2,
        "GET",
        "query",
        q=f"SELECT ContentDocumentId, LinkedEntity.Type FROM ContentDocumentLink "
        f"WHERE LinkedEntityId IN ('{account}', '{case}')",
    )
    assert sorted(r["LinkedEntity"]["Type"] for r in page["records"]) == ["Account", "Case"]
    assert call(v2, "DELETE", f"sobjects/Case/{case}")[0] == 204  # its link goes, the file stays
    assert v2.store.counts()["ContentDocumentLink"] == 2
    assert call(v2, "DELETE", f"sobjects/ContentDocument/{doc}")[0] == 204
    counts = v2.store.counts()
    assert counts["ContentDocument"] == counts["ContentVersion"] == 0
    assert counts["ContentDocumentLink"] == 0
    status, page = call(v2, "GET", "queryAll", q="SELECT Id, IsDeleted FROM ContentVersion")
    assert page["records"][0]["IsDeleted"] is True


def test_collections_all_or_none_rollback_removes_the_file(v2: Org) -> None:
    good = {
        "attributes": {"type": "ContentVersion"},
        "PathOnClient": "a.txt",
        "VersionData": base64.b64encode(b"hello").decode(),
    }
    bad = {**good, "ContentLocation": "X"}
    _status, body = call(
        v2, "POST", "composite/sobjects", {"allOrNone": True, "records": [good, bad]}
    )
    assert [r["success"] for r in body] == [False, False]
    assert v2.store.counts()["ContentVersion"] == v2.store.counts()["ContentDocument"] == 0
    assert list(v2.files.dir.iterdir()) == []


def test_seeded_files_are_deterministic_and_linked(tmp_path) -> None:
    def seeded(where: str) -> Org:
        org = Org(SandboxConfig(org="v1", state_dir=str(tmp_path / where)))
        options = SeedOptions(file_rate=0.5, file_kb=(1, 8))
        stats = seed_v1(org.store, 40, 3, 0.05, org.reference_ids, options, org.files)
        assert stats.files == org.store.counts()["ContentVersion"] > 10
        return org

    a, b = seeded("a"), seeded("b")
    rows = a.store.table("ContentVersion").rows
    assert rows == b.store.table("ContentVersion").rows
    for rid, row in rows.items():
        data = a.files.path(rid).read_bytes()
        assert hashlib.md5(data).hexdigest() == row["Checksum"] and len(data) == row["ContentSize"]
        assert 1024 <= len(data) <= 8192
        where = row["FirstPublishLocationId"]
        assert where[:3] in ("001", "500")
        doc = row["ContentDocumentId"]
        entities = {
            a.store.get("ContentDocumentLink", link)["LinkedEntityId"]
            for link in a.store.children("ContentDocumentLink", "ContentDocumentId", doc)
        }
        assert {where, row["OwnerId"]} <= entities
    assert any(
        len(
            list(
                a.store.children("ContentDocumentLink", "ContentDocumentId", r["ContentDocumentId"])
            )
        )
        == 3
        for r in rows.values()
    )
    pdf = next(r for r in rows if rows[r]["FileExtension"] == "pdf")
    assert a.files.path(pdf).read_bytes().startswith(b"%PDF-1.7")


def test_total_size_is_scaled(tmp_path) -> None:
    org = Org(SandboxConfig(org="v1", state_dir=str(tmp_path)))
    options = SeedOptions(file_rate=1.0, files_total_mb=2)
    stats = seed_v1(org.store, 20, 1, 0.05, None, options, org.files)
    assert stats.file_bytes == 2 * 1024 * 1024
    assert sum(p.stat().st_size for p in org.files.dir.iterdir()) == 2 * 1024 * 1024
