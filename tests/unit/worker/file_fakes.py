"""In-memory V1 and V2 file stores for FileLoader: V1 answers the ContentDocumentLink and
ContentVersion queries and serves VersionData (whole or as a stream read in pieces); V2 keeps
Salesforce's rules for a ContentVersion insert (a unique external id: DUPLICATE_VALUE on a
second create; Checksum = MD5 of the bytes; FirstPublishLocationId becomes the first link) and
counts what a test asserts on: calls, the largest body held, concurrent uploads."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from migration_app.salesforce.errors import SalesforcePermanentError, SalesforceTransientError

EXTERNAL_ID = "Legacy_Id__c"


def _ids_in(soql: str) -> list[str]:
    match = re.search(r"IN \(([^)]*)\)", soql)
    return [x.strip("'") for x in match.group(1).split(",")] if match else []


@dataclass
class V1File:
    version_id: str
    document_id: str
    data: bytes
    linked: list[str]  # V1 record ids
    title: str = "bill.pdf"

    @property
    def checksum(self) -> str:
        return hashlib.md5(self.data).hexdigest()


class FakeStream:
    def __init__(self, data: bytes, owner: FakeFileSource) -> None:
        self._data, self._at, self._owner = data, 0, owner
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        n = len(self._data) if n is None or n < 0 else n
        piece = self._data[self._at : self._at + n]
        self._at += len(piece)
        self._owner.largest_read = max(self._owner.largest_read, len(piece))
        return piece

    def close(self) -> None:
        self.closed = True


class FakeFileSource:
    def __init__(self, files: list[V1File]) -> None:
        self.files = {f.version_id: f for f in files}
        self.queries: list[str] = []
        self.downloads: list[str] = []
        self.streams: list[FakeStream] = []
        self.largest_read = 0
        #: a version id whose download fails with this many transient errors first
        self.transient: dict[str, int] = {}

    async def query_all(self, soql: str) -> list[dict[str, Any]]:
        self.queries.append(soql)
        ids = {i[:15] for i in _ids_in(soql)}
        if "FROM ContentDocumentLink" in soql:
            # the semi-join through the accounts' Cases: this fake knows no Case's account, so
            # it answers every Case link (as a semi-join may: the files plan keeps its own)
            cases = "(SELECT Id FROM Case WHERE AccountId IN" in soql
            return [
                {"ContentDocumentId": f.document_id, "LinkedEntityId": entity}
                for f in self.files.values()
                for entity in f.linked
                if (entity.startswith("500") if cases else entity[:15] in ids)
            ]
        if "FROM ContentVersion" in soql:
            return [
                {
                    "Id": f.version_id,
                    "ContentDocumentId": f.document_id,
                    "Title": f.title,
                    "PathOnClient": f.title,
                    "ContentSize": len(f.data),
                    "Checksum": f.checksum,
                    "Description": None,
                }
                for f in self.files.values()
                if f.document_id[:15] in ids
            ]
        raise AssertionError(soql)

    def _file(self, path: str) -> V1File:
        version = path.split("/")[2]
        if self.transient.get(version):
            self.transient[version] -= 1
            raise SalesforceTransientError("HTTP 503")
        self.downloads.append(version)
        return self.files[version]

    async def download(self, path: str) -> bytes:
        return self._file(path).data

    async def open_download(self, path: str) -> FakeStream:
        stream = FakeStream(self._file(path).data, self)
        self.streams.append(stream)
        return stream


@dataclass
class V2Version:
    id: str
    document_id: str
    fields: dict[str, Any]
    data: bytes
    links: list[str] = field(default_factory=list)


class FakeFileTarget:
    """V2: ContentVersions by external id, their links, and V2 record ids ``V2<legacy>``."""

    def __init__(self, *, fail: dict[str, str] | None = None) -> None:
        self.versions: dict[str, V2Version] = {}  # external id -> version
        self.queries: list[str] = []
        self.inserts: list[tuple[str, str]] = []  # (mode, external id)
        self.link_calls: list[int] = []
        self.fail = fail or {}  # external id -> error code
        self.in_flight = 0
        self.peak_in_flight = 0
        self.largest_body_piece = 0
        #: lose the answer of the next insert of this external id (stored, then 503)
        self.lose_answer: set[str] = set()

    async def query_all(self, soql: str) -> list[dict[str, Any]]:
        self.queries.append(soql)
        ids = _ids_in(soql)
        if "FROM ContentVersion" in soql:
            return [
                {
                    "Id": v.id,
                    "ContentDocumentId": v.document_id,
                    EXTERNAL_ID: key,
                    "Checksum": hashlib.md5(v.data).hexdigest(),
                    "ContentSize": len(v.data),
                }
                for key, v in self.versions.items()
                if key in ids
            ]
        if "FROM ContentDocumentLink" in soql:
            return [
                {"ContentDocumentId": v.document_id, "LinkedEntityId": entity}
                for v in self.versions.values()
                if v.document_id in ids
                for entity in v.links
            ]
        target = soql.split(" FROM ", 1)[1].split(" ", 1)[0]
        return [{"Id": "V2" + i, EXTERNAL_ID: i} for i in ids if target]

    def _store(self, mode: str, fields: dict[str, Any], data: bytes) -> dict[str, Any]:
        key = fields[EXTERNAL_ID]
        self.inserts.append((mode, key))
        if key in self.fail:
            raise SalesforcePermanentError(
                "HTTP 400", 400, [{"errorCode": self.fail[key], "message": "refused"}]
            )
        if key in self.versions:
            message = f"duplicate value found: {EXTERNAL_ID} duplicates value on record with id"
            raise SalesforcePermanentError(
                "HTTP 400", 400, [{"errorCode": "DUPLICATE_VALUE", "message": message}]
            )
        n = len(self.versions) + 1
        version = V2Version(f"068V2{n:013d}", f"069V2{n:013d}", dict(fields), data)
        version.links.append(fields["FirstPublishLocationId"])
        self.versions[key] = version
        if key in self.lose_answer:
            self.lose_answer.discard(key)
            raise SalesforceTransientError("HTTP 503 (answer lost)")
        return {"id": version.id, "success": True, "errors": []}

    async def insert_blob(self, sobject, fields, data, blob_field) -> dict[str, Any]:
        assert sobject == "ContentVersion" and blob_field == "VersionData"
        encoded = base64.b64encode(data)  # what the JSON body would carry
        self.largest_body_piece = max(self.largest_body_piece, len(encoded))
        return self._store("base64", fields, data)

    async def insert_blob_stream(self, sobject, body) -> dict[str, Any]:
        assert sobject == "ContentVersion"
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            received = bytearray()
            while piece := body.read(16384):
                self.largest_body_piece = max(self.largest_body_piece, len(piece))
                received += piece  # the fake V2 keeps the file; the worker never did
            assert len(received) == len(body)
            _head, _, rest = bytes(received).partition(b"\r\n\r\n")
            entity, _, rest = rest.partition(b"\r\n--")
            _, _, blob = rest.partition(b"\r\n\r\n")
            data = blob[: -len(f"\r\n--{body.boundary}--\r\n")]

            return self._store("multipart", json.loads(entity), data)
        finally:
            self.in_flight -= 1

    async def create_collection(self, records, *, allow_duplicates: bool = False):
        self.link_calls.append(len(records))
        results = []
        by_document = {v.document_id: v for v in self.versions.values()}
        for record in records:
            version = by_document[record["ContentDocumentId"]]
            if record["LinkedEntityId"] in version.links:
                results.append({"success": False, "errors": [{"statusCode": "DUPLICATE_VALUE"}]})
                continue
            version.links.append(record["LinkedEntityId"])
            results.append({"success": True, "id": "06A" + str(len(version.links))})
        return results
