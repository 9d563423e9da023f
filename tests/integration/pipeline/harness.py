"""The harness of a pipeline test: what it does to the session stack and reads back from it
(enqueue, state, V1/V2, faults, audit, result events, DLQ, the consumer group), each call bounded
by a timeout."""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg2
from aiokafka.errors import KafkaError
from simple_salesforce import Salesforce

from devstack.process import ChildProcess
from devstack.stack import DevStack
from migration_app.contracts.customer_status import TERMINAL_STATUSES
from migration_app.contracts.schemas import DLQ_TOPIC, RESULT_TOPIC
from migration_app.settings import Settings
from migration_app.worker.publisher import publish
from tests.integration.pipeline.audit_rows import audit_runs
from tests.integration.pipeline.orgs import NO_FAULTS, OBJECTS, admin, count, soql_in
from tests.integration.pipeline.topics import StateReader, TopicReader, group_offsets, read_topic
from tests.integration.pipeline.worker_probes import get_json
from tests.support.polling import wait_for
from tests.support.workers import task_dump

log = logging.getLogger(__name__)


@dataclass
class StackHarness:
    """What a pipeline test does to and reads from the session stack from outside the workers
    (they are started by WorkerPool), each call bounded by a timeout.

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
                except (TimeoutError, OSError, KafkaError, asyncio.CancelledError) as exc:
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
