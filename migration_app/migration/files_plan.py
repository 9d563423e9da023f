"""Which files travel with a customer, and how (pure: no I/O).

A customer's files are the latest ``ContentVersion`` of every ``ContentDocument`` linked
(``ContentDocumentLink.LinkedEntityId``) to one of its migrated records of the objects the mapping's
``files: linked_to`` names (Account and Case). Each becomes one V2 ContentVersion whose external id
(``files: external_id``, ``Legacy_Id__c``) is the V1 ContentVersion Id, published first on the V2
twin of one linked record (``FirstPublishLocationId``) and linked to the others with
``ContentDocumentLink`` rows.

Why an external id and not the ledger: the ledger is written with the customer's audit, after
the upload. A kill -9 between the upload and the audit leaves a file in V2 that no ledger row
names, and the next attempt would upload it again. A unique external id on ContentVersion makes
V2 itself refuse the second copy (``DUPLICATE_VALUE`` on create), and lets the next attempt ask
V2 which files it already holds (one query per batch by ``Legacy_Id__c``) and upload only the
others.

The queries are built here; the worker runs them (``worker/files.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from migration_app.migration.chunks import chunked
from migration_app.migration.salesforce_ids import checked_ids, soql_in_list

CONTENT_VERSION = "ContentVersion"
CONTENT_DOCUMENT = "ContentDocument"
CONTENT_DOCUMENT_LINK = "ContentDocumentLink"
#: the blob field of ContentVersion and the multipart part names Salesforce expects for it
BLOB_FIELD = "VersionData"
#: ids per SOQL ``IN (...)``: the query travels in a GET URL (~6 KB for 200 ids)
IDS_PER_QUERY = 200
#: Salesforce's limit for a blob sent base64 in a JSON body (REST API guide, "Insert or Update
#: Blob Data": 37.5 MB of base64-encoded data; multipart above it, up to 2 GB for ContentVersion)
BASE64_LIMIT_BYTES = 37_500_000 * 3 // 4
MULTIPART_LIMIT_BYTES = 2 * 1024**3
BASE64 = "base64"
MULTIPART = "multipart"

V1_VERSION_FIELDS = (
    "Id",
    "ContentDocumentId",
    "Title",
    "PathOnClient",
    "ContentSize",
    "Checksum",
    "Description",
)


class FilesSpecError(ValueError):
    """The mapping's ``files:`` section is malformed (the mapping loader names the file)."""


@dataclass(frozen=True, slots=True)
class FilesSpec:
    """The mapping's ``files:`` section."""

    #: V1 objects (mapped ones) whose linked files migrate, e.g. (Account, Case)
    linked_to: tuple[str, ...]
    #: the V2 ContentVersion field that holds the V1 ContentVersion Id (unique, external id)
    external_id: str = "Legacy_Id__c"


def parse_files_spec(raw: Any, mapped_sources: Sequence[str]) -> FilesSpec:
    """``{linked_to: [Account, Case], external_id: Legacy_Id__c}``; FilesSpecError says why not."""
    if not isinstance(raw, dict):
        raise FilesSpecError(f"files: expected a mapping, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in {"linked_to", "external_id"})
    if unknown:
        raise FilesSpecError(
            f"files: unknown key(s) {', '.join(unknown)} (allowed: external_id, linked_to)"
        )
    linked = raw.get("linked_to")
    if not isinstance(linked, list) or not linked or not all(isinstance(x, str) for x in linked):
        raise FilesSpecError("files.linked_to: a non-empty list of mapped V1 objects")
    for name in linked:
        if name not in mapped_sources:
            raise FilesSpecError(
                f"files.linked_to: {name!r} is not a mapped V1 object (mapped: "
                f"{', '.join(mapped_sources)})"
            )
    if len(set(linked)) != len(linked):
        raise FilesSpecError("files.linked_to: an object is listed twice")
    external_id = raw.get("external_id", "Legacy_Id__c")
    if not isinstance(external_id, str) or not external_id.replace("_", "").isalnum():
        raise FilesSpecError(f"files.external_id: a field API name, got {external_id!r}")
    return FilesSpec(tuple(linked), external_id)


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """A migrated record a file is linked to: its V2 object and its V1 Id (its external id)."""

    object: str
    legacy_id: str


@dataclass(frozen=True, slots=True)
class FileCopy:
    """One V1 file (its latest version) to hold in V2, with every record of the batch it is
    linked to. ``customers``: the customers whose records it is linked to (usually one); the
    first one owns the upload."""

    version_id: str  # V1 ContentVersion Id: the V2 external id
    document_id: str  # V1 ContentDocumentId
    title: str
    path_on_client: str
    size: int
    checksum: str | None  # MD5 hex as Salesforce computes it (V1's Checksum)
    description: str | None
    links: tuple[LinkTarget, ...]  # the first is FirstPublishLocationId
    customers: tuple[str, ...]

    @property
    def customer_id(self) -> str:
        return self.customers[0]

    def v2_fields(self, external_id: str, first_publish_location_id: str) -> dict[str, Any]:
        """The V2 ContentVersion's non-blob fields."""
        fields: dict[str, Any] = {
            "Title": self.title,
            "PathOnClient": self.path_on_client,
            external_id: self.version_id,
            "FirstPublishLocationId": first_publish_location_id,
        }
        if self.description:
            fields["Description"] = self.description
        return fields


def linked_documents(
    entities: Mapping[str, tuple[str, LinkTarget]], link_rows: Iterable[Mapping[str, Any]]
) -> set[str]:
    """The ContentDocument Ids linked to one of ``entities`` (compared on 15 characters)."""
    known = {key[:15] for key in entities}
    return {
        str(row["ContentDocumentId"])
        for row in link_rows
        if row.get("ContentDocumentId") and str(row.get("LinkedEntityId") or "")[:15] in known
    }


def version_queries(document_ids: Iterable[str]) -> list[str]:
    """V1 latest versions of these documents."""
    return _in_queries(
        f"SELECT {', '.join(V1_VERSION_FIELDS)} FROM ContentVersion "
        "WHERE ContentDocumentId IN ({ids}) AND IsLatest = true",
        document_ids,
    )


def v2_version_queries(external_id: str, legacy_ids: Iterable[str]) -> list[str]:
    """V2 ContentVersions carrying these V1 ContentVersion Ids."""
    return _in_queries(
        f"SELECT Id, ContentDocumentId, {external_id}, Checksum, ContentSize FROM ContentVersion "
        f"WHERE {external_id} IN ({{ids}})",
        legacy_ids,
    )


def v2_link_queries(document_ids: Iterable[str]) -> list[str]:
    """V2 links of these documents (to add the ones a file found in V2 still lacks)."""
    return _in_queries(
        "SELECT ContentDocumentId, LinkedEntityId FROM ContentDocumentLink "
        "WHERE ContentDocumentId IN ({ids})",
        document_ids,
    )


def v2_id_queries(target: str, external_id: str, legacy_ids: Iterable[str]) -> list[str]:
    """V2 Ids of migrated records by external id (for those the ledger of this attempt lacks)."""
    return _in_queries(
        f"SELECT Id, {external_id} FROM {target} WHERE {external_id} IN ({{ids}})", legacy_ids
    )


def _in_queries(template: str, ids: Iterable[str]) -> list[str]:
    return [
        template.format(ids=soql_in_list(chunk))
        for chunk in chunked(checked_ids(ids), IDS_PER_QUERY)
    ]


def plan_files(
    entities: Mapping[str, tuple[str, LinkTarget]],
    link_rows: Iterable[Mapping[str, Any]],
    version_rows: Iterable[Mapping[str, Any]],
    linked_to_order: Sequence[str] = (),
) -> list[FileCopy]:
    """The batch's files, one per V1 document, in a stable order.

    ``entities``: V1 record Id (any length; compared on 15 characters) -> (customer id, the
    record's link target). ``link_rows``/``version_rows``: the answers of ``link_queries`` and
    ``version_queries``. The first link (FirstPublishLocationId) is the most specific record:
    the object listed last in ``linked_to_order`` (a Case before its Account).
    """
    by_prefix = {key[:15]: value for key, value in entities.items()}
    links: dict[str, list[tuple[str, LinkTarget]]] = {}
    for row in link_rows:
        entity = by_prefix.get(str(row.get("LinkedEntityId") or "")[:15])
        document = str(row.get("ContentDocumentId") or "")
        if entity is None or not document:
            continue
        found = links.setdefault(document[:15], [])
        if entity not in found:
            found.append(entity)
    rank = {obj: index for index, obj in enumerate(linked_to_order)}
    files = []
    for row in version_rows:
        document = str(row.get("ContentDocumentId") or "")
        linked = links.get(document[:15])
        if not linked:
            continue
        linked.sort(key=lambda e: (-rank.get(e[1].object, -1), e[0], e[1].legacy_id))
        customers = tuple(dict.fromkeys(cid for cid, _ in linked))
        files.append(
            FileCopy(
                version_id=str(row["Id"]),
                document_id=document,
                title=str(row.get("Title") or ""),
                path_on_client=str(row.get("PathOnClient") or row.get("Title") or "file"),
                size=int(row.get("ContentSize") or 0),
                checksum=(str(row["Checksum"]).lower() if row.get("Checksum") else None),
                description=row.get("Description") or None,
                links=tuple(target for _, target in linked),
                customers=customers,
            )
        )
    files.sort(key=lambda f: (f.customer_id, f.version_id))
    return files


def transfer_kind(size: int, base64_max_bytes: int) -> str:
    """``base64`` (JSON, the file held encoded in memory: small files only) or ``multipart``
    (streamed). Never base64 above Salesforce's own limit, whatever the setting says."""
    return BASE64 if size <= min(base64_max_bytes, BASE64_LIMIT_BYTES) else MULTIPART


def missing_links(
    wanted: Iterable[tuple[str, str]], existing: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """(V2 ContentDocumentId, V2 record Id) pairs to link, compared on 15 characters."""
    have = {(d[:15], e[:15]) for d, e in existing}
    out = []
    for document, entity in wanted:
        key = (document[:15], entity[:15])
        if key not in have:
            have.add(key)
            out.append((document, entity))
    return out
