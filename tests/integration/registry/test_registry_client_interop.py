"""Third-party clients against our registry: python-schema-registry-client and confluent-kafka."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry import SchemaRegistryClient as ConfluentClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext
from schema_registry.client import AsyncSchemaRegistryClient, SchemaRegistryClient
from schema_registry.client.errors import ClientError

from migration_app.contracts.schemas import (
    CUSTOMER_SUBJECT,
    CUSTOMER_TOPIC,
    app_schemas,
    customer_schema,
)
from migration_app.registry.avro import AvroCodec
from migration_app.registry.client import RegistryClient, RegistrySettings

V1 = {"type": "record", "name": "Thing", "fields": [{"name": "a", "type": "string"}]}
V2 = {
    "type": "record",
    "name": "Thing",
    "fields": [{"name": "a", "type": "string"}, {"name": "b", "type": "int", "default": 0}],
}
BREAKING = {"type": "record", "name": "Thing", "fields": [{"name": "a", "type": "int"}]}


def _subject() -> str:
    return f"interop-{uuid.uuid4().hex[:8]}-value"


def test_python_sync_client_full_cycle(threaded_registry) -> None:
    client = SchemaRegistryClient(url=threaded_registry.url)
    subject = _subject()
    id1 = client.register(subject, V1)
    assert client.register(subject, V1) == id1
    id2 = client.register(subject, V2)
    assert id2 != id1
    assert client.get_by_id(id1).raw_schema == V1
    assert client.get_versions(subject) == [1, 2]
    latest = client.get_schema(subject)
    assert (latest.version, latest.schema_id) == (2, id2)
    assert client.get_schema(subject, version=1).schema_id == id1
    assert client.check_version(subject, V2).version == 2
    assert client.get_schema_subject_versions(id2)[0].subject == subject
    assert client.test_compatibility(subject, V2) is True
    assert client.test_compatibility(subject, BREAKING) is False
    verbose = client.test_compatibility(subject, BREAKING, verbose=True)
    assert verbose["is_compatible"] is False and verbose["messages"]
    with pytest.raises(ClientError) as incompatible:
        client.register(subject, BREAKING)
    assert incompatible.value.http_code == 409
    assert client.update_compatibility("NONE", subject) is True
    assert client.get_compatibility(subject) == "NONE"
    assert client.get_compatibility() == "BACKWARD"
    assert subject in client.get_subjects()
    assert client.delete_version(subject, 1) == 1
    assert client.get_versions(subject) == [2]
    assert client.delete_subject(subject) == [2]
    assert subject not in client.get_subjects()
    assert client.get_versions(subject) == []


async def test_python_async_client_full_cycle(threaded_registry) -> None:
    client = AsyncSchemaRegistryClient(url=threaded_registry.url)
    subject = _subject()
    schema_id = await client.register(subject, V1)
    assert (await client.get_by_id(schema_id)).raw_schema == V1
    assert await client.get_versions(subject) == [1]
    assert (await client.get_schema(subject)).schema_id == schema_id
    assert await client.test_compatibility(subject, V2) is True
    assert await client.test_compatibility(subject, BREAKING) is False
    assert await client.update_compatibility("FULL", subject) is True
    assert await client.get_compatibility(subject) == "FULL"
    assert await client.delete_subject(subject) == [1]
    assert await client.get_by_id(schema_id) is not None  # soft-deleted ids still resolve


def test_confluent_client_calls(threaded_registry) -> None:
    with ConfluentClient({"url": threaded_registry.url}) as client:
        _confluent_calls(client, _subject())


def _confluent_calls(client: ConfluentClient, subject: str) -> None:

    schema_id = client.register_schema(subject, Schema(json.dumps(V1), "AVRO"))
    assert client.get_schema(schema_id).schema_str is not None
    assert client.lookup_schema(subject, Schema(json.dumps(V1), "AVRO")).version == 1
    assert client.get_latest_version(subject).schema_id == schema_id
    assert client.get_versions(subject) == [1]
    assert client.test_compatibility(subject, Schema(json.dumps(V2), "AVRO")) is True
    client.set_compatibility(subject, "FORWARD")
    assert client.get_compatibility(subject) == "FORWARD"
    with pytest.raises(SchemaRegistryError) as missing:
        client.get_schema(999_999)
    assert missing.value.error_code == 40403
    assert client.delete_subject(subject) == [1]
    assert client.delete_subject(subject, permanent=True) == [1]
    with pytest.raises(SchemaRegistryError) as gone:
        client.get_versions(subject)
    assert gone.value.error_code == 40401


def _event() -> dict:
    now = dt.datetime.now(dt.UTC).replace(microsecond=123000)
    return {
        "customer_id": "001000000000000AAA",
        "occurred_at": now,
        "correlation_id": "corr-1",
        "requested_by": "crm",
        "dry_run": True,
        "force": False,
        "action": "MIGRATE",
    }


async def test_confluent_serializer_to_our_codec_and_back(threaded_registry) -> None:
    """confluent AvroSerializer -> AvroCodec.decode; AvroCodec.encode -> AvroDeserializer."""

    with ConfluentClient({"url": threaded_registry.url}) as confluent:
        await _round_trip(confluent, threaded_registry)


async def _round_trip(confluent: ConfluentClient, threaded_registry) -> None:
    ctx = SerializationContext(CUSTOMER_TOPIC, MessageField.VALUE)
    serializer = AvroSerializer(confluent, json.dumps(customer_schema()))
    deserializer = AvroDeserializer(confluent)
    event = _event()
    framed = serializer(event, ctx)
    assert framed[0] == 0
    # confluent-kafka 2.16 asks for data-contract associations first; our 404 sends it to
    # TopicNameStrategy, so the schema lands under customer-value.
    assert threaded_registry.hits[f"GET /associations/resources/-/{CUSTOMER_TOPIC}"] >= 1
    assert threaded_registry.hits[f"POST /subjects/{CUSTOMER_SUBJECT}/versions"] >= 1

    client = RegistryClient(RegistrySettings(threaded_registry.url))
    await client.start()
    try:
        codec = AvroCodec(client, app_schemas())
        await codec.start()
        assert await codec.decode(framed, CUSTOMER_SUBJECT) == event
        # Same schema under the same subject -> the id confluent registered.
        assert codec.writer_id(CUSTOMER_SUBJECT) == int.from_bytes(framed[1:5], "big")
        ours = codec.encode(event, CUSTOMER_SUBJECT)
    finally:
        await client.close()
    assert deserializer(ours, ctx) == event
