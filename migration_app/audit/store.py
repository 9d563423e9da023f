"""Audit store: one ``migration_run`` row and its ``migration_issue`` rows per customer attempt.

Why it looks like this:
- One aiopg pool per worker, bounded, created in ``start()`` and closed in ``close()``.
- Every call is bounded: the pool's timeout covers acquire, connect and each statement on the
  client side, and the server's ``statement_timeout`` is set to the same value as a backstop.
- ``record_runs`` writes a whole batch in one statement (JSON in, data-modifying CTEs), because
  the pipeline audits ~100 customers per batch and one round trip per row would dominate.
- Connection trouble (PostgreSQL down, timeouts) raises :class:`AuditUnavailable`, a transient
  error: the pipeline pauses and retries instead of marking customers done without audit.
- Schema changes are the packaged ``audit/sql/NNNN_*.sql`` files, applied at start in one
  transaction under an advisory lock, so many workers starting at once apply each file once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Protocol

import aiopg
import psycopg2
import psycopg2.extensions

from migration_app.audit.errors import AuditError, AuditUnavailable
from migration_app.contracts.customer_status import TERMINAL_STATUSES
from migration_app.ops.redaction import redact_dsn

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key serialising schema changes across workers ("migr" in ASCII).
SCHEMA_CHANGE_LOCK_KEY = 0x6D696772
SEVERITIES = frozenset({"warning", "error"})
_SCHEMA_CHANGE_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditSettings:
    """Connection settings of the audit pool (the DSN never appears in reprs or logs)."""

    dsn: str = field(repr=False)
    pool_min: int = 1
    pool_max: int = 5
    timeout: float = 5.0  # connect, acquire and statement timeout (s)
    schema_change_timeout: float = 60.0  # statement timeout while applying schema changes (s)
    application_name: str = "migration_app"

    def __post_init__(self) -> None:
        if not 0 <= self.pool_min <= self.pool_max or self.pool_max < 1:
            raise ValueError(
                f"need 0 <= pool_min <= pool_max >= 1, got {self.pool_min}/{self.pool_max}"
            )
        if self.timeout <= 0 or self.schema_change_timeout <= 0:
            raise ValueError("timeouts must be greater than 0")

    def __repr__(self) -> str:
        return (
            f"AuditSettings(dsn={redact_dsn(self.dsn)!r}, pool_min={self.pool_min}, "
            f"pool_max={self.pool_max}, timeout={self.timeout}, "
            f"schema_change_timeout={self.schema_change_timeout})"
        )

    def connection_dsn(self) -> str:
        """The DSN with our timeouts, keepalives and application name merged into it."""
        params = psycopg2.extensions.parse_dsn(self.dsn)
        statement_ms = max(1, int(self.timeout * 1000))
        options = params.get("options", "")
        params["options"] = f"{options} -c statement_timeout={statement_ms}".strip()
        # libpq's connect_timeout is whole seconds and treats values below 2 as 2.
        params["connect_timeout"] = str(max(2, math.ceil(self.timeout)))
        params.setdefault("application_name", self.application_name)
        params.setdefault("keepalives", "1")
        params.setdefault("keepalives_idle", "30")
        params.setdefault("keepalives_interval", "10")
        params.setdefault("keepalives_count", "3")
        return psycopg2.extensions.make_dsn(**params)


# --- records ---------------------------------------------------------------------------------


class IssueLike(Protocol):
    """What record_runs needs of an issue (``migration.issues.Issue`` fits)."""

    @property
    def severity(self) -> str: ...
    @property
    def object(self) -> str: ...
    @property
    def legacy_id(self) -> str | None: ...
    @property
    def field(self) -> str | None: ...
    @property
    def code(self) -> str: ...
    @property
    def message(self) -> str: ...


Timestamp = datetime | float
#: uncertain: found in V2 right after an interrupted attempt (maybe ours; rollback keeps it)
LEDGER_ACTIONS = frozenset({"created", "updated", "uncertain", "deleted"})
VERDICTS = ("MATCH", "DRIFT", "MISSING", "UNEXPECTED")


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One V2 record a run wrote or a rollback deleted: the basis of idmap, verify, rollback."""

    object: str  # V2 object
    legacy_id: str
    v2_id: str
    action: str  # created | updated | deleted

    def __post_init__(self) -> None:
        if self.action not in LEDGER_ACTIONS:
            raise ValueError(f"ledger action must be one of {sorted(LEDGER_ACTIONS)}")


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One migration attempt of one customer; ``(customer_id, attempt)`` is its identity."""

    customer_id: str
    attempt: int
    status: str  # COMPLETED | FAILED | DRY_RUN
    correlation_id: str | None
    started_at: Timestamp  # aware datetime, naive datetime (taken as UTC) or epoch seconds
    finished_at: Timestamp
    worker: str | None
    counts: Mapping[str, Any] = field(default_factory=dict)  # {object: {created, updated}}
    rejected: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    issues: Sequence[IssueLike] = ()
    records: Sequence[LedgerEntry] = ()

    def __post_init__(self) -> None:
        if self.status not in TERMINAL_STATUSES:
            raise ValueError(
                f"status must be one of {sorted(TERMINAL_STATUSES)}, got {self.status!r}"
            )
        for issue in self.issues:
            if issue.severity not in SEVERITIES:
                raise ValueError(f"issue severity must be warning or error: {issue.severity!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "attempt": self.attempt,
            "status": self.status,
            "correlation_id": self.correlation_id,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "worker": self.worker,
            "counts": dict(self.counts),
            "rejected": dict(self.rejected),
            "error": self.error,
            "issues": [
                {
                    "severity": i.severity,
                    "object": i.object,
                    "legacy_id": i.legacy_id,
                    "field": i.field,
                    "code": i.code,
                    "message": i.message,
                }
                for i in self.issues
            ],
            "records": [
                {"object": r.object, "legacy_id": r.legacy_id, "v2_id": r.v2_id, "action": r.action}
                for r in self.records
            ],
        }


def _iso(value: Timestamp) -> str:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return datetime.fromtimestamp(float(value), UTC).isoformat()


def _without_nul(value: Any) -> Any:
    """PostgreSQL text and jsonb cannot hold NUL; dirty legacy data sometimes does."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def runs_payload(runs: Iterable[RunRecord]) -> str:
    """JSON array of runs for record_runs; the last record of a repeated key wins."""
    latest: dict[tuple[str, int], RunRecord] = {}
    for run in runs:
        latest.pop((run.customer_id, run.attempt), None)
        latest[(run.customer_id, run.attempt)] = run
    payload = json.dumps([run.to_json() for run in latest.values()], separators=(",", ":"))
    if "\\u0000" in payload:
        payload = json.dumps(_without_nul(json.loads(payload)), separators=(",", ":"))
    return payload


# --- schema changes --------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaChange:
    """One packaged ``audit/sql/NNNN_name.sql`` file: a change to the audit database's schema."""

    version: int
    name: str
    sql: str


def load_schema_changes() -> list[SchemaChange]:
    """The packaged ``audit/sql/NNNN_name.sql`` files, in version order (blocking file I/O)."""
    found: dict[int, SchemaChange] = {}
    for entry in resources.files("migration_app.audit").joinpath("sql").iterdir():
        match = _SCHEMA_CHANGE_FILE.match(entry.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise AuditError(f"two audit schema changes with version {version}")
        found[version] = SchemaChange(version, entry.name, entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


#: the applied schema changes (the table keeps the name it is deployed under)
_CREATE_SCHEMA_CHANGES_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""

# --- SQL of the repository -------------------------------------------------------------------

# One statement: upsert the runs, drop the issues those runs had, insert the new issues. All CTEs
# see the same snapshot, so the DELETE only removes issues that existed before this statement.
_RECORD_RUNS = """
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(runs)s::jsonb) AS r(
        customer_id text, attempt integer, status text, correlation_id text,
        started_at timestamptz, finished_at timestamptz, worker text,
        counts jsonb, rejected jsonb, error text, issues jsonb, records jsonb)
), upserted AS (
    INSERT INTO migration_run AS m (customer_id, attempt, status, correlation_id, started_at,
                                    finished_at, worker, counts, rejected, error)
    SELECT customer_id, attempt, status, correlation_id, started_at, finished_at, worker,
           coalesce(counts, '{}'::jsonb), coalesce(rejected, '{}'::jsonb), error
    FROM input
    ON CONFLICT (customer_id, attempt) DO UPDATE SET
        status = EXCLUDED.status, correlation_id = EXCLUDED.correlation_id,
        started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
        worker = EXCLUDED.worker, counts = EXCLUDED.counts, rejected = EXCLUDED.rejected,
        error = EXCLUDED.error, recorded_at = now()
    RETURNING m.id, m.customer_id, m.attempt
), dropped AS (
    DELETE FROM migration_issue i USING upserted u WHERE i.run_id = u.id
), dropped_records AS (
    DELETE FROM migration_record l USING upserted u WHERE l.run_id = u.id
), ledger AS (
    INSERT INTO migration_record (run_id, customer_id, object, legacy_id, v2_id, action)
    SELECT u.id, u.customer_id, x.item ->> 'object', x.item ->> 'legacy_id',
           x.item ->> 'v2_id', x.item ->> 'action'
    FROM upserted u
    JOIN input r ON r.customer_id = u.customer_id AND r.attempt = u.attempt
    CROSS JOIN LATERAL jsonb_array_elements(coalesce(r.records, '[]'::jsonb))
        WITH ORDINALITY AS x(item, n)
    ORDER BY u.id, x.n
)
INSERT INTO migration_issue (run_id, severity, object, legacy_id, field, code, message)
SELECT u.id, x.item ->> 'severity', x.item ->> 'object', x.item ->> 'legacy_id',
       x.item ->> 'field', x.item ->> 'code', x.item ->> 'message'
FROM upserted u
JOIN input r ON r.customer_id = u.customer_id AND r.attempt = u.attempt
CROSS JOIN LATERAL jsonb_array_elements(coalesce(r.issues, '[]'::jsonb))
    WITH ORDINALITY AS x(item, n)
ORDER BY u.id, x.n
"""

_LEDGER_FOR = """
SELECT l.id, l.customer_id, r.attempt, r.status AS run_status, l.object, l.legacy_id, l.v2_id,
       l.action, l.recorded_at
FROM migration_record l JOIN migration_run r ON r.id = l.run_id
WHERE l.customer_id = ANY(%(customer_ids)s)
ORDER BY l.id
"""

_IDMAP_PAGE = """
SELECT l.id, l.customer_id, l.object, l.legacy_id, l.v2_id, l.action, l.recorded_at
FROM migration_record l
WHERE l.id > %(after)s AND (%(object)s::text IS NULL OR l.object = %(object)s)
ORDER BY l.id
LIMIT %(limit)s
"""

_RECORD_VERIFICATIONS = """
INSERT INTO migration_verification (customer_id, verdict, details, source)
SELECT customer_id, verdict, coalesce(details, '[]'::jsonb), coalesce(source, 'cli')
FROM jsonb_to_recordset(%(rows)s::jsonb)
    AS v(customer_id text, verdict text, details jsonb, source text)
"""

_LATEST_VERIFICATION = """
SELECT customer_id, verdict, details, source, verified_at FROM migration_verification
WHERE customer_id = %(customer_id)s ORDER BY verified_at DESC, id DESC LIMIT 1
"""

_COMPLETED_CUSTOMERS = """
SELECT customer_id FROM (
    SELECT DISTINCT ON (customer_id) customer_id, status, finished_at
    FROM migration_run ORDER BY customer_id, attempt DESC
) latest
WHERE status = 'COMPLETED' AND (%(since)s::timestamptz IS NULL OR finished_at >= %(since)s)
ORDER BY customer_id
"""

_RUN_COLUMNS = """r.id, r.customer_id, r.attempt, r.status, r.correlation_id, r.started_at,
    r.finished_at, r.worker, r.counts, r.rejected, r.error, r.recorded_at"""

_ISSUES_OF_RUN = """coalesce((
    SELECT jsonb_agg(jsonb_build_object(
        'severity', i.severity, 'object', i.object, 'legacy_id', i.legacy_id,
        'field', i.field, 'code', i.code, 'message', i.message) ORDER BY i.id)
    FROM migration_issue i WHERE i.run_id = r.id), '[]'::jsonb)"""

_ISSUE_COUNTS_OF_RUN = """(
    SELECT jsonb_build_object(
        'warning', count(*) FILTER (WHERE i.severity = 'warning'),
        'error', count(*) FILTER (WHERE i.severity = 'error'))
    FROM migration_issue i WHERE i.run_id = r.id)"""

_LAST_RUN = f"""
SELECT {_RUN_COLUMNS}, {_ISSUES_OF_RUN} AS issues
FROM migration_run r WHERE r.customer_id = %(customer_id)s
ORDER BY r.attempt DESC LIMIT 1"""

_RUNS_FOR = f"""
SELECT {_RUN_COLUMNS}, {_ISSUE_COUNTS_OF_RUN} AS issue_counts, {{issues}}
FROM migration_run r WHERE r.customer_id = %(customer_id)s
ORDER BY r.attempt"""

_LATEST_STATUS_COUNTS = """
SELECT status, count(*) FROM (
    SELECT DISTINCT ON (customer_id) status FROM migration_run
    ORDER BY customer_id, attempt DESC) latest
GROUP BY status"""

_RUN_STATUS_COUNTS = "SELECT status, count(*) FROM migration_run GROUP BY status"

_RECENT_FAILURES = """
SELECT r.customer_id, r.attempt, r.finished_at, r.error, coalesce((
    SELECT jsonb_agg(jsonb_build_object(
        'object', e.object, 'legacy_id', e.legacy_id, 'field', e.field,
        'code', e.code, 'message', e.message) ORDER BY e.id)
    FROM (SELECT * FROM migration_issue i
          WHERE i.run_id = r.id AND i.severity = 'error' ORDER BY i.id LIMIT %(errors)s) e
    ), '[]'::jsonb) AS errors
FROM migration_run r WHERE r.status = 'FAILED'
ORDER BY r.finished_at DESC, r.id DESC LIMIT %(limit)s"""

_ISSUE_COUNTS = """
SELECT latest.customer_id, i.severity, count(i.id)
FROM (SELECT DISTINCT ON (customer_id) id, customer_id FROM migration_run
      WHERE customer_id = ANY(%(customer_ids)s) ORDER BY customer_id, attempt DESC) latest
LEFT JOIN migration_issue i ON i.run_id = latest.id
GROUP BY latest.customer_id, i.severity"""


# --- the store -------------------------------------------------------------------------------


class AuditStore:
    """The audit repository over one aiopg pool. ``start()`` before use, ``close()`` at stop."""

    def __init__(self, settings: AuditSettings) -> None:
        self.settings = settings
        self._pool: aiopg.Pool | None = None

    def __repr__(self) -> str:
        return f"AuditStore({self.settings!r}, started={self._pool is not None})"

    @property
    def started(self) -> bool:
        return self._pool is not None

    async def start(self) -> None:
        """Create the pool and apply pending schema changes; idempotent."""
        if self._pool is not None:
            return
        changes = await asyncio.to_thread(load_schema_changes)
        with _translated("connect"):
            self._pool = await aiopg.create_pool(
                self.settings.connection_dsn(),
                minsize=self.settings.pool_min,
                maxsize=self.settings.pool_max,
                timeout=self.settings.timeout,
                enable_hstore=False,  # saves a catalogue query per new connection
                enable_uuid=False,
            )
        try:
            applied = await self._apply_schema_changes(changes)
        except BaseException:
            await self.close()
            raise
        if applied:
            log.info("audit schema changes applied: %s", ", ".join(applied))

    async def close(self) -> None:
        """Close every connection and wait for it; a stuck one is terminated after timeout."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        pool.close()
        try:
            async with asyncio.timeout(self.settings.timeout):
                await pool.wait_closed()
        except TimeoutError:
            log.warning("audit pool did not close within %ss: terminating", self.settings.timeout)
            pool.terminate()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.timeout):
                    await pool.wait_closed()

    async def ping(self) -> None:
        """``SELECT 1`` within the timeout (health check); raises AuditUnavailable."""
        with _translated("ping"):
            async with asyncio.timeout(self.settings.timeout):
                async with self._cursor() as cur:
                    await cur.execute("SELECT 1")
                    await cur.fetchone()

    # -- writes --

    async def record_runs(self, runs: Sequence[RunRecord]) -> None:
        """Upsert runs and replace their issues, all in one statement (one transaction).

        Idempotent per (customer_id, attempt): retrying a batch overwrites, never duplicates.
        """
        if not runs:
            return
        payload = runs_payload(runs)
        async with self._cursor() as cur:
            await cur.execute(_RECORD_RUNS, {"runs": payload})

    # -- reads --

    async def last_run(self, customer_id: str) -> dict[str, Any] | None:
        """The customer's highest attempt with its issues (list of dicts), or None."""
        rows = await self._fetch(_LAST_RUN, {"customer_id": customer_id})
        return rows[0] if rows else None

    async def runs_for(
        self, customer_id: str, *, with_issues: bool = False
    ) -> list[dict[str, Any]]:
        """Every attempt of a customer, oldest first, with ``issue_counts`` (and issues)."""
        extra = f"{_ISSUES_OF_RUN} AS issues" if with_issues else "NULL AS issues"
        rows = await self._fetch(_RUNS_FOR.format(issues=extra), {"customer_id": customer_id})
        if not with_issues:
            for row in rows:
                del row["issues"]
        return rows

    async def status_counts(self, *, latest_only: bool = True) -> dict[str, int]:
        """Customers per status of their latest attempt (``latest_only=False``: all runs)."""
        rows = await self._fetch(_LATEST_STATUS_COUNTS if latest_only else _RUN_STATUS_COUNTS)
        return {row["status"]: row["count"] for row in rows}

    async def recent_failures(self, limit: int = 20, *, errors: int = 3) -> list[dict[str, Any]]:
        """Newest FAILED runs: customer_id, attempt, finished_at, error, first ``errors`` issues."""
        return await self._fetch(_RECENT_FAILURES, {"limit": limit, "errors": errors})

    async def issue_counts(self, customer_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """{customer_id: {"warning": n, "error": n}} of each customer's latest attempt."""
        if not customer_ids:
            return {}
        rows = await self._fetch(_ISSUE_COUNTS, {"customer_ids": list(customer_ids)})
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            per = counts.setdefault(row["customer_id"], {"warning": 0, "error": 0})
            if row["severity"] is not None:
                per[row["severity"]] = row["count"]
        return counts

    # -- ledger and verification --

    async def ledger_for(self, customer_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every ledger row of these customers, oldest first (run attempt included)."""
        return await self._fetch(_LEDGER_FOR, {"customer_ids": list(customer_ids)})

    async def idmap_page(
        self, after_id: int, limit: int, sobject: str | None = None
    ) -> list[dict[str, Any]]:
        """Ledger rows with id > after_id (keyset pagination: memory bounded by ``limit``)."""
        return await self._fetch(
            _IDMAP_PAGE, {"after": after_id, "limit": limit, "object": sobject}
        )

    async def record_verifications(self, verdicts: Sequence[Mapping[str, Any]]) -> None:
        """Insert verdicts ({customer_id, verdict, details, source}) in one statement."""
        if not verdicts:
            return
        payload = json.dumps(list(verdicts), separators=(",", ":"), default=str)
        async with self._cursor() as cur:
            await cur.execute(_RECORD_VERIFICATIONS, {"rows": payload})

    async def latest_verification(self, customer_id: str) -> dict[str, Any] | None:
        rows = await self._fetch(_LATEST_VERIFICATION, {"customer_id": customer_id})
        return rows[0] if rows else None

    async def completed_customers(self, since: datetime | None = None) -> list[str]:
        """Customers whose latest attempt COMPLETED (finished since ``since``), for verify --all."""
        rows = await self._fetch(_COMPLETED_CUSTOMERS, {"since": since})
        return [row["customer_id"] for row in rows]

    async def customer_report(self, customer_id: str) -> dict[str, Any]:
        """The last run and the latest verification (aiomonitor's `migration`, the web view)."""
        return {
            "last_run": await self.last_run(customer_id),
            "verification": await self.latest_verification(customer_id),
        }

    async def fetch(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Rows of a read query as dicts (the console's queries; bounded like every call)."""
        return await self._fetch(sql, params)

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """One write statement (the console's action log and worker heartbeat)."""
        async with self._cursor() as cur:
            await cur.execute(sql, params)

    # -- plumbing --

    async def _fetch(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        async with self._cursor() as cur:
            await cur.execute(sql, params)
            names = [column.name for column in cur.description]
            return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]

    async def _apply_schema_changes(self, changes: Sequence[SchemaChange]) -> list[str]:
        """Apply missing schema changes in one transaction holding the advisory lock."""
        applied: list[str] = []
        timeout_ms = int(self.settings.schema_change_timeout * 1000)
        async with self._cursor(query_timeout=self.settings.schema_change_timeout) as cur:
            await cur.execute("BEGIN")
            await cur.execute(f"SET LOCAL statement_timeout = {timeout_ms}")
            await cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_CHANGE_LOCK_KEY,))
            await cur.execute(_CREATE_SCHEMA_CHANGES_TABLE)
            await cur.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in await cur.fetchall()}
            for change in changes:
                if change.version in done:
                    continue
                await cur.execute(change.sql)
                await cur.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (change.version, change.name),
                )
                applied.append(change.name)
            await cur.execute("COMMIT")
        return applied

    @contextlib.asynccontextmanager
    async def _cursor(self, query_timeout: float | None = None) -> AsyncIterator[aiopg.Cursor]:
        """A cursor on a pooled connection; errors translated, suspect connections discarded."""
        if self._pool is None:
            raise AuditError("audit store is not started")
        with _translated("query"):
            async with self._pool.acquire() as conn:
                try:
                    async with conn.cursor(timeout=query_timeout) as cur:
                        yield cur
                except BaseException as exc:
                    _discard_if_suspect(conn, exc)
                    raise


def _discard_if_suspect(conn: aiopg.Connection, exc: BaseException) -> None:
    """Close a connection that broke or sits in a transaction, so the pool drops it."""
    if conn.closed:
        return
    broken = isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError)
    idle = conn.raw.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    if broken or not idle:
        conn.close()


@contextlib.contextmanager
def _translated(what: str) -> Any:
    """Map driver errors to AuditUnavailable (transient) or AuditError (not transient)."""
    try:
        yield
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # a real cancellation
        # aiopg turns the server's statement_timeout (QueryCanceledError) into CancelledError.
        raise AuditUnavailable(f"audit {what}: statement timed out on the server") from exc
    except TimeoutError as exc:
        raise AuditUnavailable(f"audit {what}: timed out") from exc
    except (psycopg2.OperationalError, psycopg2.InterfaceError, OSError) as exc:
        raise AuditUnavailable(f"audit {what}: {_first_line(exc)}") from exc
    except psycopg2.Error as exc:
        raise AuditError(f"audit {what}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
