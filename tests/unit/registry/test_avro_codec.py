"""Codec, records and contracts without a network: an in-memory registry stands in."""

from __future__ import annotations

import datetime as dt
import io

import fastavro
import pytest

from migration_app.contracts.events import (
    CustomerMigrationResult,
    CustomerReadyForMigration,
    MigrationIssue,
    ResultStatus,
)
from migration_app.contracts.schemas import (
    CUSTOMER_SUBJECT,
    RESULT_SUBJECT,
    app_schemas,
    customer_schema,
    result_schema,
    subject_for,
)
from migration_app.registry.avro import (
    HEADER,
    AvroCodec,
    decode_key,
    dlq_headers,
    encode_key,
    split_frame,
)
from migration_app.registry.client import RegistrySettings
from migration_app.registry.errors import (
    CodecError,
    EncodeError,
    PoisonMessage,
    RegistryUnavailable,
    SchemaNotFound,
)

NOW = dt.datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=dt.UTC)


class MemoryRegistry:
    """Enough of RegistryClient for the codec: ids by schema, schemas by id, call counts."""

    def __init__(self) -> None:
        self.by_id: dict[int, dict] = {}
        self.fetches = 0

    async def register(self, subject: str, schema: dict) -> int:
        for schema_id, known in self.by_id.items():
            if known == schema:
                return schema_id
        schema_id = len(self.by_id) + 1
        self.by_id[schema_id] = schema
        return schema_id

    async def get_schema(self, schema_id: int) -> dict:
        self.fetches += 1
        if schema_id not in self.by_id:
            raise SchemaNotFound(schema_id)
        return self.by_id[schema_id]


async def _codec() -> tuple[AvroCodec, MemoryRegistry]:
    registry = MemoryRegistry()
    codec = AvroCodec(registry, app_schemas())  # type: ignore[arg-type]
    await codec.start()
    return codec, registry


def _result() -> CustomerMigrationResult:
    return CustomerMigrationResult(
        customer_id="001000000000000AAA",
        status=ResultStatus.COMPLETED,
        attempt=2,
        v2_account_id="001000000000000BBB",
        counts={"Account": 1, "Contact": 2},
        warnings=[MigrationIssue(object="Contact", legacy_id="003", code="BAD_EMAIL", message="x")],
        errors=[
            MigrationIssue(
                object="Case", legacy_id="500", field="Description", code="TOO_LONG", message="y"
            )
        ],
        started_at=NOW,
        finished_at=NOW,
    )


async def test_records_round_trip_through_the_codec() -> None:
    codec, _ = await _codec()
    event = CustomerReadyForMigration(
        customer_id="001000000000000AAA", occurred_at=NOW, correlation_id="c", force=True
    )
    framed = codec.encode(event.to_avro(), CUSTOMER_SUBJECT)
    assert framed[:5] == HEADER.pack(0, codec.writer_id(CUSTOMER_SUBJECT))
    decoded = await codec.decode(framed, CUSTOMER_SUBJECT)
    assert CustomerReadyForMigration.from_avro(decoded) == event
    result = _result()
    back = await codec.decode(codec.encode(result.to_avro(), RESULT_SUBJECT), RESULT_SUBJECT)
    assert CustomerMigrationResult.from_avro(back) == result


async def test_known_id_decodes_without_suspending() -> None:
    codec, registry = await _codec()
    framed = codec.encode(_result().to_avro(), RESULT_SUBJECT)
    coro = codec.decode(framed, RESULT_SUBJECT)
    with pytest.raises(StopIteration) as done:
        coro.send(None)  # a coroutine that never awaits finishes on its first step
    assert done.value.value["customer_id"] == "001000000000000AAA"
    assert registry.fetches == 0


async def test_unknown_writer_fetched_once_then_cached() -> None:
    codec, registry = await _codec()
    older = customer_schema()
    older["fields"] = [
        f for f in older["fields"] if f["name"] not in ("force", "dry_run", "action")
    ]
    older_id = await registry.register(CUSTOMER_SUBJECT, older)
    buffer = io.BytesIO()
    buffer.write(HEADER.pack(0, older_id))
    record = {"customer_id": "1", "occurred_at": NOW, "correlation_id": "c", "requested_by": "r"}
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(older), record)
    for _ in range(3):
        decoded = await codec.decode(buffer.getvalue(), CUSTOMER_SUBJECT)
        assert decoded == {**record, "dry_run": False, "force": False, "action": "MIGRATE"}
    assert registry.fetches == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "empty_value"),
        (None, "empty_value"),
        (b"\x02\x00\x00\x00\x01\x00", "bad_magic"),
        (b"\x00\x00\x00\x01", "truncated"),
    ],
)
def test_frame_errors(value: bytes | None, reason: str) -> None:
    with pytest.raises(PoisonMessage) as caught:
        split_frame(value)
    assert caught.value.reason == reason


async def test_unknown_id_is_poison() -> None:
    codec, _ = await _codec()
    with pytest.raises(PoisonMessage) as caught:
        await codec.decode(HEADER.pack(0, 999) + b"\x00", CUSTOMER_SUBJECT)
    assert caught.value.reason == "unknown_schema_id"
    assert caught.value.schema_id == 999


async def test_encode_rejects_records_that_do_not_match() -> None:
    codec, _ = await _codec()
    with pytest.raises(EncodeError):
        codec.encode({"customer_id": 5}, CUSTOMER_SUBJECT)
    with pytest.raises(KeyError):
        codec.encode({}, "nobody-value")


def test_error_hierarchy_separates_permanent_from_transient() -> None:
    assert issubclass(PoisonMessage, CodecError) and issubclass(RegistryUnavailable, CodecError)
    assert not issubclass(RegistryUnavailable, PoisonMessage)
    assert issubclass(SchemaNotFound, PoisonMessage)


def test_dlq_headers() -> None:
    exc = PoisonMessage("bad_magic", "magic byte is 1", schema_id=None)
    headers = dict(dlq_headers(exc, "customer", 3, 42))
    assert headers == {
        "x-error-class": b"PoisonMessage",
        "x-error-reason": b"bad_magic",
        "x-error-message": b"bad_magic: magic byte is 1",
        "x-source-topic": b"customer",
        "x-source-partition": b"3",
        "x-source-offset": b"42",
    }
    long = dict(dlq_headers(RuntimeError("x" * 5000), "customer", 0, 0))
    assert len(long["x-error-message"]) == 512 and b"x-error-reason" not in long


def test_keys_are_plain_utf8() -> None:
    assert encode_key("001ABC") == b"001ABC"
    assert decode_key(b"001ABC") == "001ABC" and decode_key(None) is None


def test_settings_repr_masks_password() -> None:
    settings = RegistrySettings("http://r:8081", username="u", password="s3cret")
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings)
    assert "***" in repr(settings)


def test_records_mirror_the_schemas() -> None:
    def names(schema: dict) -> set[str]:
        return {f["name"] for f in schema["fields"]}

    assert names(customer_schema()) == set(CustomerReadyForMigration._options.fields)
    assert names(result_schema()) == set(CustomerMigrationResult._options.fields)
    by_name = {f["name"]: f for f in result_schema()["fields"]}
    assert names(by_name["warnings"]["type"]["items"]) == set(MigrationIssue._options.fields)
    status = by_name["status"]["type"]
    assert status["symbols"] == [s.value for s in ResultStatus]
    assert status["default"] == "UNKNOWN"
    assert subject_for("customer") == CUSTOMER_SUBJECT


def test_every_optional_field_has_a_default() -> None:
    required = {"customer_id", "occurred_at", "correlation_id", "started_at", "finished_at"}
    for schema in (customer_schema(), result_schema()):
        for field in schema["fields"]:
            assert field["name"] in required or "default" in field, field["name"]


def test_results_do_not_share_mutable_defaults() -> None:
    a = CustomerMigrationResult(customer_id="a", status="PENDING", started_at=NOW, finished_at=NOW)
    b = CustomerMigrationResult(customer_id="b", status="PENDING", started_at=NOW, finished_at=NOW)
    a.counts["Account"] = 1
    a.warnings.append(MigrationIssue(object="A", legacy_id="1", code="c", message="m"))
    assert b.counts == {} and b.warnings == []


def test_result_survives_faust_json_round_trip() -> None:
    result = _result()
    again = CustomerMigrationResult.loads(result.dumps())
    assert again.to_avro() == result.to_avro()
