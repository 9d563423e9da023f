"""The pure side of files: the mapping's ``files:`` section, which files a batch carries (one per
V1 document, its latest version, linked to the batch's records, published on the most specific
one), the queries (chunked, ids checked), base64 or multipart, and the links still missing."""

from __future__ import annotations

import pytest

from migration_app.migration.files_plan import (
    BASE64,
    BASE64_LIMIT_BYTES,
    MULTIPART,
    FilesSpecError,
    LinkTarget,
    linked_documents,
    missing_links,
    parse_files_spec,
    plan_files,
    transfer_kind,
    v2_version_queries,
    version_queries,
)
from migration_app.migration.spec import MappingError, load_mapping, parse_mapping

ACC = "001A00000000001AAA"
CASE = "500A00000000001AAA"
OTHER_ACC = "001A00000000002AAA"


def test_the_files_section_names_mapped_objects_only() -> None:
    spec = parse_files_spec({"linked_to": ["Account", "Case"]}, ["Account", "Case"])
    assert spec.linked_to == ("Account", "Case") and spec.external_id == "Legacy_Id__c"
    for raw, message in (
        ({"linked_to": ["Task"]}, "not a mapped V1 object"),
        ({"linked_to": []}, "non-empty list"),
        ({"linked_to": ["Case", "Case"]}, "listed twice"),
        ({"linked_to": ["Case"], "extra": 1}, "unknown key"),
        ({"linked_to": ["Case"], "external_id": "a b"}, "field API name"),
    ):
        with pytest.raises(FilesSpecError, match=message):
            parse_files_spec(raw, ["Account", "Case"])


def test_a_bad_files_section_stops_the_mapping_with_the_file_named() -> None:
    text = load_mapping().source_path
    with open(text, encoding="utf-8") as handle:
        yaml_text = handle.read().replace("linked_to: [Account, Case]", "linked_to: [Lead]")
    with pytest.raises(MappingError, match=r"mapping.yaml: files.linked_to: 'Lead'"):
        parse_mapping(yaml_text, "mapping.yaml")


def _entities() -> dict[str, tuple[str, LinkTarget]]:
    return {
        ACC: (ACC, LinkTarget("Account", ACC)),
        CASE: (ACC, LinkTarget("Case", CASE)),
        OTHER_ACC: (OTHER_ACC, LinkTarget("Account", OTHER_ACC)),
    }


def _version(n: int, document: str, size: int = 10) -> dict:
    return {
        "Id": f"068A0000000000{n}AAA",
        "ContentDocumentId": document,
        "Title": f"file {n}",
        "PathOnClient": f"file{n}.pdf",
        "ContentSize": size,
        "Checksum": "ABCDEF",
    }


def test_one_file_per_document_published_on_the_most_specific_record() -> None:
    links = [
        {"ContentDocumentId": "069A00000000001AAA", "LinkedEntityId": ACC},
        {"ContentDocumentId": "069A00000000001AAA", "LinkedEntityId": CASE[:15]},  # 15 chars
        {"ContentDocumentId": "069A00000000002AAA", "LinkedEntityId": ACC},
        {"ContentDocumentId": "069A00000000003AAA", "LinkedEntityId": "005A00000000001AAA"},
    ]
    versions = [
        _version(1, "069A00000000001AAA"),
        _version(2, "069A00000000002AAA"),
        _version(3, "069A00000000003AAA"),  # linked to nothing of the batch (a user)
    ]
    files = plan_files(_entities(), links, versions, ("Account", "Case"))
    assert [f.document_id for f in files] == ["069A00000000001AAA", "069A00000000002AAA"]
    first = files[0]
    assert first.links == (LinkTarget("Case", CASE), LinkTarget("Account", ACC))
    assert first.customers == (ACC,) and first.checksum == "abcdef"
    fields = first.v2_fields("Legacy_Id__c", "V2CASE")
    assert fields == {
        "Title": "file 1",
        "PathOnClient": "file1.pdf",
        "Legacy_Id__c": first.version_id,
        "FirstPublishLocationId": "V2CASE",
    }


def test_a_document_shared_by_two_customers_is_one_file_for_both() -> None:
    links = [
        {"ContentDocumentId": "069A00000000001AAA", "LinkedEntityId": OTHER_ACC},
        {"ContentDocumentId": "069A00000000001AAA", "LinkedEntityId": ACC},
    ]
    (file,) = plan_files(_entities(), links, [_version(1, "069A00000000001AAA")], ("Account",))
    assert file.customers == (ACC, OTHER_ACC) and len(file.links) == 2


def test_queries_are_chunked_and_refuse_what_is_not_an_id() -> None:
    ids = [f"069A{n:011d}AAA" for n in range(450)]
    queries = version_queries(ids)
    assert len(queries) == 3 and all("ContentDocumentId IN (" in q for q in queries)
    assert "Legacy_Id__c IN ('068" in v2_version_queries("Legacy_Id__c", ["068A00000000001AAA"])[0]
    with pytest.raises(ValueError, match="not a Salesforce id"):
        version_queries(["x') OR Id != ('"])


def test_only_documents_linked_to_migrated_records_are_read() -> None:
    links = [
        {"ContentDocumentId": "069A00000000001AAA", "LinkedEntityId": ACC},
        # a semi-join's Case the transform rejected: not one of the entities
        {"ContentDocumentId": "069A00000000002AAA", "LinkedEntityId": "500A00000000009AAA"},
    ]
    assert linked_documents(_entities(), links) == {"069A00000000001AAA"}


def test_small_files_go_base64_and_never_above_salesforces_limit() -> None:
    assert transfer_kind(1000, 256 * 1024) == BASE64
    assert transfer_kind(300 * 1024, 256 * 1024) == MULTIPART
    assert transfer_kind(BASE64_LIMIT_BYTES + 1, 10**12) == MULTIPART


def test_missing_links_compare_on_15_characters() -> None:
    have = [("069A00000000001", "001A00000000001")]
    wanted = [
        ("069A00000000001AAA", "001A00000000001AAA"),
        ("069A00000000001AAA", "500A00000000001AAA"),
        ("069A00000000001AAA", "500A00000000001AAA"),
    ]
    assert missing_links(wanted, have) == [("069A00000000001AAA", "500A00000000001AAA")]
