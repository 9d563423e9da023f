"""AuditStore against a real PostgreSQL: migrations, round trips, idempotency, reads, lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

from migration_app.audit.errors import AuditUnavailable
from migration_app.audit.records import RunRecord
from migration_app.audit.schema_changes import load_schema_changes
from migration_app.audit.settings import AuditSettings
from migration_app.audit.store import AuditStore
from migration_app.migration.issues import ERROR, WARNING, Issue

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def run(
    customer_id: str,
    attempt: int = 1,
    status: str = "COMPLETED",
    *,
    issues: int = 2,
    error: str | None = None,
    minutes: int = 0,
) -> RunRecord:
    found = [
        Issue(
            severity=ERROR if n % 2 else WARNING,
            object="Contact",
            legacy_id=f"003{customer_id}{n}",
            field="Email" if n % 3 else None,
            code="VALUE_DROPPED",
            message=f"issue {n} of {customer_id}",
        )
        for n in range(issues)
    ]
    return RunRecord(
        customer_id=customer_id,
        attempt=attempt,
        status=status,
        correlation_id=f"corr-{customer_id}-{attempt}",
        started_at=T0 + timedelta(minutes=minutes),
        finished_at=(T0 + timedelta(minutes=minutes, seconds=2)).timestamp(),  # epoch form
        worker="worker-1",
        counts={"Account": {"created": 1, "updated": 0}, "Contact": {"created": 3, "updated": 1}},
        rejected={"Contact": issues // 2},
        error=error,
        issues=found,
    )


HANG_GUARD_S = 30.0  # deadline against hangs only, never a performance claim


async def _settle(predicate: Callable[[], bool], within: float = 5.0) -> bool:
    """Poll predicate (yielding to the loop) until true or the deadline: the condition itself."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)  # polling interval of a deadline loop, not a synchronisation
    return predicate()


def _active_queries(dsn: str, marker: str) -> int:
    """Server sessions (other than ours) running a query that contains marker."""
    conn = psycopg2.connect(dsn, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                " AND pid <> pg_backend_pid() AND position(%s in query) > 0",
                (marker,),
            )
            return cur.fetchone()[0]
    finally:
        conn.close()


def table_counts(dsn: str) -> tuple[int, int]:
    conn = psycopg2.connect(dsn, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM migration_run")
            runs = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM migration_issue")
            return runs, cur.fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
async def store(audit_settings: AuditSettings):
    audit = AuditStore(audit_settings)
    await audit.start()
    yield audit
    await audit.close()


async def test_concurrent_starts_apply_migrations_once(audit_settings: AuditSettings) -> None:
    stores = [AuditStore(audit_settings) for _ in range(5)]
    try:
        await asyncio.gather(*(s.start() for s in stores))
        for s in stores:
            await s.ping()
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    conn = psycopg2.connect(audit_settings.dsn, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version, name FROM schema_migrations ORDER BY version")
            rows = cur.fetchall()
            cur.execute("SELECT to_regclass('migration_run'), to_regclass('migration_issue')")
            tables = cur.fetchone()
    finally:
        conn.close()
    assert rows == [(m.version, m.name) for m in load_schema_changes()]  # each applied exactly once
    assert tables == ("migration_run", "migration_issue")


async def test_record_runs_round_trip_with_issues(store: AuditStore) -> None:
    await store.record_runs([run("C1", issues=3), run("C2", issues=0)])

    last = await store.last_run("C1")
    assert last is not None
    assert (last["customer_id"], last["attempt"], last["status"]) == ("C1", 1, "COMPLETED")
    assert last["correlation_id"] == "corr-C1-1"
    assert last["started_at"] == T0
    assert last["finished_at"] == T0 + timedelta(seconds=2)
    assert last["worker"] == "worker-1"
    assert last["counts"] == {
        "Account": {"created": 1, "updated": 0},
        "Contact": {"created": 3, "updated": 1},
    }
    assert last["rejected"] == {"Contact": 1}
    assert last["error"] is None
    assert [i["message"] for i in last["issues"]] == [
        "issue 0 of C1",
        "issue 1 of C1",
        "issue 2 of C1",
    ]
    assert last["issues"][0] == {
        "severity": "warning",
        "object": "Contact",
        "legacy_id": "003C10",
        "field": None,
        "code": "VALUE_DROPPED",
        "message": "issue 0 of C1",
    }
    assert last["issues"][1]["severity"] == "error" and last["issues"][1]["field"] == "Email"
    c2 = await store.last_run("C2")
    assert c2 is not None and c2["issues"] == []
    assert await store.last_run("nobody") is None


async def test_retried_batch_does_not_duplicate(
    store: AuditStore, audit_settings: AuditSettings
) -> None:
    batch = [run(f"C{n}", issues=5) for n in range(10)]
    await store.record_runs(batch)
    await store.record_runs(batch)
    assert table_counts(audit_settings.dsn) == (10, 50)

    # A retry with different content replaces the run and its issues.
    await store.record_runs([run("C0", status="FAILED", issues=1, error="boom")])
    assert table_counts(audit_settings.dsn) == (10, 46)
    last = await store.last_run("C0")
    assert last is not None and last["status"] == "FAILED" and last["error"] == "boom"
    assert len(last["issues"]) == 1

    # The same key twice in one batch: the last one wins, no conflict error.
    await store.record_runs([run("C1", issues=2), run("C1", issues=4)])
    c1 = await store.last_run("C1")
    assert c1 is not None and len(c1["issues"]) == 4


async def test_reads(store: AuditStore) -> None:
    await store.record_runs(
        [
            run("A", 1, "FAILED", error="sf2 down", issues=3, minutes=1),
            run("A", 2, "COMPLETED", issues=1, minutes=5),
            run("B", 1, "FAILED", error="bad data", issues=4, minutes=3),
            run("C", 1, "DRY_RUN", issues=0, minutes=4),
        ]
    )
    last = await store.last_run("A")
    assert last is not None and last["attempt"] == 2

    runs = await store.runs_for("A")
    assert [(r["attempt"], r["status"]) for r in runs] == [(1, "FAILED"), (2, "COMPLETED")]
    assert runs[0]["issue_counts"] == {"warning": 2, "error": 1}
    assert "issues" not in runs[0]
    detailed = await store.runs_for("A", with_issues=True)
    assert len(detailed[0]["issues"]) == 3

    assert await store.status_counts() == {"COMPLETED": 1, "FAILED": 1, "DRY_RUN": 1}
    assert await store.status_counts(latest_only=False) == {
        "COMPLETED": 1,
        "FAILED": 2,
        "DRY_RUN": 1,
    }

    failures = await store.recent_failures(limit=5)
    assert [(f["customer_id"], f["attempt"], f["error"]) for f in failures] == [
        ("B", 1, "bad data"),
        ("A", 1, "sf2 down"),
    ]
    assert failures[0]["finished_at"] == T0 + timedelta(minutes=3, seconds=2)
    assert [e["message"] for e in failures[0]["errors"]] == ["issue 1 of B", "issue 3 of B"]
    assert len(await store.recent_failures(limit=1)) == 1

    assert await store.issue_counts(["A", "B", "C", "nobody"]) == {
        "A": {"warning": 1, "error": 0},
        "B": {"warning": 2, "error": 2},
        "C": {"warning": 0, "error": 0},
    }


async def test_nul_characters_are_dropped(store: AuditStore) -> None:
    bad = Issue(ERROR, "Case", "500X", "Description", "TRUNCATED", "dirty\x00value")
    record = run("N")
    await store.record_runs([RunRecord(**{**_fields(record), "issues": [bad], "error": "e\x00"})])
    last = await store.last_run("N")
    assert last is not None
    assert last["issues"][0]["message"] == "dirtyvalue" and last["error"] == "e"


def _fields(record: RunRecord) -> dict:
    return {name: getattr(record, name) for name in RunRecord.__dataclass_fields__}


def test_run_record_rejects_unknown_status() -> None:
    with pytest.raises(ValueError, match="status"):
        run("X", status="DONE")


async def test_record_runs_is_one_statement_per_batch(
    store: AuditStore, audit_settings: AuditSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """100 runs x 5 issues go to the server as one statement, first time and on a retry (the
    latency numbers belong in benchmarks/, not in a pass/fail test)."""
    statements: list[str] = []
    monkeypatch.setattr(store, "_cursor", _counting_cursor(store._cursor, statements))
    batch = [run(f"P{n}", issues=5) for n in range(100)]

    await asyncio.wait_for(store.record_runs(batch), HANG_GUARD_S)
    assert len(statements) == 1
    assert table_counts(audit_settings.dsn) == (100, 500)

    await asyncio.wait_for(store.record_runs(batch), HANG_GUARD_S)  # upsert + delete + insert
    assert len(statements) == 2
    assert table_counts(audit_settings.dsn) == (100, 500)


def _counting_cursor(cursor_cm, statements: list[str]):  # type: ignore[no-untyped-def]
    """Wrap AuditStore._cursor so every execute() on its cursors is recorded."""

    class Counting:
        def __init__(self, cur) -> None:  # type: ignore[no-untyped-def]
            self._cur = cur

        async def execute(self, sql: str, *args: object, **kwargs: object) -> object:
            statements.append(sql)
            return await self._cur.execute(sql, *args, **kwargs)

        def __getattr__(self, name: str) -> object:
            return getattr(self._cur, name)

    @contextlib.asynccontextmanager
    async def counting(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        async with cursor_cm(*args, **kwargs) as cur:
            yield Counting(cur)

    return counting


async def test_close_leaves_no_tasks_or_fds(audit_settings: AuditSettings) -> None:
    tasks_before = {t for t in asyncio.all_tasks() if not t.done()}
    fds_before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        audit = AuditStore(audit_settings)
        await audit.start()
        await asyncio.gather(*(audit.ping() for _ in range(5)))  # grow the pool
        await audit.close()
        await audit.close()  # idempotent
    # Closing may finish on the next loop iterations: wait for the condition, bounded.
    assert await _settle(lambda: {t for t in asyncio.all_tasks() if not t.done()} == tasks_before)
    assert await _settle(lambda: len(os.listdir("/proc/self/fd")) <= fds_before)


async def test_statement_timeout_is_transient_and_pool_survives(schema_dsn: str) -> None:
    audit = AuditStore(AuditSettings(dsn=schema_dsn, timeout=0.3))
    await audit.start()
    try:
        # The client's 0.3 s timeout ends the 30 s query (the guard only catches a hang).
        with pytest.raises(AuditUnavailable, match="timed out"):
            await asyncio.wait_for(audit._fetch("SELECT pg_sleep(30)"), HANG_GUARD_S)
        await audit.ping()
    finally:
        await audit.close()


async def test_unresponsive_server_times_out() -> None:
    """A server that accepts TCP and never answers must not hang start()."""
    accepted: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    audit = AuditStore(AuditSettings(dsn=f"postgresql://u@127.0.0.1:{port}/db", timeout=0.5))
    try:
        with pytest.raises(AuditUnavailable):
            await asyncio.wait_for(audit.start(), HANG_GUARD_S)  # its own 0.5 s timeout ends it
        assert not audit.started
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_unavailable_while_down_and_recovers(stoppable_postgres) -> None:
    audit = AuditStore(AuditSettings(dsn=stoppable_postgres.uri, pool_min=2, timeout=2.0))
    await audit.start()
    try:
        await asyncio.gather(*(audit.ping() for _ in range(4)))  # several pooled connections
        await audit.record_runs([run("R1")])

        await asyncio.to_thread(stoppable_postgres.stop)
        with pytest.raises(AuditUnavailable):
            await audit.ping()
        with pytest.raises(AuditUnavailable):
            await audit.record_runs([run("R2")])
        with pytest.raises(AuditUnavailable):
            await audit.last_run("R1")

        await asyncio.to_thread(stoppable_postgres.start)
        await audit.ping()  # the first call after the restart already works
        await audit.record_runs([run("R2")])
        assert await audit.status_counts() == {"COMPLETED": 2}
        # No broken connection is left in the pool: every pooled connection answers.
        await asyncio.gather(*(audit.ping() for _ in range(5)))
    finally:
        await audit.close()


async def test_server_statement_timeout_is_transient(store: AuditStore) -> None:
    """aiopg reports the server's statement_timeout as CancelledError: it must not look like one."""
    with pytest.raises(AuditUnavailable, match="server"):
        await store._fetch("SET statement_timeout = 50; SELECT pg_sleep(2)")
    await store.ping()
    assert await store.status_counts() == {}


async def test_real_cancellation_propagates(
    store: AuditStore, audit_settings: AuditSettings
) -> None:
    marker = f"cancel-probe-{uuid.uuid4().hex}"
    task = asyncio.create_task(store._fetch(f"SELECT pg_sleep(30) /* {marker} */"))
    # Cancel only once the query runs on the server (not while it is still being sent).
    assert await _settle(
        lambda: _active_queries(audit_settings.dsn, marker) == 1, within=HANG_GUARD_S
    ), "the query never started on the server"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.ping()


def test_settings_repr_hides_password() -> None:
    settings = AuditSettings(dsn="postgresql://app:s3cret@db.internal:5432/audit?sslmode=require")
    text = repr(settings)
    assert "s3cret" not in text and "db.internal:5432/audit" in text
    assert "s3cret" not in repr(AuditStore(settings))
    assert "s3cret" not in repr(AuditSettings(dsn="host=db password=s3cret"))
    dsn = AuditSettings(dsn="postgresql://u@h/d?options=-c%20search_path%3Dx", timeout=2.5)
    merged = dsn.connection_dsn()
    assert "search_path=x" in merged and "statement_timeout=2500" in merged
