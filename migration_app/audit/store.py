"""The audit repository (:class:`AuditStore`): one ``migration_run`` row and its
``migration_issue`` and ``migration_record`` rows per customer attempt, and the verdicts.

Why it looks like this:
- One aiopg pool per worker, bounded, created in ``start()`` and closed in ``close()``.
- Every call is bounded: the pool's timeout covers acquire, connect and each statement on the
  client side, and the server's ``statement_timeout`` is set to the same value as a backstop.
- ``record_runs`` writes a whole batch in one statement (JSON in, data-modifying CTEs), because
  the pipeline audits ~100 customers per batch and one round trip per row would dominate.
- Connection trouble (PostgreSQL down, timeouts) raises :class:`AuditUnavailable`, a transient
  error: the pipeline pauses and retries instead of marking customers done without audit.
- ``start()`` applies the pending schema changes (``schema_changes``) before anything else.

Its settings are in ``settings``, its rows in ``records`` and its SQL in ``queries``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import aiopg
import psycopg2
import psycopg2.extensions

from migration_app.audit import queries
from migration_app.audit.errors import AuditError, AuditUnavailable
from migration_app.audit.records import RunRecord, runs_payload
from migration_app.audit.schema_changes import (
    SchemaChange,
    apply_schema_changes,
    load_schema_changes,
)
from migration_app.audit.settings import AuditSettings

#: AuditSettings is importable from here as well (the store is built from it).
__all__ = ["AuditSettings", "AuditStore"]

log = logging.getLogger(__name__)


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
            await cur.execute(queries.RECORD_RUNS, {"runs": payload})

    # -- reads --

    async def last_run(self, customer_id: str) -> dict[str, Any] | None:
        """The customer's highest attempt with its issues (list of dicts), or None."""
        rows = await self._fetch(queries.LAST_RUN, {"customer_id": customer_id})
        return rows[0] if rows else None

    async def runs_for(
        self, customer_id: str, *, with_issues: bool = False
    ) -> list[dict[str, Any]]:
        """Every attempt of a customer, oldest first, with ``issue_counts`` (and issues)."""
        extra = f"{queries.ISSUES_OF_RUN} AS issues" if with_issues else "NULL AS issues"
        rows = await self._fetch(
            queries.RUNS_FOR.format(issues=extra), {"customer_id": customer_id}
        )
        if not with_issues:
            for row in rows:
                del row["issues"]
        return rows

    async def status_counts(self, *, latest_only: bool = True) -> dict[str, int]:
        """Customers per status of their latest attempt (``latest_only=False``: all runs)."""
        rows = await self._fetch(
            queries.LATEST_STATUS_COUNTS if latest_only else queries.RUN_STATUS_COUNTS
        )
        return {row["status"]: row["count"] for row in rows}

    async def recent_failures(self, limit: int = 20, *, errors: int = 3) -> list[dict[str, Any]]:
        """Newest FAILED runs: customer_id, attempt, finished_at, error, first ``errors`` issues."""
        return await self._fetch(queries.RECENT_FAILURES, {"limit": limit, "errors": errors})

    async def issue_counts(self, customer_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """{customer_id: {"warning": n, "error": n}} of each customer's latest attempt."""
        if not customer_ids:
            return {}
        rows = await self._fetch(queries.ISSUE_COUNTS, {"customer_ids": list(customer_ids)})
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            per = counts.setdefault(row["customer_id"], {"warning": 0, "error": 0})
            if row["severity"] is not None:
                per[row["severity"]] = row["count"]
        return counts

    # -- ledger and verification --

    async def ledger_for(self, customer_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every ledger row of these customers, oldest first (run attempt included)."""
        return await self._fetch(queries.LEDGER_FOR, {"customer_ids": list(customer_ids)})

    async def idmap_page(
        self, after_id: int, limit: int, sobject: str | None = None
    ) -> list[dict[str, Any]]:
        """Ledger rows with id > after_id (keyset pagination: memory bounded by ``limit``)."""
        return await self._fetch(
            queries.IDMAP_PAGE, {"after": after_id, "limit": limit, "object": sobject}
        )

    async def record_verifications(self, verdicts: Sequence[Mapping[str, Any]]) -> None:
        """Insert verdicts ({customer_id, verdict, details, source}) in one statement."""
        if not verdicts:
            return
        payload = json.dumps(list(verdicts), separators=(",", ":"), default=str)
        async with self._cursor() as cur:
            await cur.execute(queries.RECORD_VERIFICATIONS, {"rows": payload})

    async def latest_verification(self, customer_id: str) -> dict[str, Any] | None:
        rows = await self._fetch(queries.LATEST_VERIFICATION, {"customer_id": customer_id})
        return rows[0] if rows else None

    async def completed_customers(self, since: datetime | None = None) -> list[str]:
        """Customers whose latest attempt COMPLETED (finished since ``since``), for verify --all."""
        rows = await self._fetch(queries.COMPLETED_CUSTOMERS, {"since": since})
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
        timeout = self.settings.schema_change_timeout
        async with self._cursor(query_timeout=timeout) as cur:
            return await apply_schema_changes(cur, changes, timeout)

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
