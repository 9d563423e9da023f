"""Helpers for the end-to-end pipeline tests: real worker, broker, PostgreSQL, registry, sandboxes.

The session devstack (tests/conftest.py) is shared by every test, and so are its V1 customers and
its V2 org. Each test therefore takes its own disjoint customers from ``customer_pool`` and checks
V2 only for those customers' Legacy_Id__c values, so tests never depend on each other's V2 state.
"""

from __future__ import annotations

import asyncio
import json
import re
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
from aiokafka import AIOKafkaConsumer
from simple_salesforce import Salesforce

from migration_app.avro import AvroCodec
from migration_app.devstack.process import ChildProcess
from migration_app.devstack.stack import DevStack
from migration_app.enqueue import publish
from migration_app.registry import RegistryClient, RegistrySettings
from migration_app.salesforce_http import HttpSettings, build_session, login_domain_for
from migration_app.schemas import RESULT_SUBJECT, RESULT_TOPIC, load_schema
from migration_app.settings import Settings
from tests.conftest import wait_for

# Short batches for speed; no aiomonitor (ports and start-up time are not under test here).
WORKER_ENV = {"MIGRATION_BATCH_WITHIN": "0.2", "MIGRATION_MONITOR_ENABLED": "false"}
READY_PATH = "/migrations/summary"
TERMINAL = {"COMPLETED", "FAILED", "DRY_RUN"}
HTTP_TIMEOUT = 5.0
NO_FAULTS = {"latency_ms": 0, "jitter_ms": 0, "error_rates": {}, "hang_rate": 0}

# V1 object -> (V2 object, V1 lookup to the Account, V2 relationship to the Account).
OBJECTS = {
    "Account": ("Account", None, None),
    "Contact": ("Contact", "AccountId", "Account"),
    "Case": ("Case", "AccountId", "Account"),
    "Meter__c": ("Meter_Point__c", "Account__c", "Account__r"),
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# --- small I/O helpers ----------------------------------------------------------------------


def admin(base_url: str, path: str, body: object = None) -> Any:
    """GET (or POST when ``body`` is given) a sandbox /__admin/ endpoint."""
    method = "GET" if body is None else "POST"
    resp = requests.request(method, f"{base_url}/__admin/{path}", json=body, timeout=HTTP_TIMEOUT)
    resp.raise_for_status()
    return resp.json()


def get_json(url: str) -> tuple[int, Any]:
    """(status, body); (0, None) while the worker is not answering."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:
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
    """simple-salesforce on a sandbox org with the default dev credentials (docs/orgs.md)."""
    return Salesforce(
        username=f"migration@{org}.sandbox",
        password=f"sandbox-{org}-password",
        security_token=f"sandbox-{org}-token",
        domain=login_domain_for(url),
        session=build_session(HttpSettings(connect_timeout=2.0, read_timeout=10.0), url),
    )


def count(sf: Salesforce, soql: str) -> int:
    return int(sf.query(soql)["totalSize"])


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


@pytest.fixture(scope="session")
def customer_pool(devstack: DevStack) -> CustomerPool:
    assert devstack.sf1 is not None, "the pipeline tests need the sandbox orgs"
    customers = admin(devstack.sf1.url, "customers")
    dirty = _find_dirty(login(devstack.sf1.url, "v1"), customers)
    reserved = {cid for cid, _ in dirty.values()}
    return CustomerPool([c for c in customers if c not in reserved], dirty)


# --- the harness: enqueue, observe state, audit, results, V1/V2 counts ----------------------


@dataclass
class Harness:
    """What a pipeline test does to and reads from the stack, each call bounded by a timeout."""

    devstack: DevStack
    settings: Settings
    sf1: Salesforce
    sf2: Salesforce

    # enqueue and state -----------------------------------------------------------------------
    def enqueue(self, ids: Sequence[str], *, force: bool = False, dry_run: bool = False) -> None:
        sent = asyncio.run(
            asyncio.wait_for(
                publish(self.settings, ids, force=force, dry_run=dry_run, requested_by="e2e"),
                timeout=30,
            )
        )
        assert sent == len(set(ids))

    @staticmethod
    def state(worker: ChildProcess, customer_id: str) -> dict[str, Any] | None:
        """The customer's migration_state entry, None if the worker does not know it (yet)."""
        quoted = urllib.parse.quote(customer_id, safe="")
        status, body = get_json(f"{worker.url}/migrations/{quoted}")
        return body if status == 200 else None

    def states(self, worker: ChildProcess, ids: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        return {cid: self.state(worker, cid) for cid in ids}

    def attempts(self, worker: ChildProcess, ids: Iterable[str]) -> dict[str, int]:
        """Current attempt numbers (0 if unknown): a later attempt proves a fresh migration."""
        return {cid: (s or {}).get("attempt", 0) for cid, s in self.states(worker, ids).items()}

    def wait_terminal(
        self,
        worker: ChildProcess,
        ids: Sequence[str],
        after: dict[str, int] | None = None,
        timeout: float = 60.0,
    ) -> dict[str, dict[str, Any]]:
        """Poll until every customer has an attempt newer than ``after`` in a terminal state."""
        after = after or {}
        done: dict[str, dict[str, Any]] = {}

        def all_done() -> bool:
            for cid in ids:
                if cid in done:
                    continue
                s = self.state(worker, cid)
                if s and s["status"] in TERMINAL and s["attempt"] > after.get(cid, 0):
                    done[cid] = s
            return len(done) == len(set(ids))

        try:
            wait_for(all_done, timeout=timeout, interval=0.2)
        except AssertionError:
            missing = {cid: self.state(worker, cid) for cid in ids if cid not in done}
            raise AssertionError(
                f"{len(missing)} customer(s) not terminal after {timeout}s: {missing}\n"
                f"worker log tail:\n{worker.log_tail(40)}"
            ) from None
        return done

    def migrate(
        self, worker: ChildProcess, ids: Sequence[str], *, force: bool = False, timeout: float = 60
    ) -> dict[str, dict[str, Any]]:
        """Enqueue and wait for a fresh terminal attempt of each customer."""
        before = self.attempts(worker, ids)
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

    def v2_totals(self) -> dict[str, int]:
        assert self.devstack.sf2 is not None
        return admin(self.devstack.sf2.url, "counts")

    def faults(self, org: str, **faults: Any) -> None:
        sandbox = self.devstack.sf1 if org == "v1" else self.devstack.sf2
        assert sandbox is not None
        admin(sandbox.url, "faults", {**NO_FAULTS, **faults})

    # audit -----------------------------------------------------------------------------------
    def audit_runs(self, ids: Sequence[str], dsn: str | None = None) -> list[dict[str, Any]]:
        """migration_run rows of these customers, each with its migration_issue rows."""
        return audit_runs(dsn or self.devstack.database_url, ids)

    # result events ---------------------------------------------------------------------------
    def results(
        self, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Decoded result events on customer-migrations, read from the start until ``done``."""
        return asyncio.run(
            read_topic(self.settings, RESULT_TOPIC, done, timeout, decode_results=True)
        )

    def raw_messages(
        self, topic: str, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        return asyncio.run(read_topic(self.settings, topic, done, timeout))


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
    *,
    decode_results: bool = False,
) -> list[dict[str, Any]]:
    """Read ``topic`` from the earliest offset (no group) until ``done(messages)``, for at most
    ``within`` seconds.

    Each message is {key, value, headers, partition, offset}; with ``decode_results`` the value
    is the decoded CustomerMigrationResult dict (through the app's AvroCodec and the registry).
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
    registry = RegistryClient(RegistrySettings(url=settings.registry_url, total_timeout=5.0))
    codec = AvroCodec(registry, {RESULT_SUBJECT: load_schema(RESULT_SUBJECT)})
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    async with registry:
        await consumer.start()
        try:
            while not done(messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{topic}: condition not met within {within}s; "
                        f"{len(messages)} message(s) read"
                    )
                batch = await consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
                for records in batch.values():
                    for record in records:
                        value: Any = record.value
                        if decode_results:
                            value = await codec.decode(record.value, RESULT_SUBJECT)
                        messages.append(
                            {
                                "key": record.key,
                                "value": value,
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
    yield Harness(devstack, settings, login(devstack.sf1.url, "v1"), login(devstack.sf2.url, "v2"))
    for sandbox in (devstack.sf1, devstack.sf2):
        admin(sandbox.url, "faults", NO_FAULTS)


@pytest.fixture
def worker(start_worker: Callable[..., ChildProcess]) -> Callable[..., ChildProcess]:
    """Start a worker with the pipeline tests' fast settings (extra env overrides them)."""

    def start(**env: str) -> ChildProcess:
        return start_worker(ready_path=READY_PATH, **{**WORKER_ENV, **env})

    return start


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
def stoppable_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoppablePostgres]:
    server = StoppablePostgres(tmp_path_factory.mktemp("pg") / "pgdata")
    try:
        yield server
    finally:
        server.close()
