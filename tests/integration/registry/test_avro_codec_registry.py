"""AvroCodec + RegistryClient against a real registry server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import io
import json
import os
import socket
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import fastavro
import psutil
import pytest

from migration_app.contracts.schemas import (
    CUSTOMER_SUBJECT,
    RESULT_SUBJECT,
    app_schemas,
    customer_schema,
)
from migration_app.registry.avro import HEADER, AvroCodec
from migration_app.registry.client import RegistryClient, RegistrySettings
from migration_app.registry.errors import PoisonMessage, RegistryRejected, RegistryUnavailable

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)


def _event(**overrides: object) -> dict:
    base = {
        "customer_id": "001000000000000AAA",
        "occurred_at": NOW,
        "correlation_id": "corr-1",
        "requested_by": "crm",
        "dry_run": False,
        "force": False,
        "action": "MIGRATE",
    }
    return {**base, **overrides}


def _frame(schema_id: int, schema: dict, record: dict) -> bytes:
    buffer = io.BytesIO()
    buffer.write(HEADER.pack(0, schema_id))
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema, named_schemas={}), record)
    return buffer.getvalue()


def _variant(drop: tuple[str, ...] = (), add: tuple[dict, ...] = ()) -> dict:
    schema = customer_schema()
    schema["fields"] = [f for f in schema["fields"] if f["name"] not in drop] + list(add)
    return schema


async def _register_raw(url: str, subject: str, schema: dict) -> int:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
        session.post(
            f"{url}/subjects/{subject}/versions", json={"schema": json.dumps(schema)}
        ) as r,
    ):
        body = await r.json(content_type=None)
        assert r.status == 200, body
        return int(body["id"])


@pytest.fixture
async def codec(registry) -> AsyncIterator[AvroCodec]:
    client = RegistryClient(RegistrySettings(registry.url, total_timeout=2.0))
    await client.start()
    codec = AvroCodec(client, app_schemas())
    await codec.start()
    try:
        yield codec
    finally:
        await client.close()


async def test_round_trip_and_registration_is_idempotent(registry, codec) -> None:
    for subject in (CUSTOMER_SUBJECT, RESULT_SUBJECT):
        assert codec.writer_id(subject) >= 1
    framed = codec.encode(_event(), CUSTOMER_SUBJECT)
    assert await codec.decode(framed, CUSTOMER_SUBJECT) == _event()
    client = RegistryClient(RegistrySettings(registry.url))
    async with client:
        again = AvroCodec(client, app_schemas())
        await again.start()
        assert again.writer_id(CUSTOMER_SUBJECT) == codec.writer_id(CUSTOMER_SUBJECT)


async def test_older_and_newer_producers_decode_to_our_shape(registry, codec) -> None:
    older = _variant(drop=("requested_by", "dry_run", "force"))
    newer = _variant(add=({"name": "channel", "type": "string", "default": "web"},))
    older_id = await _register_raw(registry.url, "legacy-producer-value", older)
    newer_id = await _register_raw(registry.url, CUSTOMER_SUBJECT, newer)  # BACKWARD-compatible
    old_record = {k: v for k, v in _event().items() if k in ("customer_id", "occurred_at")}
    old_record["correlation_id"] = "corr-1"
    decoded_old = await codec.decode(_frame(older_id, older, old_record), CUSTOMER_SUBJECT)
    assert decoded_old == _event(requested_by="unknown")  # defaults fill the gaps
    decoded_new = await codec.decode(
        _frame(newer_id, newer, {**_event(), "channel": "app"}), CUSTOMER_SUBJECT
    )
    assert decoded_new == _event()  # unknown writer field skipped


async def test_bad_input_raises_poison_with_reason(registry, codec) -> None:
    good = codec.encode(_event(), CUSTOMER_SUBJECT)
    own_id = codec.writer_id(CUSTOMER_SUBJECT)
    wrong_type = _variant(drop=("customer_id",), add=({"name": "customer_id", "type": "int"},))
    wrong_id = await _register_raw(registry.url, "other-producer-value", wrong_type)
    bad_utf8 = HEADER.pack(0, own_id) + b"\x04\xff\xfe" + good[5 + 19 :]
    cases = {
        b"": "empty_value",
        b"\x01" + good[1:]: "bad_magic",
        b"\x00\x00\x00": "truncated",
        good[:-4]: "truncated",
        HEADER.pack(0, 424242) + good[5:]: "unknown_schema_id",
        good + b"\x00\x01": "trailing_bytes",
        bad_utf8: "undecodable",
        _frame(wrong_id, wrong_type, {**_event(), "customer_id": 7}): "unresolvable_schema",
    }
    for value, reason in cases.items():
        with pytest.raises(PoisonMessage) as caught:
            await codec.decode(value, CUSTOMER_SUBJECT)
        assert caught.value.reason == reason, (value[:12], caught.value)
    with pytest.raises(PoisonMessage):
        await codec.decode(None, CUSTOMER_SUBJECT)


async def test_concurrent_misses_are_single_flighted(registry, codec) -> None:
    newer = _variant(add=({"name": "channel", "type": "string", "default": "web"},))
    newer_id = await _register_raw(registry.url, "single-flight-value", newer)
    framed = _frame(newer_id, newer, {**_event(), "channel": "app"})
    path = f"GET /schemas/ids/{newer_id}"
    results = await asyncio.gather(*(codec.decode(framed, CUSTOMER_SUBJECT) for _ in range(50)))
    assert results == [_event()] * 50
    assert registry.hits[path] == 1
    await codec.decode(framed, CUSTOMER_SUBJECT)
    assert registry.hits[path] == 1  # cached forever

    unknown = HEADER.pack(0, 987654) + framed[5:]
    outcomes = await asyncio.gather(
        *(codec.decode(unknown, CUSTOMER_SUBJECT) for _ in range(20)), return_exceptions=True
    )
    assert all(isinstance(o, PoisonMessage) and o.reason == "unknown_schema_id" for o in outcomes)
    assert registry.hits["GET /schemas/ids/987654"] == 1


async def test_incompatible_writer_schema_is_rejected_at_start(registry) -> None:
    breaking = _variant(drop=("customer_id",), add=({"name": "customer_id", "type": "int"},))
    async with RegistryClient(RegistrySettings(registry.url)) as client:
        await AvroCodec(client, app_schemas()).start()
        with pytest.raises(RegistryRejected) as caught:
            await AvroCodec(client, {CUSTOMER_SUBJECT: breaking}).start()
    assert caught.value.status == 409


async def test_ping(registry) -> None:
    async with RegistryClient(RegistrySettings(registry.url)) as client:
        await client.ping()
    assert registry.hits["GET /config"] == 1


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _connections_to(port: int) -> int:
    return sum(
        1 for c in psutil.Process().net_connections(kind="tcp") if c.raddr and c.raddr.port == port
    )


async def _settle(predicate: Callable[[], bool], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)  # yield so closed transports finish closing
    return predicate()


async def test_silent_registry_times_out_and_leaks_nothing() -> None:
    """A peer that accepts TCP (kernel backlog) but never answers: bounded failure, no leaks."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        gc.collect()  # earlier tests' garbage must not close fds during our measurement
        tasks_before = len(asyncio.all_tasks())
        fds_before = _open_fds()

        client = RegistryClient(RegistrySettings(url, connect_timeout=0.5, total_timeout=0.5))
        await client.start()
        codec = AvroCodec(client, app_schemas())
        framed = HEADER.pack(0, 77) + b"\x00"
        outcomes = await asyncio.wait_for(  # the client's 0.5 s timeout ends it; 30 s: hang guard
            asyncio.gather(
                *(codec.decode(framed, CUSTOMER_SUBJECT) for _ in range(5)),
                return_exceptions=True,
            ),
            30,
        )
        assert all(isinstance(o, RegistryUnavailable) for o in outcomes), outcomes
        # It was the client's own timeout that ended them (not a refusal or a reset).
        assert all("timed out" in str(o) for o in outcomes), outcomes
        assert all(isinstance(o.__cause__, TimeoutError) for o in outcomes), outcomes
        assert client.requests == 1  # the five waiters shared one request
        with pytest.raises(RegistryUnavailable):
            await client.ping()
        # Timed-out connections are dropped, not returned to the pool, even before close().
        assert await _settle(lambda: _connections_to(port) == 0), _connections_to(port)
        await client.close()

        assert await _settle(lambda: len(asyncio.all_tasks()) == tasks_before), asyncio.all_tasks()
        assert await _settle(lambda: _connections_to(port) == 0), _connections_to(port)
        assert await _settle(lambda: _open_fds() <= fds_before), (_open_fds(), fds_before)


async def test_refused_connection_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connections are refused
        async with RegistryClient(RegistrySettings(f"http://127.0.0.1:{port}")) as client:
            with pytest.raises(RegistryUnavailable):
                await client.get_schema(1)
            with pytest.raises(RegistryUnavailable):
                await client.register(CUSTOMER_SUBJECT, customer_schema())


async def test_rollback_schema_changes_are_compatible_with_the_previous_release(registry) -> None:
    """The result enum gains ROLLED_BACK and the customer event gains `action` (with a default):
    the registry, at its BACKWARD default, accepts both over the schemas of the last release."""
    import copy

    schemas = app_schemas()
    previous_result = copy.deepcopy(schemas[RESULT_SUBJECT])
    status = next(f for f in previous_result["fields"] if f["name"] == "status")
    status["type"]["symbols"].remove("ROLLED_BACK")
    previous_customer = copy.deepcopy(schemas[CUSTOMER_SUBJECT])
    previous_customer["fields"] = [f for f in previous_customer["fields"] if f["name"] != "action"]
    async with RegistryClient(RegistrySettings(registry.url)) as client:
        await AvroCodec(
            client, {RESULT_SUBJECT: previous_result, CUSTOMER_SUBJECT: previous_customer}
        ).start()
        await AvroCodec(client, schemas).start()  # raises RegistryRejected if incompatible
        old = await client.register(RESULT_SUBJECT, previous_result)
        new = await client.register(RESULT_SUBJECT, schemas[RESULT_SUBJECT])
    assert old != new  # two versions of the subject, the new one accepted
