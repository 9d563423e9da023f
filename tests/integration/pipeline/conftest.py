"""Helpers for the end-to-end pipeline tests: real worker, broker, PostgreSQL, registry, sandboxes.

The session devstack (tests/conftest.py) is shared by every test, and so are its V1 customers and
its V2 org. Each test therefore takes its own disjoint customers from ``customer_pool`` and checks
V2 only for those customers' Legacy_Id__c values, so tests never depend on each other's V2 state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import requests
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from simple_salesforce import Salesforce

from devstack.dev import worker_process
from devstack.probes import free_port
from devstack.process import ChildProcess
from devstack.stack import (
    DEV_CLIENT_ID,
    DEV_CLIENT_SECRET,
    DevStack,
    DevStackConfig,
    registry_process,
)
from migration_app.contracts.customer_status import TERMINAL_STATUSES
from migration_app.contracts.schemas import (
    CUSTOMER_TOPIC,
    DLQ_TOPIC,
    RESULT_SUBJECT,
    RESULT_TOPIC,
    load_schema,
)
from migration_app.registry.avro import AvroCodec
from migration_app.registry.client import RegistryClient, RegistrySettings
from migration_app.salesforce.http import HttpSettings, build_session
from migration_app.salesforce.login import SANDBOX_MY_DOMAIN
from migration_app.settings import Settings
from migration_app.worker.publisher import publish
from tests.support.polling import wait_for
from tests.support.workers import DEBUG_TOKEN, FAST_GROUP_ENV, task_dump

# The session's seeded customers are shared by modules: the last RESERVED_FOR_SMALL_TESTS belong
# to the foundation and CLI tests (each takes its own index), the rest to the pipeline pool.
RESERVED_FOR_SMALL_TESTS = 4

# The production configuration (DESIGN rule 11): RocksDB tables, the console closed behind its
# tokens. Tests where the store matters also run with memory:// (their ``store`` parameter).
# Short batches for speed; no aiomonitor (ports and start-up time are not under test here).
READ_TOKEN = "pipeline-read-token-0123456789abcdefgh"
OPERATOR_TOKEN = "pipeline-operator-token-0123456789abcd"
WORKER_ENV = {
    "MIGRATION_BATCH_WITHIN": "0.2",
    "MIGRATION_MONITOR_ENABLED": "false",
    "MIGRATION_STORE": "rocksdb://",
    "MIGRATION_CONSOLE_READ_TOKEN": READ_TOKEN,
    "MIGRATION_OPERATOR_TOKEN": OPERATOR_TOKEN,
}
READY_PATH = "/health/ready"  # partitions assigned, tables recovered, dependencies up
HTTP_TIMEOUT = 5.0
NO_FAULTS = {"latency_ms": 0, "jitter_ms": 0, "error_rates": {}, "hang_rate": 0, "fail_next": {}}

# V1 object -> (V2 object, V1 lookup to the Account, V2 relationship to the Account).
OBJECTS = {
    "Account": ("Account", None, None),
    "Contact": ("Contact", "AccountId", "Account"),
    "Case": ("Case", "AccountId", "Account"),
    "Meter__c": ("Meter_Point__c", "Account__c", "Account__r"),
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


log = logging.getLogger(__name__)


# --- small I/O helpers ----------------------------------------------------------------------


def admin(base_url: str, path: str, body: object = None) -> Any:
    """GET (or POST when ``body`` is given) a sandbox /__admin/ endpoint."""
    method = "GET" if body is None else "POST"
    resp = requests.request(method, f"{base_url}/__admin/{path}", json=body, timeout=HTTP_TIMEOUT)
    resp.raise_for_status()
    return resp.json()


def get_json(url: str) -> tuple[int, Any]:
    """(status, body) as a reader of the console (its token); (0, None) while the worker is not
    answering."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {READ_TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.loads(err.read())
        except ValueError:
            return err.code, None
    except OSError:
        return 0, None


def soql_in(ids: Iterable[str]) -> str:
    return ",".join(f"'{i}'" for i in ids)


def login(url: str, org: str) -> Salesforce:
    """simple-salesforce on a sandbox org through its External Client App (client credentials:
    the dev V2 org has SOAP login() disabled, as new orgs do)."""
    return Salesforce(
        consumer_key=DEV_CLIENT_ID,
        consumer_secret=DEV_CLIENT_SECRET,
        domain=SANDBOX_MY_DOMAIN,
        session=build_session(HttpSettings(connect_timeout=2.0, read_timeout=10.0), url),
    )


def count(sf: Salesforce, soql: str) -> int:
    return int(sf.query(soql)["totalSize"])


def metric(worker: ChildProcess, sample: str, **labels: str) -> float:
    """One sample of the worker's /metrics (0.0 while the labelled child does not exist yet)."""
    with urllib.request.urlopen(f"{worker.url}/metrics", timeout=HTTP_TIMEOUT) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


class LogCursor:
    """The lines a worker wrote to its log after this cursor was made (not earlier tests')."""

    def __init__(self, worker: ChildProcess) -> None:
        self.path = worker.log_path
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def text(self) -> str:
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            return log.read().decode(errors="replace")


# --- V1 customers, handed out in disjoint slices ----------------------------------------------


@dataclass
class CustomerPool:
    """The seeded V1 customers; every test takes its own, so V2 checks never overlap.

    Customers with one specific kind of dirty data are reserved for the data-quality test.
    """

    free: list[str]
    dirty: dict[str, tuple[str, str]] = field(default_factory=dict)  # kind -> (customer, record)

    def take(self, n: int) -> list[str]:
        if len(self.free) < n:
            raise AssertionError(
                f"customer pool exhausted: {n} wanted, {len(self.free)} left; "
                "raise MIGRATION_TEST_CUSTOMERS"
            )
        taken, self.free = self.free[:n], self.free[n:]
        return taken


def _find_dirty(sf1: Salesforce, customers: list[str]) -> dict[str, tuple[str, str]]:
    """One customer per dirty-data kind, read from V1 itself (not through the app's transform)."""
    found: dict[str, tuple[str, str]] = {}
    contacts = sf1.query_all("SELECT Id, AccountId, LastName, Email FROM Contact")["records"]
    cases = sf1.query_all("SELECT Id, AccountId, Description FROM Case")["records"]
    for c in contacts:
        if not c["LastName"] and "missing_last_name" not in found:
            found["missing_last_name"] = (c["AccountId"], c["Id"])
    for c in contacts:
        taken = {cid for cid, _ in found.values()}
        email = c["Email"]
        if c["LastName"] and email and not _EMAIL.match(email) and c["AccountId"] not in taken:
            found.setdefault("invalid_email", (c["AccountId"], c["Id"]))
    for c in cases:
        taken = {cid for cid, _ in found.values()}
        if len(c["Description"] or "") > 4000 and c["AccountId"] not in taken:
            found.setdefault("long_description", (c["AccountId"], c["Id"]))
    customers_set = set(customers)
    return {kind: v for kind, v in found.items() if v[0] in customers_set}


def make_customer_pool(devstack: DevStack) -> CustomerPool:
    """The session's pool (the ``customer_pool`` fixture, tests/integration/conftest.py: one
    pool shared by the pipeline and console tests, so they never take the same customers)."""
    assert devstack.sf1 is not None, "the pipeline tests need the sandbox orgs"
    customers = admin(devstack.sf1.url, "customers")[:-RESERVED_FOR_SMALL_TESTS]
    dirty = _find_dirty(login(devstack.sf1.url, "v1"), customers)
    reserved = {cid for cid, _ in dirty.values()}
    return CustomerPool([c for c in customers if c not in reserved], dirty)


# --- the harness: enqueue, observe state, audit, results, V1/V2 counts ----------------------

CHANGELOG_TOPIC = "migration-app-migration_state-changelog"


class StateReader:
    """The migration_state table as its changelog says (latest value per customer).

    Why the changelog and not GET /migrations/{id}: that view routes through Faust's
    table_route, which fails with HTTP 500 whenever the worker's producer metadata has lost the
    changelog topic (see test_state_view_answers_after_a_run). The changelog is the table's own
    source of truth. One consumer, read incrementally, on the harness's event loop.
    """

    def __init__(self, settings: Settings) -> None:
        self._bootstrap = [s.removeprefix("kafka://") for s in settings.faust_broker()]
        self._consumer: AIOKafkaConsumer | None = None
        self.latest: dict[str, dict[str, Any]] = {}

    async def refresh(self) -> int:
        """Apply what the changelog has now (one short fetch); returns the records read."""
        if self._consumer is None:  # aiokafka objects must be created on their loop
            self._consumer = AIOKafkaConsumer(
                CHANGELOG_TOPIC,
                bootstrap_servers=self._bootstrap,
                group_id=None,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                metadata_max_age_ms=1000,  # the topic may be created after we start
                request_timeout_ms=10_000,
            )
            await self._consumer.start()
        batch = await self._consumer.getmany(timeout_ms=100, max_records=10_000)
        for records in batch.values():
            for record in records:
                if record.key is not None and record.value is not None:
                    self.latest[_table_key(record.key)] = json.loads(record.value)
        return sum(len(records) for records in batch.values())

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()


class TopicReader:
    """Every message of one topic, read incrementally on the harness's loop and kept in a list
    (never reduced per key, so a duplicate write stays visible).

    ``catch_up`` reads up to the end offsets the broker reports at the time of the call. With
    ``decode_results`` each value is the decoded CustomerMigrationResult (app codec, registry).
    """

    def __init__(self, settings: Settings, topic: str, *, decode_results: bool = False) -> None:
        self._settings = settings
        self.topic = topic
        self._decode = decode_results
        self._consumer: AIOKafkaConsumer | None = None
        self._registry: RegistryClient | None = None
        self._codec: AvroCodec | None = None
        self._tps: list[TopicPartition] = []
        self.messages: list[dict[str, Any]] = []

    async def _start(self) -> None:
        bootstrap = [s.removeprefix("kafka://") for s in self._settings.faust_broker()]
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            request_timeout_ms=10_000,
        )
        await self._consumer.start()
        if self._decode:
            self._registry = RegistryClient(
                RegistrySettings(url=self._settings.registry_url, total_timeout=5.0)
            )
            await self._registry.start()
            self._codec = AvroCodec(self._registry, {RESULT_SUBJECT: load_schema(RESULT_SUBJECT)})

    async def _assign(self) -> None:
        assert self._consumer is not None
        if self._tps:
            return
        await self._consumer.topics()  # metadata of every topic, ours included
        partitions = self._consumer.partitions_for_topic(self.topic)
        if not partitions:
            return  # not created yet: nothing to read
        self._tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self._consumer.assign(self._tps)
        await self._consumer.seek_to_beginning(*self._tps)

    async def catch_up(self, within: float = 20.0) -> list[dict[str, Any]]:
        if self._consumer is None:
            await self._start()
        assert self._consumer is not None
        await self._assign()
        if not self._tps:
            return self.messages
        ends = await self._consumer.end_offsets(self._tps)
        deadline = time.monotonic() + within
        while [tp for tp, end in ends.items() if await self._consumer.position(tp) < end]:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.topic}: not read up to {ends} within {within}s")
            batch = await self._consumer.getmany(timeout_ms=200, max_records=10_000)
            for records in batch.values():
                for record in records:
                    value: Any = record.value
                    if self._decode and value is not None:
                        assert self._codec is not None
                        value = await self._codec.decode(value, RESULT_SUBJECT)
                    self.messages.append(
                        {
                            "key": record.key,
                            "value": value,
                            "headers": dict(record.headers or ()),
                            "partition": record.partition,
                            "offset": record.offset,
                        }
                    )
        return self.messages

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._registry is not None:
            await self._registry.close()


async def group_offsets(settings: Settings) -> dict[int, tuple[int | None, int]]:
    """`customer` partition -> (the app group's committed offset, the broker's end offset)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=[s.removeprefix("kafka://") for s in settings.faust_broker()],
        group_id="migration-app",
        enable_auto_commit=False,
        request_timeout_ms=10_000,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(CUSTOMER_TOPIC, p) for p in range(settings.topic_partitions)]
        ends = await consumer.end_offsets(tps)
        return {tp.partition: (await consumer.committed(tp), ends[tp]) for tp in tps}
    finally:
        await consumer.stop()


def _table_key(raw: bytes) -> str:
    """Raw UTF-8 keys (the table schema); JSON-string keys from older workers are accepted."""
    try:
        key = json.loads(raw)
    except ValueError:
        return raw.decode()
    return key if isinstance(key, str) else raw.decode()


@dataclass
class Harness:
    """What a pipeline test does to and reads from the stack, each call bounded by a timeout.

    Async work (producer, consumers, registry) runs on one event loop owned by the harness and
    closed with it, so the changelog consumer lives across calls.
    """

    devstack: DevStack
    settings: Settings
    sf1: Salesforce
    sf2: Salesforce
    runner: asyncio.Runner = field(default_factory=asyncio.Runner)
    reader: StateReader | None = None
    topic_readers: dict[str, TopicReader] = field(default_factory=dict)

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return self.runner.run(asyncio.wait_for(coro, timeout))

    def close(self) -> None:
        """Stop the readers, each bounded: a slow consumer stop must not mask a test's failure."""
        readers: list[Any] = [self.reader, *self.topic_readers.values()]
        for reader in readers:
            if reader is not None:
                try:
                    self.run(reader.stop(), timeout=10)
                except (TimeoutError, OSError) as exc:
                    log.warning("harness reader did not stop cleanly: %r", exc)
        self.runner.close()

    # enqueue and state -----------------------------------------------------------------------
    def enqueue(self, ids: Sequence[str], *, force: bool = False, dry_run: bool = False) -> None:
        sent = self.run(
            publish(self.settings, ids, force=force, dry_run=dry_run, requested_by="e2e")
        )
        assert sent == len(set(ids))

    def states(self, ids: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """The customers' migration_state entries (None: never seen), as of now."""
        if self.reader is None:
            self.reader = StateReader(self.settings)
        self.run(self.reader.refresh())
        return {cid: self.reader.latest.get(cid) for cid in ids}

    def all_states(self) -> dict[str, dict[str, Any]]:
        """Every customer's migration_state entry in the changelog, read to its end."""
        self.states([])
        assert self.reader is not None
        while self.run(self.reader.refresh()):
            pass
        return dict(self.reader.latest)

    def state(self, customer_id: str) -> dict[str, Any] | None:
        return self.states([customer_id])[customer_id]

    def attempts(self, ids: Iterable[str]) -> dict[str, int]:
        """Current attempt numbers (0 if unknown): a later attempt proves a fresh migration."""
        return {cid: (s or {}).get("attempt", 0) for cid, s in self.states(ids).items()}

    @staticmethod
    def view_state(worker: ChildProcess, customer_id: str) -> tuple[int, Any]:
        """GET /migrations/{customer_id} on a worker: (HTTP status, body)."""
        quoted = urllib.parse.quote(customer_id, safe="")
        return get_json(f"{worker.url}/migrations/{quoted}")

    def wait_terminal(
        self,
        worker: ChildProcess,
        ids: Sequence[str],
        after: dict[str, int] | None = None,
        timeout: float = 60.0,
    ) -> dict[str, dict[str, Any]]:
        """Poll until every customer has an attempt newer than ``after`` in a terminal state."""
        after = after or {}

        def fresh_terminal() -> dict[str, dict[str, Any]]:
            return {
                cid: s
                for cid, s in self.states(ids).items()
                if s and s["status"] in TERMINAL_STATUSES and s["attempt"] > after.get(cid, 0)
            }

        try:
            wait_for(lambda: len(fresh_terminal()) == len(set(ids)), timeout=timeout, interval=0.2)
        except AssertionError:
            done = fresh_terminal()
            missing = {cid: s for cid, s in self.states(ids).items() if cid not in done}
            raise AssertionError(
                f"{len(missing)} customer(s) not terminal after {timeout}s: {missing}\n"
                f"worker summary: {get_json(f'{worker.url}/migrations/summary')}\n"
                f"worker log tail:\n{worker.log_tail(40)}\n"
                f"group offsets: {self.run(group_offsets(self.settings))}\n"
                f"worker tasks:\n{task_dump(worker)}"
            ) from None
        return fresh_terminal()

    def migrate(
        self, worker: ChildProcess, ids: Sequence[str], *, force: bool = False, timeout: float = 60
    ) -> dict[str, dict[str, Any]]:
        """Enqueue and wait for a fresh terminal attempt of each customer."""
        before = self.attempts(ids)
        self.enqueue(ids, force=force)
        return self.wait_terminal(worker, ids, before, timeout=timeout)

    # V1 and V2 -------------------------------------------------------------------------------
    def v1_counts(self, ids: Sequence[str]) -> dict[str, int]:
        """Records per V1 object belonging to these customers."""
        out = {}
        for source, (_, lookup, _) in OBJECTS.items():
            where = f"Id IN ({soql_in(ids)})" if lookup is None else f"{lookup} IN ({soql_in(ids)})"
            out[source] = count(self.sf1, f"SELECT COUNT() FROM {source} WHERE {where}")
        return out

    def v2_counts(self, ids: Sequence[str]) -> dict[str, int]:
        """Records per V2 object belonging to these customers (by the Account's Legacy_Id__c)."""
        out = {}
        for target, _, relationship in OBJECTS.values():
            path = "Legacy_Id__c" if relationship is None else f"{relationship}.Legacy_Id__c"
            soql = f"SELECT COUNT() FROM {target} WHERE {path} IN ({soql_in(ids)})"
            out[target] = count(self.sf2, soql)
        return out

    def v2_ids(self, target: str, legacy_ids: Sequence[str]) -> list[str]:
        soql = f"SELECT Legacy_Id__c FROM {target} WHERE Legacy_Id__c IN ({soql_in(legacy_ids)})"
        return [r["Legacy_Id__c"] for r in self.sf2.query_all(soql)["records"]]

    def v2_record_ids(self, ids: Sequence[str]) -> dict[str, set[str]]:
        """The V2 record Ids per object belonging to these customers (not the whole org's)."""
        out = {}
        for target, _, relationship in OBJECTS.values():
            path = "Legacy_Id__c" if relationship is None else f"{relationship}.Legacy_Id__c"
            soql = f"SELECT Id FROM {target} WHERE {path} IN ({soql_in(ids)})"
            out[target] = {r["Id"] for r in self.sf2.query_all(soql)["records"]}
        return out

    def faults(self, org: str, **faults: Any) -> None:
        sandbox = self.devstack.sf1 if org == "v1" else self.devstack.sf2
        assert sandbox is not None
        admin(sandbox.url, "faults", {**NO_FAULTS, **faults})

    # audit -----------------------------------------------------------------------------------
    def audit_runs(self, ids: Sequence[str], dsn: str | None = None) -> list[dict[str, Any]]:
        """migration_run rows of these customers, each with its migration_issue rows."""
        return audit_runs(dsn or self.devstack.database_url, ids)

    def ledger(self, customer_id: str) -> list[tuple[str, str, str]]:
        """(object, v2_id, action) of the customer's ledger rows, in write order."""
        conn = psycopg2.connect(self.devstack.database_url, connect_timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT object, v2_id, action FROM migration_record WHERE customer_id = %s "
                    "ORDER BY id",
                    (customer_id,),
                )
                return [tuple(row) for row in cur.fetchall()]
        finally:
            conn.close()

    # result events, DLQ, consumer group ---------------------------------------------------------
    def _topic(self, topic: str) -> TopicReader:
        if topic not in self.topic_readers:
            decode = topic == RESULT_TOPIC
            self.topic_readers[topic] = TopicReader(self.settings, topic, decode_results=decode)
        return self.topic_readers[topic]

    def result_events(
        self, ids: Iterable[str], after: dict[str, int] | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """EVERY result event of these customers published so far (attempt > ``after``), in
        topic order, as a list per customer: duplicates are kept, not collapsed."""
        after = after or {}
        found: dict[str, list[dict[str, Any]]] = {cid: [] for cid in ids}
        for message in self.run(self._topic(RESULT_TOPIC).catch_up(), 40):
            value = message["value"]
            cid = value["customer_id"] if value else None
            if cid in found and value["attempt"] > after.get(cid, 0):
                found[cid].append(value)
        return found

    def wait_result_events(
        self,
        states: dict[str, dict[str, Any]],
        after: dict[str, int] | None = None,
        timeout: float = 30.0,
    ) -> dict[str, list[dict[str, Any]]]:
        """Every result event of the customers once each has one for its current attempt."""

        def complete() -> dict[str, list[dict[str, Any]]] | None:
            events = self.result_events(states, after)
            have = all(
                any(e["attempt"] == states[cid]["attempt"] for e in events[cid]) for cid in states
            )
            return events if have else None

        return wait_for(complete, timeout=timeout, interval=0.3)  # type: ignore[return-value]

    def dlq_messages(self, key: bytes) -> list[dict[str, Any]]:
        """Every customer-dlq message with this key, in topic order (duplicates kept)."""
        return [m for m in self.run(self._topic(DLQ_TOPIC).catch_up(), 40) if m["key"] == key]

    def group_offsets(self) -> dict[int, tuple[int | None, int]]:
        return self.run(group_offsets(self.settings))

    def raw_messages(
        self, topic: str, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        return self.run(read_topic(self.settings, topic, done, timeout), timeout + 10)


def audit_runs(dsn: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    conn = psycopg2.connect(dsn, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = 5000")
            cur.execute(
                """
                SELECT r.id, r.customer_id, r.attempt, r.status, r.correlation_id, r.counts,
                       r.rejected, r.error,
                       coalesce((SELECT jsonb_agg(jsonb_build_object(
                           'severity', i.severity, 'object', i.object, 'legacy_id', i.legacy_id,
                           'field', i.field, 'code', i.code, 'message', i.message) ORDER BY i.id)
                         FROM migration_issue i WHERE i.run_id = r.id), '[]'::jsonb)
                FROM migration_run r WHERE r.customer_id = ANY(%s)
                ORDER BY r.customer_id, r.attempt
                """,
                (list(ids),),
            )
            names = [
                "id", "customer_id", "attempt", "status", "correlation_id", "counts",
                "rejected", "error", "issues",
            ]  # fmt: skip
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()


def latest_runs(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for run in runs:  # ordered by attempt
        latest[run["customer_id"]] = run
    return latest


def issue_codes(issues: Iterable[dict[str, Any]]) -> Counter[tuple[str, str | None, str]]:
    """Comparable multiset of (code, legacy_id, object) of audit rows or result-event issues."""
    return Counter((i["code"], i["legacy_id"] or None, i["object"]) for i in issues)


async def read_topic(
    settings: Settings,
    topic: str,
    done: Callable[[list[dict[str, Any]]], bool],
    within: float,
) -> list[dict[str, Any]]:
    """Read ``topic`` from the earliest offset (no group) until ``done(messages)``, for at most
    ``within`` seconds.

    Each message is {key, value (raw bytes), headers, partition, offset}.
    """
    bootstrap = [s.removeprefix("kafka://") for s in settings.faust_broker()]
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        request_timeout_ms=10_000,
    )
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    await consumer.start()
    try:
        while not done(messages):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{topic}: condition not met within {within}s; {len(messages)} message(s) read"
                )
            batch = await consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
            for records in batch.values():
                for record in records:
                    messages.append(
                        {
                            "key": record.key,
                            "value": record.value,
                            "headers": dict(record.headers or ()),
                            "partition": record.partition,
                            "offset": record.offset,
                        }
                    )
    finally:
        await consumer.stop()
    return messages


@pytest.fixture
def harness(devstack: DevStack) -> Iterator[Harness]:
    """A Harness on the session stack; sandbox faults are reset after the test."""
    assert devstack.sf1 is not None and devstack.sf2 is not None
    settings = Settings.from_env(devstack.env())
    harness = Harness(
        devstack, settings, login(devstack.sf1.url, "v1"), login(devstack.sf2.url, "v2")
    )
    try:
        yield harness
    finally:
        harness.close()
        for sandbox in (devstack.sf1, devstack.sf2):
            admin(sandbox.url, "faults", NO_FAULTS)


class Workers:
    """The module's workers: one shared worker for most tests, or one exclusive at a time.

    Why: every worker start is a group join and a table recovery (seconds each), and tests
    that kill a worker or point it at another database must be the only consumer in the
    group. ``shared()`` reuses a running shared worker; ``exclusive(**env)`` stops it first.
    """

    def __init__(self, devstack: DevStack, log_dir: Path) -> None:
        self.devstack = devstack
        self.log_dir = log_dir
        self._shared: ChildProcess | None = None
        self._exclusive: list[ChildProcess] = []

    def _start(self, name: str, env: dict[str, str]) -> ChildProcess:
        full_env = {
            **self.devstack.env(),
            **FAST_GROUP_ENV,
            **WORKER_ENV,
            "MIGRATION_DATA_DIR": str(self.log_dir / f"{name}-data"),
            "MIGRATION_DEBUG_TOKEN": DEBUG_TOKEN,
            **env,
        }
        worker = worker_process(
            full_env, web_port=free_port(), log_dir=self.log_dir, name=name, ready_path=READY_PATH
        )
        worker.start()
        return worker

    def shared(self) -> ChildProcess:
        self.stop_exclusive()
        if self._shared is None or not self._shared.running():
            self._shared = self._start(f"shared{time.monotonic_ns()}", {})
        return self._shared

    def exclusive(self, **env: str) -> ChildProcess:
        """A fresh worker, the only one in the group (stopped by ``stop_exclusive``)."""
        if self._shared is not None:
            self._shared.stop()
            self._shared = None
        worker = self._start(f"exclusive{len(self._exclusive)}", env)
        self._exclusive.append(worker)
        return worker

    def stop_exclusive(self) -> None:
        while self._exclusive:
            self._exclusive.pop().stop()

    def stop(self) -> None:
        self.stop_exclusive()
        if self._shared is not None:
            self._shared.stop()
            self._shared = None


@pytest.fixture(scope="module")
def workers(devstack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    pool = Workers(devstack, tmp_path_factory.mktemp("pipeline-workers"))
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture
def shared_worker(workers: Workers) -> ChildProcess:
    """The module's shared worker (started if needed)."""
    return workers.shared()


@pytest.fixture
def exclusive_worker(workers: Workers) -> Iterator[Callable[..., ChildProcess]]:
    """Start workers that are alone in the group; all stopped when the test ends."""
    yield workers.exclusive
    workers.stop_exclusive()


# --- a PostgreSQL this test may stop and start ------------------------------------------------


class StoppablePostgres:
    """A private pgserver in a temporary directory (never the shared one), stopped at exit."""

    def __init__(self, data_dir: Path) -> None:
        import pgserver  # slow import: only when needed

        self.server = pgserver.get_server(data_dir, cleanup_mode="stop")
        self.uri = self.server.get_uri()

    def stop(self) -> None:
        """Fast shutdown (clients are disconnected), waiting until it is down."""
        from pgserver._commands import pg_ctl

        pg_ctl(
            ["-w", "-m", "fast", "stop"],
            pgdata=self.server.pgdata,
            user=self.server.system_user,
            timeout=30,
        )

    def start(self) -> None:
        """Start again on the same data directory and socket, so the URI stays valid."""
        self.server.ensure_postgres_running()

    def close(self) -> None:
        self.server.cleanup()


@pytest.fixture
def stoppable_postgres() -> Iterator[StoppablePostgres]:
    """Not under pytest's basetemp: as root, pgserver runs PostgreSQL as user ``pgserver``, which
    must traverse the parent directories, and any pytest session on the machine chmods
    /tmp/pytest-of-root back to 0700, so a restart would fail with "Permission denied"."""
    parent = Path(tempfile.mkdtemp(prefix="e2e-pg-"))
    try:
        server = StoppablePostgres(parent / "pgdata")
        try:
            yield server
        finally:
            server.close()
    finally:
        shutil.rmtree(parent, ignore_errors=True)


# --- a schema registry this test may stop and start -------------------------------------------


@pytest.fixture
def private_registry(devstack: DevStack, tmp_path: Path) -> Iterator[Callable[[], ChildProcess]]:
    """Start a registry process of the test's own (stopping the session's would break the other
    tests), from a copy of the session registry's data file as it is at the call, so every schema
    id registered so far means the same in both: result events a worker encodes through it decode
    through the session registry. Stopped at teardown."""
    assert devstack.registry is not None, "the pipeline tests need the schema registry"
    started: list[ChildProcess] = []

    def start() -> ChildProcess:
        state_dir = tmp_path / f"private-registry{len(started)}"
        state_dir.mkdir()
        shutil.copyfile(devstack.config.state_dir / "registry.json", state_dir / "registry.json")
        registry = registry_process(DevStackConfig(registry_port=free_port(), state_dir=state_dir))
        started.append(registry)
        registry.start()
        return registry

    try:
        yield start
    finally:
        for registry in started:
            registry.stop()
