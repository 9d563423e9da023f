"""Salesforce Files: ContentVersion (the bytes), ContentDocument, ContentDocumentLink.

Why on disk: a seeded V1 org may hold hundreds of MB of files, so a version's bytes live in a
file under the sandbox's state dir (`files/<ContentVersion Id>`), never in the record store nor
in RAM; the record keeps the metadata Salesforce derives (Checksum, ContentSize, FileExtension,
FileType). Uploads are hashed while they are written and downloads are streamed from the file.

What follows Salesforce's docs ("Insert or Update Blob Data", REST API Developer Guide; the
ContentVersion, ContentDocument and ContentDocumentLink object references):
- a non-multipart (JSON, base64 VersionData) insert is "limited to 50 MB of text data or 37.5 MB
  of base64-encoded data"; a multipart/form-data insert (a JSON part, then the binary part)
  through sObject Basic Information or sObject Rows takes up to 2 GB for ContentVersion;
- inserting a ContentVersion without ContentDocumentId creates its ContentDocument;
  FirstPublishLocationId links the new document to that record; ContentDocumentId names an
  existing document: the insert is its new version (IsLatest moves to it);
- Checksum is the MD5 of the file; ContentSize its size in bytes;
- deleting a ContentDocument deletes its versions and links; a ContentDocumentLink query must
  filter on ContentDocumentId or LinkedEntityId (= or IN) ("Implementation restriction").

Not confirmed from the docs (chosen here, see docs/orgs.md): the status and code of an
over-limit file (400 MAXIMUM_SIZE_OF_DOCUMENT; 413 for a JSON body over 50 MB), the
Content-Type of a VersionData download (guessed from the file extension), the error of an insert
into ContentDocument or a delete of a ContentVersion (INVALID_TYPE_FOR_OPERATION), the link to
the owner that a new document gets besides its FirstPublishLocationId link, the
DUPLICATE_VALUE text of a second link between the same document and record, and the query
restriction's status code (400 MALFORMED_QUERY).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import os
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import SfError
from .store import Store

MB = 1024 * 1024
#: the decoded bytes of a base64 VersionData in a JSON (non-multipart) request: 37.5 MB
JSON_BLOB_MAX = int(37.5 * MB)
#: a non-multipart request body: 50 MB of text
JSON_BODY_MAX = 50 * MB
#: a ContentVersion's file through multipart/form-data (sObject Basic Information / Rows): 2 GB
MULTIPART_BLOB_MAX = 2 * 1024 * MB
CHUNK = 256 * 1024

_FILE_TYPES = {
    "pdf": "PDF",
    "txt": "TEXT",
    "csv": "CSV",
    "doc": "WORD",
    "docx": "WORD_X",
    "xls": "EXCEL",
    "xlsx": "EXCEL_X",
    "png": "PNG",
    "jpg": "JPG",
    "jpeg": "JPEG",
    "gif": "GIF",
    "html": "HTML",
    "zip": "ZIP",
}


@dataclass(frozen=True)
class Blob:
    """Bytes written to disk (an upload or a seeded file) and not yet owned by a record."""

    path: Path
    size: int
    md5: str


@dataclass(frozen=True)
class BinaryBody:
    """A response body that is a file: the server streams it (see server.py)."""

    path: Path
    size: int
    content_type: str


def too_large(size: int, limit: int, how: str) -> SfError:
    return SfError(
        400,
        "MAXIMUM_SIZE_OF_DOCUMENT",
        f"VersionData: the file is {size} bytes; {how} takes at most {limit} bytes"
        + ("; send larger files as multipart/form-data" if limit == JSON_BLOB_MAX else ""),
        ["VersionData"],
    )


class FileStore:
    """The files of one org: `<root>/files/<ContentVersion Id>`, uploads in `<root>/incoming`.

    `root` None: a temporary directory, removed when the store is closed or collected.
    Given a root, its `files` and `incoming` folders are emptied at start (the records that
    owned them lived in the memory of an earlier run).
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory | None = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="sandbox-files-")
            root = self._tmp.name
        self.root = Path(root)
        self.dir = self.root / "files"
        self.incoming = self.root / "incoming"
        self.aborted_uploads = 0  # uploads cut short and removed; tests wait on it
        for folder in (self.dir, self.incoming):
            folder.mkdir(parents=True, exist_ok=True)
            for stale in folder.iterdir():
                stale.unlink(missing_ok=True)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def path(self, rid: str) -> Path:
        return self.dir / rid

    def new_upload(self) -> Path:
        return self.incoming / uuid.uuid4().hex

    def write_chunks(self, chunks: Iterable[bytes], limit: int | None = None) -> Blob:
        """Write `chunks` to a new upload file, hashing as they come; nothing held in memory."""
        path = self.new_upload()
        md5 = hashlib.md5()
        size = 0
        try:
            with path.open("wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise too_large(size, limit, "a multipart/form-data insert")
                    md5.update(chunk)
                    out.write(chunk)
        except BaseException:
            self.discard_upload(path)
            raise
        return Blob(path, size, md5.hexdigest())

    def discard_upload(self, path: Path) -> None:
        """Remove an upload cut short (a closed connection, a size limit) and count it."""
        path.unlink(missing_ok=True)
        self.aborted_uploads += 1

    def keep(self, blob: Blob, rid: str) -> None:
        """The upload becomes the version's file."""
        os.replace(blob.path, self.path(rid))

    def write_bytes(self, rid: str, data: bytes) -> None:
        self.path(rid).write_bytes(data)

    def discard(self, rid: str) -> None:
        self.path(rid).unlink(missing_ok=True)


def decode_base64(raw: object) -> bytes:
    """VersionData of a JSON body: base64 text, at most 37.5 MB once decoded."""
    if not isinstance(raw, str):
        raise SfError(
            400,
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of base64 from a non-string value for field VersionData",
            ["VersionData"],
        )
    if len(raw) * 3 // 4 > JSON_BLOB_MAX + 3:
        raise too_large(len(raw) * 3 // 4, JSON_BLOB_MAX, "a JSON (base64) insert")
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SfError(
            400,
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of base64 for field VersionData: {exc}",
            ["VersionData"],
        ) from exc
    if len(data) > JSON_BLOB_MAX:
        raise too_large(len(data), JSON_BLOB_MAX, "a JSON (base64) insert")
    return data


def extension_of(path_on_client: str) -> str:
    name = path_on_client.replace("\\", "/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def content_type(extension: str) -> str:
    guessed, _ = mimetypes.guess_type(f"file.{extension}") if extension else (None, None)
    return guessed or "application/octet-stream"


def insert_version(
    store: Store,
    files: FileStore,
    values: dict,
    *,
    created: str | None = None,
    user: str | None = None,
) -> str:
    """Insert a ContentVersion whose `values["VersionData"]` is bytes (a JSON insert) or a Blob
    (multipart, or the seed's): derive its metadata, create its ContentDocument (or make it the
    latest version of the given one) and the document's links, and keep the bytes on disk.
    Runs in one store transaction: a failure leaves neither records nor file behind."""
    data = values.pop("VersionData")
    if isinstance(data, Blob):
        size, md5 = data.size, data.md5
    else:
        size, md5 = len(data), hashlib.md5(data).hexdigest()
    path_on_client = str(values.get("PathOnClient") or "")
    ext = extension_of(path_on_client)
    name = path_on_client.replace("\\", "/").rsplit("/", 1)[-1]
    title = values.get("Title") or (name.rsplit(".", 1)[0] if "." in name else name)
    owner = values.get("OwnerId") or user or store.default_user
    derived = {
        "Title": title,
        "Checksum": md5,
        "ContentSize": size,
        "FileExtension": ext or None,
        "FileType": _FILE_TYPES.get(ext, ext.upper() or "UNKNOWN"),
        "IsLatest": True,
        "ContentLocation": values.get("ContentLocation") or "S",
        "VersionData": True,  # read as the URL of the bytes (soql_eval, Org.record)
    }
    with store.transaction() as tx:
        try:
            doc_id = values.get("ContentDocumentId")
            if doc_id:
                versions = [
                    v
                    for v in store.children("ContentVersion", "ContentDocumentId", doc_id)
                    if (store.get("ContentVersion", v) or {}).get("IsLatest")
                ]
                for v in versions:
                    store.update("ContentVersion", v, {"IsLatest": False}, user=user)
                number = len(list(store.children("ContentVersion", "ContentDocumentId", doc_id)))
                derived["VersionNumber"] = str(number + 1)
            else:
                doc_id = store.insert(
                    "ContentDocument",
                    {"Title": title, "OwnerId": owner},
                    created=created,
                    user=user,
                )
                derived["VersionNumber"] = "1"
            rid = store.insert(
                "ContentVersion",
                {**values, **derived, "ContentDocumentId": doc_id, "OwnerId": owner},
                created=created,
                user=user,
            )
            doc = {
                "Title": title,
                "LatestPublishedVersionId": rid,
                "FileExtension": ext or None,
                "FileType": derived["FileType"],
                "ContentSize": size,
            }
            if created is None:
                store.update("ContentDocument", doc_id, doc, user=user)
            else:  # the seed: the document was created with its version, not modified after
                table = store.table("ContentDocument")
                row = table.rows[doc_id]
                table.unindex(doc_id, row)
                row.update(doc)
                table.index(doc_id, row)
            if not values.get("ContentDocumentId"):
                link = {"ContentDocumentId": doc_id, "ShareType": "I", "Visibility": "AllUsers"}
                store.insert(
                    "ContentDocumentLink",
                    {**link, "LinkedEntityId": owner},
                    created=created,
                    user=user,
                )
                where = values.get("FirstPublishLocationId")
                if where and where != owner:
                    store.insert(
                        "ContentDocumentLink",
                        {**link, "LinkedEntityId": where},
                        created=created,
                        user=user,
                    )
            if isinstance(data, Blob):
                files.keep(data, rid)
            else:
                files.write_bytes(rid, data)
            store.on_undo(lambda: files.discard(rid))
        except BaseException:
            tx.rollback()
            raise
    return rid


def check_link(store: Store, values: dict, rid: str | None = None) -> None:
    """A document is linked to a record once: a second link between them is refused."""
    doc, entity = values.get("ContentDocumentId"), values.get("LinkedEntityId")
    if not doc or not entity:
        return
    for other in store.children("ContentDocumentLink", "ContentDocumentId", doc):
        row = store.get("ContentDocumentLink", other) or {}
        if other != rid and row.get("LinkedEntityId") == entity:
            raise SfError(
                400,
                "DUPLICATE_VALUE",
                f"Document with ID: {doc} is already linked with the entity with ID: {entity}",
            )


def unsupported(obj_name: str, operation: str) -> SfError:
    return SfError(
        400,
        "INVALID_TYPE_FOR_OPERATION",
        f"entity type {obj_name} does not support {operation}",
    )


#: "Implementation restriction" of ContentDocumentLink queries
LINK_QUERY_RESTRICTION = (
    "Implementation restriction: ContentDocumentLink requires a filter by a single Id on "
    "ContentDocumentId or LinkedEntityId using the equals operator or multiple Id's using the "
    "IN operator."
)
