"""In-memory stand-ins for everything `BatchProcessor` touches: no Kafka, no registry, no
PostgreSQL, no Salesforce.

Every side effect the processor makes (audit commit, table write, result/DLQ send, pipeline call,
limits poll) is appended to one shared ``log`` as a tuple, so tests can assert the *order* of
side effects across the fakes. Outages are switches (``down = True``) plus an
:class:`asyncio.Event` that fires after a given number of failed calls, so a test can wait for
"the processor has retried n times" without sleeping.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from faust import streams

from migration_app.audit.errors import AuditUnavailable
from migration_app.audit.records import RunRecord
from migration_app.contracts.customer_status import CustomerStatus
from migration_app.contracts.schemas import CUSTOMER_SUBJECT, CUSTOMER_TOPIC, RESULT_SUBJECT
from migration_app.registry.errors import PoisonMessage, RegistryUnavailable
from migration_app.settings import Settings
from migration_app.worker.migration_state import MigrationState, finished, new_state, started
from migration_app.worker.pipeline import CustomerOutcome, MigrationRequest
from migration_app.worker.processor import BatchProcessor

Log = list[tuple[Any, ...]]

ACC1 = "001A00000000001AAA"
ACC2 = "001A00000000002AAA"
ACC3 = "001A00000000003AAA"


class Countdown:
    """An event that is set once ``count`` reaches a threshold (None: never)."""

    def __init__(self) -> None:
        self.count = 0
        self._threshold: int | None = None
        self._event = asyncio.Event()

    def tick(self) -> None:
        self.count += 1
        if self._threshold is not None and self.count >= self._threshold:
            self._event.set()

    async def reached(self, n: int) -> None:
        """Return once ``tick`` has been called at least ``n`` times."""
        self._threshold = n
        if self.count >= n:
            return
        self._event.clear()
        await self._event.wait()


# events ---------------------------------------------------------------------------------------
@dataclass
class FakeMessage:
    """Faust's ``Message`` reference counting: one reference per stream that got it (here the
    one agent stream); the offset is committable once the last reference is acked."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any = None
    refcount: int = 1
    acked: bool = False

    def incref(self, n: int = 1) -> None:
        self.refcount += n

    def ack(self) -> bool:
        if self.acked:
            return False
        self.refcount = max(self.refcount - 1, 0)
        if self.refcount == 0:
            self.acked = True
        return self.acked


class FakeEvent:
    """Faust ``EventT``-like: ``.value``, ``.message`` and ``ack()`` (plain class, so
    weakref-able)."""

    def __init__(self, message: FakeMessage) -> None:
        self.message = message
        self.value = message.value

    def ack(self) -> bool:
        return self.message.ack()

    def __repr__(self) -> str:
        m = self.message
        return f"FakeEvent({m.topic}/{m.partition}@{m.offset} key={m.key!r})"


def customer_event(
    customer_id: str,
    *,
    partition: int = 0,
    offset: int = 0,
    force: bool = False,
    dry_run: bool = False,
    correlation_id: str | None = None,
) -> FakeEvent:
    """A `customer` event whose value the fake codec decodes to CustomerReadyForMigration."""
    data = {
        "customer_id": customer_id,
        "occurred_at": datetime(2024, 5, 1, 12, 0, tzinfo=UTC).isoformat(),
        "correlation_id": correlation_id or f"corr-{customer_id}-{offset}",
        "requested_by": "test",
        "dry_run": dry_run,
        "force": force,
    }
    value = json.dumps(data).encode()
    return FakeEvent(
        FakeMessage(CUSTOMER_TOPIC, partition, offset, customer_id.encode(), value, None)
    )


def completed_state(customer_id: str) -> MigrationState:
    """A customer's table entry after one COMPLETED attempt."""
    state = started(new_state(customer_id), "corr-old")
    return finished(state, CustomerStatus.COMPLETED, counts={"Account": 1}, warnings=0, errors=0)


def poison_event(
    value: bytes | None = b"\x07not-avro",
    *,
    partition: int = 0,
    offset: int = 0,
    key: bytes | None = b"poison-key",
    headers: Any = None,
) -> FakeEvent:
    return FakeEvent(FakeMessage(CUSTOMER_TOPIC, partition, offset, key, value, headers))


# codec ----------------------------------------------------------------------------------------
class FakeCodec:
    """JSON instead of Avro. Values not starting with ``{`` are poison; ``down`` makes every
    decode raise RegistryUnavailable (as the real codec does when the registry cannot be asked)."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.down = False
        self.decode_attempts = 0
        self.failures = Countdown()

    async def decode(self, value: bytes | None, subject: str) -> dict[str, Any]:
        assert subject == CUSTOMER_SUBJECT
        self.decode_attempts += 1
        if self.down:
            self.failures.tick()
            self.log.append(("registry-unavailable",))
            raise RegistryUnavailable("registry: connection refused")
        if not value or not value.startswith(b"{"):
            raise PoisonMessage("bad_magic", "magic byte is not 0", schema_id=None)
        data = json.loads(value)
        data["occurred_at"] = datetime.fromisoformat(data["occurred_at"])
        return data

    def encode(self, record: dict[str, Any], subject: str) -> bytes:
        assert subject == RESULT_SUBJECT
        return json.dumps(record, default=str).encode()


# audit ----------------------------------------------------------------------------------------
class FakeAudit:
    """``record_runs`` commits all rows or raises AuditUnavailable (``down``)."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.down = False
        self.failures = Countdown()
        self.commits: list[list[RunRecord]] = []

    async def record_runs(self, runs: Sequence[RunRecord]) -> None:
        if self.down:
            self.failures.tick()
            self.log.append(("audit-unavailable",))
            raise AuditUnavailable("connection to PostgreSQL refused")
        self.commits.append(list(runs))
        for run in runs:
            self.log.append(("audit", run.customer_id, run.status))

    @property
    def runs(self) -> dict[str, RunRecord]:
        """The last committed run per customer."""
        return {run.customer_id: run for commit in self.commits for run in commit}


# table ----------------------------------------------------------------------------------------
class FakeTable(dict):
    """The ``migration_state`` table: bytes keys; writes logged with Faust's current event."""

    def __init__(self, log: Log) -> None:
        super().__init__()
        self.log = log
        self.writes: list[tuple[str, MigrationState, Any]] = []
        self.reads = 0  # table.get calls (a RocksDB get and a decode each, in a worker)

    def __setitem__(self, key: bytes, state: MigrationState) -> None:
        ref = streams._current_event.get(None)
        current = ref() if ref is not None else None
        cid = key.decode()
        self.writes.append((cid, state, current))
        self.log.append(("table", cid, state.status))
        super().__setitem__(key, state)

    def get(self, key: bytes, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)

    def state(self, customer_id: str) -> MigrationState | None:
        return dict.get(self, customer_id.encode())


# topics ---------------------------------------------------------------------------------------
class FakeTopic:
    def __init__(self, name: str, log: Log) -> None:
        self.name = name
        self.log = log
        self.sent: list[dict[str, Any]] = []
        self.acks: list[asyncio.Future[None]] = []

    async def send(
        self,
        *,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: Any = None,
        force: bool = False,
    ) -> asyncio.Future[None]:
        """Like Faust's: the returned future resolves when the broker has acked the event
        (``acks``: futures the test resolves itself; empty: acked at once)."""
        self.sent.append({"key": key, "value": value, "headers": headers})
        if self.name == "result":
            result = json.loads(value or b"{}")
            self.log.append(("result", result["customer_id"], result["status"]))
        else:
            self.log.append((self.name, key))
        if self.acks:
            return self.acks.pop(0)
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acked.set_result(None)
        return acked

    def results(self) -> dict[str, dict[str, Any]]:
        """Result topic: the last decoded result event per customer."""
        out = {}
        for sent in self.sent:
            result = json.loads(sent["value"])
            out[result["customer_id"]] = result
        return out


# Salesforce -----------------------------------------------------------------------------------
class FakeOrg:
    """Only what the processor itself uses: ``api_remaining`` and ``limits()``."""

    def __init__(self, name: str, log: Log) -> None:
        self.name = name
        self.log = log
        self.api_remaining: int | None = None
        self.limits_calls = Countdown()
        self.limits_errors: list[Exception] = []

    async def limits(self) -> dict[str, Any]:
        self.limits_calls.tick()
        self.log.append(("limits", self.name))
        if self.limits_errors:
            raise self.limits_errors.pop(0)
        return {}


# pipeline -------------------------------------------------------------------------------------
@dataclass
class FakePipeline:
    """``migrate(requests)``: each call takes the next entry of ``raises`` (an exception to raise
    or None); ``outcomes`` overrides (status, error) per customer (default COMPLETED); ``gate``,
    when set, holds every call until it is opened. ``overlaps`` lists customers that were ever
    being migrated by two calls at once."""

    log: Log
    raises: list[Exception | None] = field(default_factory=list)
    outcomes: dict[str, tuple[CustomerStatus, str | None]] = field(default_factory=dict)
    gate: asyncio.Event | None = None
    calls: list[list[MigrationRequest]] = field(default_factory=list)
    entered: Countdown = field(default_factory=Countdown)
    active: dict[str, int] = field(default_factory=dict)
    overlaps: list[str] = field(default_factory=list)

    async def migrate(self, requests: Sequence[MigrationRequest]) -> list[CustomerOutcome]:
        cids = [r.customer_id for r in requests]
        self.calls.append(list(requests))
        self.log.append(("migrate", *cids))
        for cid in cids:
            if self.active.get(cid):
                self.overlaps.append(cid)
            self.active[cid] = self.active.get(cid, 0) + 1
        self.entered.tick()
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.raises:
                error = self.raises.pop(0)
                if error is not None:
                    raise error
            outcomes = []
            for request in requests:
                status, error = self.outcomes.get(
                    request.customer_id, (CustomerStatus.COMPLETED, None)
                )
                completed = status == CustomerStatus.COMPLETED
                outcomes.append(
                    CustomerOutcome(
                        request=request,
                        status=status,
                        started_at=1_700_000_000.0,
                        finished_at=1_700_000_001.0,
                        counts={"Account": 1} if completed else {},
                        v2_account_id="V2-" + request.customer_id if completed else None,
                        error=error,
                    )
                )
            return outcomes
        finally:
            for cid in cids:
                self.active[cid] -= 1
            self.log.append(("migrate-done", *cids))


# the processor wired to all of the above ------------------------------------------------------
class ProcessorHarness:
    """A real BatchProcessor in this process, wired to the fakes above: ``handle`` feeds it
    events, ``log`` records every side effect in order. (Its integration counterpart, which
    drives real workers through the real stack, is tests/integration/pipeline/harness.py.)"""

    def __init__(self, *, api_floor: int = 1000) -> None:
        self.log: Log = []
        self.codec = FakeCodec(self.log)
        self.audit = FakeAudit(self.log)
        self.sf1 = FakeOrg("sf1", self.log)
        self.sf2 = FakeOrg("sf2", self.log)
        self.table = FakeTable(self.log)
        self.dlq = FakeTopic("dlq", self.log)
        self.results = FakeTopic("result", self.log)
        self.runtime = SimpleNamespace(
            codec=self.codec,
            audit=self.audit,
            sf1=self.sf1,
            sf2=self.sf2,
            spec=None,  # only the real MigrationPipeline reads it; replaced below
            reference=SimpleNamespace(snapshot=lambda: None),  # likewise
            settings=dataclasses.replace(
                Settings.from_env({"MIGRATION_DEV_MODE": "true"}), sf_api_floor=api_floor
            ),
            worker_name="test-worker",
            verifier=SimpleNamespace(offer=lambda customer_id: None),
        )
        self.processor = BatchProcessor(self.runtime, self.table, self.dlq, self.results)  # type: ignore[arg-type]
        self.pipeline = FakePipeline(self.log)
        self.processor.pipeline = self.pipeline  # type: ignore[assignment]

    async def handle(self, *events: FakeEvent) -> None:
        await self.processor.handle(list(events))  # type: ignore[arg-type]

    def side_effects(self, customer_id: str) -> list[tuple[Any, ...]]:
        """The log entries about one customer (audit commits, table writes, results)."""
        return [
            entry
            for entry in self.log
            if entry[0] in ("audit", "table", "result") and entry[1] == customer_id
        ]
