"""Registry state rules (ids, versions, deletes, error codes) and schema canonical forms."""

from __future__ import annotations

import json

import pytest

from devstack.registry_server.canonical import InvalidSchema, parse
from devstack.registry_server.store import RegistryError, Store

V1 = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}
V2 = {
    "type": "record",
    "name": "R",
    "fields": [{"name": "a", "type": "string"}, {"name": "b", "type": "int", "default": 0}],
}


def _body(schema: object) -> dict:
    return {"schema": json.dumps(schema)}


def _code(call) -> int:
    with pytest.raises(RegistryError) as caught:
        call()
    return caught.value.error_code


def test_layout_does_not_matter_but_meaning_does() -> None:
    spaced = json.dumps(V1, indent=3)
    reordered = '{"fields":[{"type":"string","name":"a"}],"name":"R","type":"record"}'
    assert parse(spaced).canonical == parse(reordered).canonical == parse(V1).canonical
    with_ns = {**V1, "namespace": "x"}
    assert parse(with_ns).canonical == parse({**V1, "name": "x.R"}).canonical
    wrapped = {"type": "record", "name": "R", "fields": [{"name": "a", "type": {"type": "string"}}]}
    assert parse(wrapped).canonical == parse(V1).canonical
    default_changed = json.loads(json.dumps(V2))
    default_changed["fields"][1]["default"] = 1
    assert parse(default_changed).canonical != parse(V2).canonical
    logical = {"type": "long", "logicalType": "timestamp-millis"}
    assert parse(logical).canonical != parse('"long"').canonical


@pytest.mark.parametrize(
    "schema",
    [
        "{not json",
        {"type": "record", "name": "R"},
        {"type": "record", "name": "R", "fields": [{"name": "a"}]},
        {"type": "record", "name": "R", "fields": [{"type": "int"}]},
        {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}] * 2},
        {"type": "record", "name": "9R", "fields": []},
        {"type": "record", "name": "R", "fields": [{"name": "a-b", "type": "int"}]},
        {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int", "default": "1"}]},
        {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int", "default": 2**40}]},
        {"type": "record", "name": "R", "fields": [{"name": "a", "type": "boolean", "default": 0}]},
        {
            "type": "record",
            "name": "R",
            "fields": [{"name": "a", "type": ["null", "int"], "default": 3}],
        },
        {"type": "enum", "name": "E", "symbols": ["A", "A"]},
        {"type": "enum", "name": "E", "symbols": ["A"], "default": "Z"},
        {"type": "fixed", "name": "F", "size": -1},
        {"type": "array"},
        ["int", "int"],
        ["null", ["int"]],
        {"type": "Nope"},
        {"type": "record", "name": "R", "fields": [{"name": "a", "type": "R2"}]},
    ],
)
def test_invalid_schemas(schema: object) -> None:
    text = schema if isinstance(schema, str) else json.dumps(schema)
    with pytest.raises(InvalidSchema):
        parse(text)
    assert _code(lambda: Store.parse_request({"schema": text})) == 42201


def test_same_schema_same_id_across_subjects_and_versions() -> None:
    store = Store()
    id1 = store.register("a-value", Store.parse_request(_body(V1)))
    assert store.register("a-value", Store.parse_request(_body(V1))) == id1
    assert store.register("b-value", Store.parse_request(_body(V1))) == id1
    id2 = store.register("a-value", Store.parse_request(_body(V2)))
    assert id2 == id1 + 1
    assert store.version_numbers("a-value") == [1, 2]
    assert store.get_version("a-value", "latest").schema_id == id2
    assert store.get_version("a-value", "-1").version == 2
    assert store.versions_of_id(id1) == [("a-value", 1), ("b-value", 1)]


def test_error_codes() -> None:
    store = Store()
    store.register("s", Store.parse_request(_body(V1)))
    assert _code(lambda: store.version_numbers("missing")) == 40401
    assert _code(lambda: store.get_version("s", "9")) == 40402
    assert _code(lambda: store.get_version("s", "0")) == 42202
    assert _code(lambda: store.get_version("s", "abc")) == 42202
    assert _code(lambda: store.schema_by_id(99)) == 40403
    assert _code(lambda: store.lookup("s", Store.parse_request(_body(V2)))) == 40403
    assert _code(lambda: Store.normalise_level({"compatibility": "SIDEWAYS"})) == 42203
    assert Store.normalise_level({"compatibility": "full_transitive"}) == "FULL_TRANSITIVE"
    breaking = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}
    with pytest.raises(RegistryError) as caught:
        store.register("s", Store.parse_request(_body(breaking)))
    assert (caught.value.status, caught.value.error_code) == (409, 409)
    assert _code(lambda: store.incompatibilities("nope", parse(V1), "3")) == 40402
    assert store.incompatibilities("nope", parse(V1), "latest") == []


def test_soft_then_permanent_delete() -> None:
    store = Store()
    schema_id = store.register("s", Store.parse_request(_body(V1)))
    store.register("s", Store.parse_request(_body(V2)))
    assert _code(lambda: store.delete_subject("s", permanent=True)) == 40405
    assert _code(lambda: store.delete_version("s", "1", permanent=True)) == 40407
    assert store.delete_version("s", "1", permanent=False) == 1
    assert store.version_numbers("s") == [2]
    assert store.version_numbers("s", deleted=True) == [1, 2]
    assert store.schema_by_id(schema_id).canonical == parse(V1).canonical  # still resolves
    assert store.delete_subject("s", permanent=False) == [2]
    assert _code(lambda: store.delete_subject("s", permanent=False)) == 40404
    assert store.subject_names() == [] and store.subject_names(deleted=True) == ["s"]
    assert _code(lambda: store.version_numbers("s")) == 40401
    # Re-registering after a soft delete continues the version numbers.
    assert store.register("s", Store.parse_request(_body(V1))) == schema_id
    assert store.version_numbers("s") == [3]
    store.delete_subject("s", permanent=False)
    assert store.delete_subject("s", permanent=True) == [1, 2, 3]
    assert _code(lambda: store.schema_by_id(schema_id)) == 40403
    assert store.register("s", Store.parse_request(_body(V1))) == schema_id  # id is stable
    assert store.version_numbers("s") == [1]


def test_snapshot_restore_keeps_ids_versions_and_levels() -> None:
    store = Store()
    store.register("s", Store.parse_request(_body(V1)))
    store.register("s", Store.parse_request(_body(V2)))
    store.delete_version("s", "1", permanent=False)
    store.subject_levels["s"] = "FULL"
    store.global_level = "NONE"
    copy = Store()
    copy.restore(json.loads(json.dumps(store.snapshot())))
    assert copy.snapshot() == store.snapshot()
    assert copy.register("t", Store.parse_request(_body(V2))) == 2


def test_rejected_schemas_need_a_valid_body() -> None:
    assert _code(lambda: Store.parse_request({"nothing": 1})) == 42201
    assert _code(lambda: Store.parse_request({**_body(V1), "schemaType": "PROTOBUF"})) == 42201
    assert _code(lambda: Store.parse_request({**_body(V1), "references": [{"name": "x"}]})) == 42201
    assert Store.parse_request({**_body(V1), "schemaType": "AVRO", "references": []})
