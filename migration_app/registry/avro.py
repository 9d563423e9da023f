"""Confluent wire-format Avro codec on our async registry client.

Wire format: magic byte 0, the writer schema's global id as 4 bytes big-endian, then the Avro
binary body (no container header). Decoding resolves the writer schema (fetched by id, cached)
against *our* reader schema, so both older and newer producers decode to the shape we expect.

Its errors (and the registry client's) are in ``registry_errors``.

The hot path (known schema id) is synchronous CPU work: no awaits, no I/O.
"""

from __future__ import annotations

import copy
import io
import struct
from typing import TYPE_CHECKING, Any

import fastavro
from fastavro.read import SchemaResolutionError

from migration_app.registry.errors import (
    EncodeError,
    PoisonMessage,
)

if TYPE_CHECKING:
    from migration_app.registry.client import RegistryClient

MAGIC = 0
HEADER = struct.Struct(">bI")
_MAX_HEADER_TEXT = 512


def encode_key(customer_id: str) -> bytes:
    """Message keys are the customer id as UTF-8, like Kafka's StringSerializer."""
    return customer_id.encode("utf-8")


def decode_key(key: bytes | None) -> str | None:
    return None if key is None else key.decode("utf-8", errors="replace")


class AvroCodec:
    """Encode/decode our subjects' values; ``reader_schemas`` maps subject -> our schema."""

    def __init__(self, registry: RegistryClient, reader_schemas: dict[str, dict[str, Any]]) -> None:
        self._registry = registry
        self._raw = {subject: copy.deepcopy(schema) for subject, schema in reader_schemas.items()}
        self._readers = {subject: _parse(schema) for subject, schema in reader_schemas.items()}
        self._writer_ids: dict[str, int] = {}
        self._writers: dict[int, Any] = {}  # schema id -> parsed writer schema

    async def start(self) -> None:
        """Register our schemas (idempotent) and remember their ids for :meth:`encode`."""
        for subject, raw in self._raw.items():
            schema_id = await self._registry.register(subject, raw)
            self._writer_ids[subject] = schema_id
            self._writers[schema_id] = self._readers[subject]

    def writer_id(self, subject: str) -> int:
        try:
            return self._writer_ids[subject]
        except KeyError:
            raise KeyError(f"{subject!r} not registered; call AvroCodec.start() first") from None

    def encode(self, record: dict[str, Any], writer: str) -> bytes:
        """Serialize ``record`` with the schema registered for subject ``writer`` (CPU only)."""
        schema_id = self.writer_id(writer)
        buffer = io.BytesIO()
        buffer.write(HEADER.pack(MAGIC, schema_id))
        try:
            fastavro.schemaless_writer(
                buffer, self._readers[writer], record, strict=True, strict_allow_default=True
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise EncodeError(f"record does not match {writer}: {exc}") from exc
        return buffer.getvalue()

    async def decode(self, value: bytes | None, reader: str) -> dict[str, Any]:
        """Decode a Confluent-framed value into a dict shaped by our schema for ``reader``.

        Awaits only on the first sight of a schema id; known ids decode without suspending.
        """
        reader_schema = self._readers[reader]
        schema_id, body = split_frame(value)
        writer_schema = self._writers.get(schema_id)
        if writer_schema is None:
            writer_schema = await self._writer(schema_id)
        return read_body(body, writer_schema, reader_schema, schema_id)

    async def _writer(self, schema_id: int) -> Any:
        raw = await self._registry.get_schema(schema_id)
        parsed = self._writers.get(schema_id)  # another decode may have parsed it meanwhile
        if parsed is None:
            try:
                parsed = _parse(raw)
            except Exception as exc:
                raise PoisonMessage(
                    "bad_writer_schema", f"schema {schema_id} does not parse: {exc}", schema_id
                ) from exc
            self._writers[schema_id] = parsed
        return parsed


def split_frame(value: bytes | None) -> tuple[int, memoryview]:
    """Check the 5-byte Confluent header; return (schema id, Avro body)."""
    if not value:
        raise PoisonMessage("empty_value", "message value is empty or null")
    if value[0] != MAGIC:
        raise PoisonMessage("bad_magic", f"magic byte is {value[0]}, expected {MAGIC}")
    if len(value) < HEADER.size:
        raise PoisonMessage("truncated", f"{len(value)} bytes, shorter than the 5-byte header")
    _, schema_id = HEADER.unpack_from(value)
    return schema_id, memoryview(value)[HEADER.size :]


def read_body(body: memoryview, writer: Any, reader: Any, schema_id: int) -> dict[str, Any]:
    """Resolve writer -> reader and read exactly one datum; anything wrong is poison."""
    stream = io.BytesIO(body)
    try:
        record = fastavro.schemaless_reader(stream, writer, reader)
    except SchemaResolutionError as exc:
        raise PoisonMessage(
            "unresolvable_schema", f"writer schema {schema_id} does not resolve: {exc}", schema_id
        ) from exc
    except (EOFError, StopIteration) as exc:
        raise PoisonMessage("truncated", f"body ends early: {exc!r}", schema_id) from exc
    except Exception as exc:
        raise PoisonMessage("undecodable", f"body does not decode: {exc!r}", schema_id) from exc
    if stream.tell() != len(body):
        raise PoisonMessage(
            "trailing_bytes",
            f"{len(body) - stream.tell()} bytes left after the record",
            schema_id,
        )
    if not isinstance(record, dict):
        raise PoisonMessage("undecodable", "body is not a record", schema_id)
    return record


def dlq_headers(
    exc: BaseException, topic: str, partition: int, offset: int
) -> list[tuple[str, bytes]]:
    """Kafka headers explaining why a message went to the DLQ (no payload data, no secrets)."""
    headers = [
        ("x-error-class", type(exc).__name__),
        ("x-error-message", str(exc)[:_MAX_HEADER_TEXT]),
        ("x-source-topic", topic),
        ("x-source-partition", str(partition)),
        ("x-source-offset", str(offset)),
    ]
    if isinstance(exc, PoisonMessage):
        headers.insert(1, ("x-error-reason", exc.reason))
        if exc.schema_id is not None:
            headers.append(("x-schema-id", str(exc.schema_id)))
    return [(name, text.encode("utf-8", errors="replace")) for name, text in headers]


def _parse(schema: Any) -> Any:
    """fastavro-parsed schema with its own name table, so reader and writer names never clash.

    The parse hint fastavro leaves in the result makes re-parsing inside schemaless_reader free.
    """
    return fastavro.parse_schema(schema, named_schemas={})
