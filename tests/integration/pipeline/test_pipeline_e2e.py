"""End to end: `customer` events -> worker -> V1 extract -> V2 upserts -> audit -> result events.

Real Tansu broker, PostgreSQL, schema registry and the two sandbox orgs (tests/conftest.py), and
real `migration-app worker` processes. Every test migrates its own customers (customer_pool) and
checks V2 only for their Legacy_Id__c values.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest
from aiokafka import AIOKafkaProducer

from devstack.changelog_fill import fill_changelog
from devstack.sandbox.ids import checksum
from migration_app.contracts.customer_status import TERMINAL_STATUSES
from migration_app.contracts.events import CustomerReadyForMigration
from migration_app.contracts.schemas import (
    CUSTOMER_SUBJECT,
    CUSTOMER_TOPIC,
    RESULT_TOPIC,
    load_schema,
)
from migration_app.registry.avro import AvroCodec
from migration_app.registry.client import RegistryClient, RegistrySettings
from tests.integration.pipeline.audit_rows import issue_codes
from tests.integration.pipeline.expectations import assert_v2_matches, run_of
from tests.integration.pipeline.harness import StackHarness
from tests.integration.pipeline.worker_pool import READY_PATH
from tests.integration.pipeline.worker_probes import LogCursor, get_json, metric
from tests.support.polling import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]


# --- expectations shared by several tests -----------------------------------------------------


def only_result(events: dict[str, list[dict[str, Any]]], cid: str, attempt: int) -> dict[str, Any]:
    """The single result event of a customer that had exactly this one attempt."""
    assert [e["attempt"] for e in events[cid]] == [attempt], (cid, events[cid])
    return events[cid][0]


def assert_one_result_per_attempt(
    harness: StackHarness,
    ids: list[str],
    before: dict[str, int],
    states: dict[str, dict[str, Any]],
) -> dict[str, list[dict[str, Any]]]:
    """Every result event of the customers' attempts since ``before`` (at-least-once delivery
    may give a customer more than one attempt): no attempt has two result events, each event is
    backed by the audit row of its attempt, and the final attempt has its event."""
    events = harness.wait_result_events(states, before)
    runs = harness.audit_runs(ids)
    for cid in ids:
        attempts = [e["attempt"] for e in events[cid]]
        assert len(attempts) == len(set(attempts)), f"{cid}: duplicate result events {attempts}"
        assert max(attempts) == states[cid]["attempt"], (cid, attempts, states[cid])
        for event in events[cid]:
            run = run_of(runs, cid, event["attempt"])
            assert (run["status"], run["correlation_id"]) == (
                event["status"],
                event["correlation_id"],
            )
    return events


def assert_counts_match_the_table(harness: StackHarness, workers: list[Any]) -> None:
    """The workers' /migrations/summary (counts kept at each write, rebuilt once per
    assignment) add up to the statuses in the table's changelog, every customer of it."""
    last: dict[str, Any] = {}

    def agree() -> bool:
        summaries = [get_json(f"{w.url}/migrations/summary")[1] or {} for w in workers]
        if any(s.get("counting") != [] for s in summaries):
            return False
        counted: Counter[str] = Counter()
        for summary in summaries:
            counted.update(summary["by_status"])
        truth = Counter(s["status"] for s in harness.all_states().values())
        last.update(counted=dict(counted), truth=dict(truth))
        return counted == truth

    try:
        wait_for(agree, timeout=30, interval=0.5)
    except AssertionError:
        raise AssertionError(f"summary counts differ from the table: {last}") from None


def committed_within(harness: StackHarness, ends: dict[int, int]) -> dict[int, int | None]:
    """The group's committed offsets, asserting none is past ``ends`` (the first new event)."""
    committed = {p: c for p, (c, _) in harness.group_offsets().items()}
    past = {p: (c, ends[p]) for p, c in committed.items() if c is not None and c > ends[p]}
    assert not past, f"offsets committed past the held events (committed, first held): {past}"
    return committed


def end_offsets(harness: StackHarness) -> dict[int, int]:
    return {p: end for p, (_, end) in harness.group_offsets().items()}


def wait_committed(harness: StackHarness, ends: dict[int, int], timeout: float = 60.0) -> None:
    """Until the group has committed every event up to ``ends``."""

    def done() -> bool:
        return all((c or 0) >= ends[p] for p, (c, _) in harness.group_offsets().items())

    wait_for(done, timeout=timeout, interval=0.3)


# --- 1. the happy path, cross-checked four ways ----------------------------------------------


def test_customers_migrate_and_state_audit_results_and_v2_agree(
    harness, customer_pool, shared_worker
):
    ids = customer_pool.take(10)
    w = shared_worker
    states = harness.migrate(w, ids)
    runs = harness.audit_runs(ids)
    events = harness.wait_result_events(states)

    for cid in ids:
        state = states[cid]
        result = only_result(events, cid, state["attempt"])
        run = run_of(runs, cid, state["attempt"])
        attempts = {r["attempt"] for r in runs if r["customer_id"] == cid}
        assert set(range(1, state["attempt"] + 1)) <= attempts, "one audit row per attempt"
        if state["status"] == "FAILED":  # only an unmigratable V1 Account may fail
            assert run["rejected"].get("Account"), (cid, state["last_error"])
        else:
            assert state["status"] == "COMPLETED", (cid, state)
            assert state["v2_account_id"] and result["v2_account_id"] == state["v2_account_id"]
        assert run["status"] == result["status"] == state["status"]
        assert run["correlation_id"] == state["correlation_id"]
        assert run["counts"] == result["counts"] == (state["counts"] or {})
        warnings = [i for i in run["issues"] if i["severity"] == "warning"]
        errors = [i for i in run["issues"] if i["severity"] == "error"]
        assert state["warnings"] == len(warnings) == len(result["warnings"])
        assert state["errors"] == len(errors) == len(result["errors"])
        assert issue_codes(warnings) == issue_codes(result["warnings"])
        assert issue_codes(errors) == issue_codes(result["errors"])

    assert_v2_matches(harness, ids, states)


# --- 2. duplicates are skipped, forced re-migrations leave no duplicates ----------------------


def test_duplicate_is_skipped_and_forced_remigration_adds_no_records(
    harness, customer_pool, shared_worker
):
    ids = customer_pool.take(4)
    w = shared_worker
    first = harness.migrate(w, ids)
    assert {s["status"] for s in first.values()} == {"COMPLETED"}
    v2_before, records_before = harness.v2_counts(ids), harness.v2_record_ids(ids)
    audit_before = len(harness.audit_runs(ids))

    duplicates = "migration_app_duplicate_events_total"
    skipped_before = metric(w, duplicates)
    harness.enqueue(ids)

    wait_for(lambda: metric(w, duplicates) - skipped_before >= len(ids), timeout=30, interval=0.2)
    # A duplicate changes no state: not even updated_at moves in the changelog.
    assert harness.states(ids) == first
    assert harness.v2_counts(ids) == v2_before
    assert len(harness.audit_runs(ids)) == audit_before

    forced = harness.migrate(w, ids, force=True)
    for cid, state in forced.items():
        assert state["status"] == "COMPLETED"
        assert state["attempt"] == first[cid]["attempt"] + 1
    assert harness.v2_counts(ids) == v2_before
    assert harness.v2_record_ids(ids) == records_before, "a forced re-migration created records"
    assert len(harness.audit_runs(ids)) == audit_before + len(ids)
    assert_v2_matches(harness, ids, forced)


# --- 4. a flaky V2 ------------------------------------------------------------------------------


def test_v2_answering_500_to_a_fifth_of_calls_still_completes(
    harness, customer_pool, shared_worker
):
    ids = customer_pool.take(8)
    w = shared_worker
    log = LogCursor(w)  # the shared worker's log holds earlier tests' lines: read only ours
    # Two 500s for certain (the graph strategy makes few V2 calls), then a fifth at random.
    harness.faults("v2", error_rates={"500": 0.2}, fail_next={"500": 2})
    states = harness.migrate(w, ids, timeout=90)
    harness.faults("v2")
    assert {cid: s["status"] for cid, s in states.items()} == dict.fromkeys(ids, "COMPLETED")
    assert "HTTP 500" in log.text(), "no injected 500 was seen"
    assert_v2_matches(harness, ids, states)


# --- 5. customers that are not in V1 ------------------------------------------------------------


def _unknown_account_id() -> str:
    """Well formed (right prefix, length and checksum) but from an org code the sandbox never
    issues, so no V1 Account has it."""
    base = "001Zz0" + uuid.uuid4().hex[:9]
    return base + checksum(base)


def test_unknown_and_malformed_customers_fail_clearly(harness, customer_pool, shared_worker):
    good = customer_pool.take(2)
    unknown, malformed = _unknown_account_id(), f"not-an-id-{uuid.uuid4().hex[:8]}"
    expected = {
        unknown: ("CUSTOMER_NOT_FOUND", "not found in V1"),
        malformed: ("INVALID_ID", "invalid customer id"),
    }
    ids = [*good, unknown, malformed]  # one batch: bad ids must not fail the good ones
    w = shared_worker
    states = harness.migrate(w, ids)
    runs = harness.audit_runs(ids)
    events = harness.wait_result_events(states)

    for cid in good:
        assert states[cid]["status"] == "COMPLETED", states[cid]
        only_result(events, cid, states[cid]["attempt"])
    for cid, (code, text) in expected.items():
        state = states[cid]
        result = only_result(events, cid, state["attempt"])
        run = run_of(runs, cid, state["attempt"])
        assert state["status"] == run["status"] == result["status"] == "FAILED"
        assert text in state["last_error"] and cid in state["last_error"]
        assert run["error"] == state["last_error"]
        assert [(i["severity"], i["code"], i["legacy_id"]) for i in run["issues"]] == [
            ("error", code, cid)
        ]
        assert [(i["code"], i["legacy_id"]) for i in result["errors"]] == [(code, cid)]
        assert result["v2_account_id"] is None and result["counts"] == {}
    assert harness.v2_counts([unknown]) == dict.fromkeys(harness.v2_counts([unknown]), 0)


# --- 6. dirty data --------------------------------------------------------------------------


def test_dirty_data_gives_warnings_and_errors_in_audit(harness, customer_pool, shared_worker):
    dirty = customer_pool.dirty
    kinds = {"missing_last_name", "invalid_email", "long_description"}
    assert kinds <= dirty.keys(), f"seed has no customer for {kinds - dirty.keys()}"
    ids = sorted({cid for cid, _ in dirty.values()})
    w = shared_worker
    states = harness.migrate(w, ids)
    runs = harness.audit_runs(ids)

    def issues(kind: str) -> list[tuple[str, str, str | None]]:
        cid, record = dirty[kind]
        run = run_of(runs, cid, states[cid]["attempt"])
        return [
            (i["severity"], i["code"], i["field"])
            for i in run["issues"]
            if i["legacy_id"] == record
        ]

    assert ("error", "REQUIRED_MISSING", "LastName") in issues("missing_last_name")
    assert ("warning", "VALUE_DROPPED", "Email") in issues("invalid_email")
    assert ("warning", "TRUNCATED", "Description") in issues("long_description")
    for cid in ids:
        state = states[cid]
        run = run_of(runs, cid, state["attempt"])
        assert state["status"] == "COMPLETED", "a rejected child must not fail the customer"
        assert state["warnings"] == sum(i["severity"] == "warning" for i in run["issues"])
        assert state["errors"] == sum(i["severity"] == "error" for i in run["issues"])

    # What reached V2: the contact without a last name did not, the others did, cleaned.
    assert harness.v2_ids("Contact", [dirty["missing_last_name"][1]]) == []
    email_contact = dirty["invalid_email"][1]
    rows = harness.sf2.query(f"SELECT Email FROM Contact WHERE Legacy_Id__c = '{email_contact}'")
    assert [r["Email"] for r in rows["records"]] == [None]
    case_id = dirty["long_description"][1]
    rows = harness.sf2.query(f"SELECT Description FROM Case WHERE Legacy_Id__c = '{case_id}'")
    assert [len(r["Description"]) for r in rows["records"]] == [4000]
    assert_v2_matches(harness, ids, states)


# --- 8. poison messages go to the DLQ ------------------------------------------------------------


def _customer_event(customer_id: str, requested_by: str) -> CustomerReadyForMigration:
    return CustomerReadyForMigration(
        customer_id=customer_id,
        occurred_at=datetime.now(UTC),
        correlation_id=str(uuid.uuid4()),
        requested_by=requested_by,
    )


def _frame(schema_id: int, schema: Any, record: dict[str, Any]) -> bytes:
    """Confluent wire format written directly with fastavro (any writer schema, not ours)."""
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema, named_schemas={}), record)
    return buffer.getvalue()


async def _register(harness: StackHarness, subject: str, schema: Any) -> int:
    """Register ``schema`` under ``subject`` in the session registry (not the customer subject)."""
    async with RegistryClient(RegistrySettings(url=harness.settings.registry_url)) as registry:
        return await registry.register(subject, schema)


async def _good_event_bytes(harness: StackHarness, customer_id: str) -> tuple[int, bytes]:
    registry = RegistryClient(RegistrySettings(url=harness.settings.registry_url))
    async with registry:
        codec = AvroCodec(registry, {CUSTOMER_SUBJECT: load_schema(CUSTOMER_SUBJECT)})
        await codec.start()
        event = _customer_event(customer_id, "e2e-dlq")
        return codec.writer_id(CUSTOMER_SUBJECT), codec.encode(event.to_avro(), CUSTOMER_SUBJECT)


async def _produce(harness: StackHarness, key: bytes, values: list[bytes | None]) -> list[int]:
    """Send in order (one record per produce request); the offsets they were written at."""
    bootstrap = [s.removeprefix("kafka://") for s in harness.settings.faust_broker()]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await producer.start()
    offsets = []
    try:
        for value in values:
            sent = await asyncio.wait_for(
                producer.send_and_wait(CUSTOMER_TOPIC, value, key=key), 15
            )
            offsets.append(sent.offset)
    finally:
        await producer.stop()
    return offsets


# A record type that is not ours: its id exists in the registry, but it does not resolve to our
# reader schema (another record name).
UNRELATED_SCHEMA = {
    "type": "record",
    "name": "Unrelated",
    "namespace": "e2e.poison",
    "fields": [{"name": "n", "type": "long"}],
}
# Valid for the registry, but fastavro cannot parse it (a decimal needs a positive precision).
BAD_WRITER_SCHEMA = {
    "type": "record",
    "name": "BadDecimal",
    "namespace": "e2e.poison",
    "fields": [
        {
            "name": "amount",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": -1, "scale": 0},
        }
    ],
}


def test_every_poison_kind_goes_to_dlq_once_and_the_worker_keeps_consuming(
    harness, customer_pool, shared_worker
):
    (cid,) = customer_pool.take(1)
    key = cid.encode()
    schema_id, good = harness.run(_good_event_bytes(harness, cid))
    run = uuid.uuid4().hex[:8]
    unrelated_id = harness.run(_register(harness, f"e2e-unrelated-{run}-value", UNRELATED_SCHEMA))
    bad_id = harness.run(_register(harness, f"e2e-bad-writer-{run}-value", BAD_WRITER_SCHEMA))
    assert len({schema_id, unrelated_id, bad_id}) == 3
    body = good[5:]
    poison: list[tuple[str, bytes | None]] = [
        ("empty_value", b""),
        ("empty_value", None),  # a tombstone
        ("bad_magic", b"\x01" + good[1:]),
        ("truncated", good[:3]),  # shorter than the header
        ("truncated", good[:-2]),  # the body ends early
        ("unknown_schema_id", b"\x00" + struct.pack(">I", 900_000 + schema_id) + body),
        ("undecodable", good[:5] + b"\xff" * 8),
        ("trailing_bytes", good + b"\x00\x00"),
        ("unresolvable_schema", _frame(unrelated_id, UNRELATED_SCHEMA, {"n": 7})),
        ("bad_writer_schema", struct.pack(">bI", 0, bad_id) + b"\x02\x07"),
    ]
    assert {reason for reason, _ in poison} == {
        "empty_value", "bad_magic", "truncated", "unknown_schema_id", "undecodable",
        "trailing_bytes", "unresolvable_schema", "bad_writer_schema",
    }  # fmt: skip
    w = shared_worker
    before = harness.attempts([cid])
    # Same key as the good event: same partition, so the good event comes after all of them.
    offsets = harness.run(_produce(harness, key, [value for _, value in poison]))
    harness.enqueue([cid])
    states = harness.wait_terminal(w, [cid], before)
    assert states[cid]["status"] == "COMPLETED"
    assert states[cid]["attempt"] == before[cid] + 1, "poison started a migration"
    assert w.running()

    wait_for(lambda: len(harness.dlq_messages(key)) >= len(poison), timeout=30, interval=0.3)
    dlq = harness.dlq_messages(key)  # everything written so far, duplicates included
    by_offset = {int(m["headers"]["x-source-offset"]): m for m in dlq}
    assert len(dlq) == len(poison) == len(by_offset), [m["headers"] for m in dlq]
    assert sorted(by_offset) == offsets
    for offset, (reason, value) in zip(offsets, poison, strict=True):
        message = by_offset[offset]
        headers = message["headers"]
        assert headers["x-error-reason"].decode() == reason, (reason, headers)
        assert (message["value"] or b"") == (value or b"")
        assert headers["x-source-topic"] == CUSTOMER_TOPIC.encode()
        assert headers["x-error-class"] and headers["x-error-message"]
    bad = by_offset[offsets[-1]]["headers"]
    assert bad["x-schema-id"] == str(bad_id).encode()
    only_result(harness.wait_result_events(states, before), cid, states[cid]["attempt"])


# --- 9. interop with confluent-kafka -----------------------------------------------------------


def test_confluent_kafka_producer_event_migrates_and_result_decodes(
    harness, customer_pool, shared_worker
):
    from aiokafka.partitioner import murmur2
    from confluent_kafka import Producer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    (cid,) = customer_pool.take(1)
    w = shared_worker
    before = harness.attempts([cid])
    bootstrap = ",".join(s.removeprefix("kafka://") for s in harness.settings.faust_broker())
    registry = SchemaRegistryClient({"url": harness.settings.registry_url, "timeout": 5})
    serializer = AvroSerializer(registry, json.dumps(load_schema(CUSTOMER_SUBJECT)))
    correlation_id = str(uuid.uuid4())
    value = serializer(
        {
            "customer_id": cid,
            "occurred_at": datetime.now(UTC),
            "correlation_id": correlation_id,
            "requested_by": "confluent-kafka",
            "dry_run": False,
            "force": False,
        },
        SerializationContext(CUSTOMER_TOPIC, MessageField.VALUE),
    )
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "partitioner": "murmur2_random",
            "message.timeout.ms": 15000,
            "socket.timeout.ms": 10000,
        }
    )
    delivered: list[Any] = []
    producer.produce(
        CUSTOMER_TOPIC,
        value=value,
        key=cid.encode(),
        on_delivery=lambda e, m: delivered.append((e, m)),
    )
    assert producer.flush(20) == 0, "confluent-kafka producer did not deliver"
    ((error, message),) = delivered
    assert error is None, error
    partitions = len(
        producer.list_topics(CUSTOMER_TOPIC, timeout=10).topics[CUSTOMER_TOPIC].partitions
    )
    assert message.partition() == (murmur2(cid.encode()) & 0x7FFFFFFF) % partitions

    states = harness.wait_terminal(w, [cid], before)
    assert states[cid]["status"] == "COMPLETED"
    assert states[cid]["correlation_id"] == correlation_id

    deserializer = AvroDeserializer(registry)
    context = SerializationContext(RESULT_TOPIC, MessageField.VALUE)

    def ours(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        decoded = [deserializer(m["value"], context) for m in msgs if m["key"] == cid.encode()]
        return [d for d in decoded if d["correlation_id"] == correlation_id]

    mine = ours(harness.raw_messages(RESULT_TOPIC, ours))
    assert [(d["customer_id"], d["status"]) for d in mine] == [(cid, "COMPLETED")]
    assert mine[0]["counts"] == states[cid]["counts"]


# --- 10. the operators' view of one customer -------------------------------------------------


def test_state_view_answers_after_a_run(harness, customer_pool, shared_worker):
    """GET /migrations/{id} (Faust table_route) answers with the table's state after a run."""
    (cid,) = customer_pool.take(1)
    w = shared_worker
    state = harness.migrate(w, [cid])[cid]

    def answered() -> Any:
        status, body = harness.view_state(w, cid)
        return body if status == 200 else None

    try:
        body = wait_for(answered, timeout=15, interval=0.2)
    except AssertionError:
        status, body = harness.view_state(w, cid)
        raise AssertionError(f"/migrations/{cid} answers {status}: {body}") from None
    assert body["status"] == "COMPLETED"
    assert body["attempt"] == state["attempt"]
    assert body["correlation_id"] == state["correlation_id"]


# --- 12. dry run ------------------------------------------------------------------------------


def test_dry_run_writes_nothing_to_v2_and_is_audited(harness, customer_pool, shared_worker):
    ids = customer_pool.take(3)
    w = shared_worker
    before = harness.attempts(ids)
    harness.enqueue(ids, dry_run=True)
    states = harness.wait_terminal(w, ids, before)
    runs = harness.audit_runs(ids)
    events = harness.wait_result_events(states, before)
    v1 = harness.v1_counts(ids)
    for cid, state in states.items():
        assert state["status"] == "DRY_RUN", (cid, state)
        assert state["v2_account_id"] is None
        run = run_of(runs, cid, state["attempt"])
        result = only_result(events, cid, state["attempt"])
        assert run["status"] == result["status"] == "DRY_RUN"
        assert run["correlation_id"] == result["correlation_id"] == state["correlation_id"]
        assert run["counts"] == result["counts"] == state["counts"]
        assert state["counts"].get("Account") == 1, "the preview counts what would be written"
    assert len(runs) == len(ids), "one audit row per customer"
    assert v1["Account"] == len(ids)
    assert harness.v2_counts(ids) == dict.fromkeys(harness.v2_counts(ids), 0), "dry run wrote V2"

    # A preview does not count as migrated: the next plain request migrates for real.
    real = harness.migrate(w, ids)
    for cid, state in real.items():
        assert state["status"] == "COMPLETED"
        assert state["attempt"] == states[cid]["attempt"] + 1
    assert_v2_matches(harness, ids, real)


# Tests with exclusive workers last: each stops the shared worker (fewer restarts).

# --- 3. SIGKILL mid-run, restart ---------------------------------------------------------------


def readiness(worker: Any) -> tuple[int, dict[str, Any]]:
    return get_json(f"{worker.url}{READY_PATH}")


def kill_mid_run(
    harness: StackHarness, worker: Any, ids: list[str], before: dict[str, int]
) -> None:
    """Enqueue with slow V2 calls, SIGKILL ``worker`` once a first customer completes, and check
    that work was left over; V2 is fast again afterwards."""
    # ~1.6 s per batch of 2: with two workers of 3 batches in flight each, 14 customers still
    # take two rounds, so the kill lands while the second one runs
    harness.faults("v2", latency_ms=400)
    harness.enqueue(ids)

    def some_completed() -> dict[str, Any] | None:
        states = harness.states(ids)
        fresh = [s for cid, s in states.items() if s and s["attempt"] > before[cid]]
        return states if any(s["status"] == "COMPLETED" for s in fresh) else None

    at_kill = wait_for(some_completed, timeout=60, interval=0.1)
    worker.kill()
    harness.faults("v2")
    unfinished = [
        cid
        for cid, s in at_kill.items()
        if not (s and s["attempt"] > before[cid] and s["status"] in TERMINAL_STATUSES)
    ]
    assert unfinished, "the kill landed after the run: nothing left to resume"


STORES = pytest.mark.parametrize("store", ["memory://", "rocksdb://"])


def replayed(worker: Any) -> int:
    """Changelog records the worker replayed into its own partitions while recovering (counted
    by the table's on_changelog_event callback, shown by /health/ready once it is ready)."""
    status, body = readiness(worker)
    assert status == 200, body
    return int(body["changelog_replayed"]["active"])


@STORES
def test_worker_killed_mid_run_resumes_without_duplicates(
    harness, customer_pool, exclusive_worker, tmp_path, store
):
    ids = customer_pool.take(14)
    # Both workers use one data dir: the restarted pod on its own volume.
    env = {"MIGRATION_BATCH_SIZE": "2", "MIGRATION_STORE": store}
    env["MIGRATION_DATA_DIR"] = str(tmp_path / "volume")
    # A table worth recovering even when this test runs alone: 1,000 COMPLETED entries of
    # customers that exist nowhere else, written to the changelog as the table writes them.
    harness.run(fill_changelog(harness.settings, 1000, prefix=f"KILL{store[0].upper()}"), 60)
    first = exclusive_worker(**env)
    full_replay = replayed(first)  # a fresh data dir: the whole changelog, either store
    assert full_replay >= 1000, full_replay
    before = harness.attempts(ids)
    kill_mid_run(harness, first, ids, before)

    second = exclusive_worker(**env)
    restart_replay = replayed(second)
    if store == "rocksdb://":
        # Only the tail written since the last offset RocksDB persisted (the writes whose
        # changelog ack the kill beat), against the whole changelog the first start replayed.
        assert restart_replay <= full_replay // 20, (restart_replay, full_replay)
    else:
        assert restart_replay >= full_replay, (restart_replay, full_replay)  # all of it, again
    states = harness.wait_terminal(second, ids, before, timeout=90)
    assert {cid: s["status"] for cid, s in states.items()} == dict.fromkeys(ids, "COMPLETED")
    assert_one_result_per_attempt(harness, ids, before, states)
    assert_v2_matches(harness, ids, states)
    assert_counts_match_the_table(harness, [second])  # rebuilt from the kept volume + live


@STORES
def test_a_kill_between_the_result_and_the_state_loses_no_result_event(
    harness, customer_pool, exclusive_worker, tmp_path, store
):
    """The worker kills itself (SIGKILL) at the exact point between its two writes of a
    customer's end: the result event and the terminal state. Whatever it wrote first must not
    claim more than is durable: after the restart every customer's final attempt has its
    result event (the old order, state first, left COMPLETED in RocksDB and no result)."""
    ids = customer_pool.take(4)
    env = {"MIGRATION_BATCH_SIZE": "4", "MIGRATION_STORE": store}
    env["MIGRATION_DATA_DIR"] = str(tmp_path / "volume")  # the restarted pod's own volume
    before = harness.attempts(ids)
    first = exclusive_worker(**env, MIGRATION_FAULT_KILL_AT="between-result-and-state")
    harness.enqueue(ids)
    wait_for(first.exited, timeout=60, interval=0.1)
    assert first.returncode == -9, first.exit_report()
    assert "fault point between-result-and-state reached" in first.log_tail(200)

    second = exclusive_worker(**env)
    states = harness.wait_terminal(second, ids, before, timeout=90)
    # What the restarted worker itself serves (with RocksDB: its local store, which the kill
    # could not lose), not only the changelog.
    served = {cid: harness.view_state(second, cid) for cid in ids}
    for cid, (status, body) in served.items():
        assert status == 200, (cid, body)
        assert (body["status"], body["attempt"]) == ("COMPLETED", states[cid]["attempt"]), cid
    assert_one_result_per_attempt(harness, ids, before, states)


def test_records_written_by_an_attempt_killed_before_its_audit_are_not_taken_for_preexisting(
    harness, customer_pool, exclusive_worker, tmp_path
):
    """Killed after V2 committed the customers' graphs, before the audit: the next attempt finds
    the records in V2 (Salesforce says "updated"). The ledger must not call them updated (a
    rollback would then leave what this project created, as if it had been there before): it
    records them as uncertain, the run says why, and rollback keeps and names them."""
    ids = customer_pool.take(2)
    env = {"MIGRATION_BATCH_SIZE": "2", "MIGRATION_DATA_DIR": str(tmp_path / "volume")}
    before = harness.attempts(ids)
    first = exclusive_worker(**env, MIGRATION_FAULT_KILL_AT="between-load-and-audit")
    harness.enqueue(ids)
    wait_for(first.exited, timeout=60, interval=0.1)
    assert first.returncode == -9, first.exit_report()

    second = exclusive_worker(**env)
    states = harness.wait_terminal(second, ids, before, timeout=90)
    runs = harness.audit_runs(ids)
    for cid in ids:
        run = run_of(runs, cid, states[cid]["attempt"])
        assert run["status"] == "COMPLETED"
        assert ("INTERRUPTED_ATTEMPT", cid, "Account") in issue_codes(run["issues"]), run
        actions = {a for _, _, a in harness.ledger(cid)}
        assert actions == {"uncertain"}, (cid, actions)  # the attempt-1 writes were ours


# --- 3b. two workers share the group; one is killed, the other finishes its work -------------


@STORES
def test_two_workers_share_partitions_and_the_survivor_finishes_a_killed_peers_work(
    harness, customer_pool, exclusive_worker, store
):
    warm, ids = customer_pool.take(4), customer_pool.take(14)
    batch = {"MIGRATION_BATCH_SIZE": "2", "MIGRATION_STORE": store}
    first = exclusive_worker(**batch)
    alone = readiness(first)[1]["assigned_partitions"]  # every partition of every topic
    second = exclusive_worker(**batch)  # its join rebalances the group

    def shared() -> list[int] | None:
        answers = [readiness(w) for w in (first, second)]
        counts = [body.get("assigned_partitions") or 0 for _, body in answers]
        ready = all(status == 200 for status, _ in answers)
        return counts if ready and all(0 < n < alone for n in counts) else None

    wait_for(shared, timeout=60, interval=0.2)

    # Both serve every customer's state: @app.table_route forwards to the owner of the key.
    states = harness.migrate(second, warm)
    for worker in (first, second):
        for cid in warm:
            status, body = harness.view_state(worker, cid)
            assert status == 200, (worker.name, cid, body)
            assert body["status"] == "COMPLETED" and body["attempt"] == states[cid]["attempt"]

    before = harness.attempts(ids)
    kill_mid_run(harness, first, ids, before)

    states = harness.wait_terminal(second, ids, before, timeout=90)
    assert {cid: s["status"] for cid, s in states.items()} == dict.fromkeys(ids, "COMPLETED")
    assert_one_result_per_attempt(harness, ids, before, states)
    assert_v2_matches(harness, ids, states)
    wait_for(lambda: readiness(second)[1].get("assigned_partitions") == alone, timeout=30)
    # Its counts, kept incrementally across the rebalances and the peer's death, agree with
    # the table (the changelog): the summary of the survivor, which now owns every partition.
    assert_counts_match_the_table(harness, [second])


# --- 7. PostgreSQL down mid-run -----------------------------------------------------------------


def test_postgres_down_holds_completion_until_audit_is_written(
    harness, customer_pool, exclusive_worker, stoppable_postgres
):
    """While PostgreSQL is down nothing is finished: no terminal state, no result event, no
    committed offset past the held events, while the worker keeps retrying the audit; once it
    is back every customer completes exactly once, audited."""
    pg = stoppable_postgres
    warm, ids = customer_pool.take(1), customer_pool.take(5)
    w = exclusive_worker(MIGRATION_DATABASE_URL=pg.uri, MIGRATION_DATABASE_TIMEOUT="2")
    harness.migrate(w, warm)  # the worker is consuming and its audit schema exists

    pg.stop()
    try:
        retries = metric(w, "migration_app_retries_total", kind="database")
        held_from = end_offsets(harness)  # each partition's first new event is at this offset
        before = harness.attempts(ids)
        harness.enqueue(ids)
        held_until = end_offsets(harness)
        started: set[str] = set()

        def held_while_down() -> bool:
            for cid, s in harness.states(ids).items():
                if s and s["attempt"] > before[cid]:
                    assert s["status"] not in TERMINAL_STATUSES, f"{cid} is {s['status']} unaudited"
                    started.add(cid)
            published = {cid: e for cid, e in harness.result_events(ids, before).items() if e}
            assert not published, f"result events published unaudited: {published}"
            committed_within(harness, held_from)
            grown = metric(w, "migration_app_retries_total", kind="database") - retries
            return bool(started) and grown >= 3  # three failed audit attempts at least

        wait_for(held_while_down, timeout=60, interval=0.3)
        assert w.running()
    finally:
        pg.start()  # also when the outage checks fail: no worker stuck retrying at teardown

    states = harness.wait_terminal(w, ids, before, timeout=90)
    runs = harness.audit_runs(ids, dsn=pg.uri)
    assert len(runs) == len(ids), "one audit row per customer"
    events = harness.wait_result_events(states, before)
    for cid, state in states.items():
        assert state["status"] == "COMPLETED"
        assert state["attempt"] == before[cid] + 1, "migrated more than once"
        run = run_of(runs, cid, state["attempt"])
        assert run["status"] == "COMPLETED" and run["correlation_id"] == state["correlation_id"]
        result = only_result(events, cid, state["attempt"])
        assert result["correlation_id"] == state["correlation_id"]
    wait_committed(harness, held_until)  # and the held events are acknowledged now


# --- 8b. schema registry down: events wait, never skipped or dead-lettered -------------------


def test_registry_down_holds_decoding_until_it_is_back(
    harness, customer_pool, exclusive_worker, private_registry
):
    ids = customer_pool.take(3)
    # A newer, compatible writer schema (an extra optional field) the worker has never seen:
    # decoding these events needs the registry. Registered in the session registry first, so
    # the private copy and the session registry agree on its id.
    newer = load_schema(CUSTOMER_SUBJECT)
    newer = {
        **newer,
        "fields": [
            *newer["fields"],
            {"name": "e2e_note", "type": ["null", "string"], "default": None},
        ],
    }
    subject = f"e2e-newer-customer-{uuid.uuid4().hex[:8]}-value"
    newer_id = harness.run(_register(harness, subject, newer))
    registry = private_registry()
    w = exclusive_worker(MIGRATION_REGISTRY_URL=registry.url)
    events = {cid: _customer_event(cid, "e2e-registry-down") for cid in ids}
    values = {
        cid: _frame(newer_id, newer, {**e.to_avro(), "e2e_note": "registry down"})
        for cid, e in events.items()
    }
    retries = metric(w, "migration_app_retries_total", kind="registry")
    before = harness.attempts(ids)
    held_from = end_offsets(harness)

    registry.stop()
    try:
        for cid in ids:
            harness.run(_produce(harness, cid.encode(), [values[cid]]))

        def held_while_down() -> bool:
            untouched = {cid: s for cid, s in harness.states(ids).items() if s}
            assert not untouched, f"customers handled without their decoded event: {untouched}"
            for cid in ids:
                assert not harness.dlq_messages(cid.encode()), f"{cid} dead-lettered"
            committed_within(harness, held_from)
            grown = metric(w, "migration_app_retries_total", kind="registry") - retries
            return grown >= 2

        wait_for(held_while_down, timeout=60, interval=0.3)
        assert w.running()
    finally:
        registry.start()  # same port and data file, also when the checks above fail

    states = harness.wait_terminal(w, ids, before, timeout=60)
    results = harness.wait_result_events(states, before)
    for cid, state in states.items():
        assert state["status"] == "COMPLETED"
        assert state["attempt"] == before[cid] + 1
        assert state["correlation_id"] == events[cid].correlation_id
        only_result(results, cid, state["attempt"])
        assert not harness.dlq_messages(cid.encode())


# --- 11. agent concurrency > 1 ------------------------------------------------------------------


def test_agent_concurrency_three_migrates_each_customer_once(
    harness, customer_pool, exclusive_worker
):
    ids = customer_pool.take(12)
    w = exclusive_worker(MIGRATION_CONCURRENCY="3", MIGRATION_BATCH_SIZE="2")
    before = harness.attempts(ids)
    harness.enqueue(ids)
    harness.enqueue(ids)  # a second event per customer: concurrent actors must not both run it
    enqueued = end_offsets(harness)
    states = harness.wait_terminal(w, ids, before, timeout=90)
    wait_committed(harness, enqueued)  # every event handled, the duplicates too
    states = harness.states(ids)
    for cid, state in states.items():
        assert state["status"] == "COMPLETED", (cid, state)
        assert state["attempt"] == before[cid] + 1, f"{cid} migrated more than once"
    runs = harness.audit_runs(ids)
    assert sorted(r["customer_id"] for r in runs) == sorted(ids), "one audit row per customer"
    results = harness.wait_result_events(states, before)
    for cid in ids:
        only_result(results, cid, states[cid]["attempt"])
    assert_v2_matches(harness, ids, states)
