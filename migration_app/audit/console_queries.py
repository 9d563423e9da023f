"""The console's reads and writes on the audit database, which every worker shares.

Why the audit database and not the table: the ``migration_state`` table is split by partition
across workers and Faust routes only single-key lookups, so a cluster-wide count through the table
would mean asking every worker and summing (and missing whoever is mid-rebalance). Every worker
writes its audit rows to the same PostgreSQL, so one query sees all customers of all workers.
What only the workers know (consumer lag, customers still in flight, API allocation) each worker
writes to ``console_worker`` every few seconds; the fresh rows together cover every partition.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from migration_app.audit.concurrency_leases import usage as concurrency_usage
from migration_app.audit.store import AuditStore

#: A worker row older than this is ignored (the worker is gone; its partitions moved).
HEARTBEAT_FRESH_S = 30
PAGE_SIZE = 50

# One pass over each customer's latest run (the unique (customer_id, attempt) index answers the
# NOT EXISTS), with index probes of migration_issue (run_id, severity) for the issue counts.
_LATEST_COUNTS = """
SELECT r.status, count(*) AS n,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM migration_issue i
                                      WHERE i.run_id = r.id AND i.severity = 'warning')) AS warned,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM migration_issue i
                                      WHERE i.run_id = r.id AND i.severity = 'error')) AS errored
FROM migration_run r
WHERE NOT EXISTS (SELECT 1 FROM migration_run n
                  WHERE n.customer_id = r.customer_id AND n.attempt > r.attempt)
GROUP BY r.status"""

_THROUGHPUT = """
SELECT floor(extract(epoch FROM (now() - finished_at)) / 60)::int AS minutes_ago, count(*) AS n
FROM migration_run WHERE finished_at > now() - interval '60 minutes' AND status <> 'DRY_RUN'
GROUP BY 1"""

_WORKERS = f"""
SELECT worker, url, updated_at, lag, by_status, api,
       extract(epoch FROM now() - updated_at)::float8 AS age_s
FROM console_worker WHERE updated_at > now() - interval '{HEARTBEAT_FRESH_S} seconds'
ORDER BY worker"""

_HEARTBEAT = """
INSERT INTO console_worker (worker, url, updated_at, lag, by_status, api)
VALUES (%(worker)s, %(url)s, now(), %(lag)s::jsonb, %(by_status)s::jsonb, %(api)s::jsonb)
ON CONFLICT (worker) DO UPDATE SET url = EXCLUDED.url, updated_at = now(), lag = EXCLUDED.lag,
    by_status = EXCLUDED.by_status, api = EXCLUDED.api"""

_FILTER_OPTIONS = """
SELECT 'code' AS kind, code AS value FROM (SELECT DISTINCT code FROM migration_issue) c
UNION ALL
SELECT 'object', object FROM (SELECT DISTINCT object FROM migration_issue) o
ORDER BY 1, 2"""

_CUSTOMERS = """
WITH latest AS (
    SELECT DISTINCT ON (customer_id) id, customer_id, attempt, status, finished_at, error
    FROM migration_run
    WHERE (%(q)s::text IS NULL OR customer_id ILIKE %(q)s)
    ORDER BY customer_id, attempt DESC
)
SELECT l.customer_id, l.attempt, l.status, l.finished_at, l.error,
       (SELECT count(*) FROM migration_issue i
        WHERE i.run_id = l.id AND i.severity = 'warning') AS warnings,
       (SELECT count(*) FROM migration_issue i
        WHERE i.run_id = l.id AND i.severity = 'error') AS errors,
       count(*) OVER () AS total
FROM latest l
WHERE (%(status)s::text IS NULL OR l.status = %(status)s)
  AND (%(code)s::text IS NULL AND %(object)s::text IS NULL OR EXISTS (
        SELECT 1 FROM migration_issue i WHERE i.run_id = l.id
          AND (%(code)s::text IS NULL OR i.code = %(code)s)
          AND (%(object)s::text IS NULL OR i.object = %(object)s)))
ORDER BY l.customer_id
LIMIT %(limit)s OFFSET %(offset)s"""

_RUNS = """
SELECT r.id, r.attempt, r.status, r.correlation_id, r.started_at, r.finished_at, r.worker,
       r.counts, r.rejected, r.error,
       coalesce((SELECT jsonb_agg(jsonb_build_object(
            'severity', i.severity, 'object', i.object, 'legacy_id', i.legacy_id,
            'field', i.field, 'code', i.code, 'message', i.message) ORDER BY i.id)
        FROM migration_issue i WHERE i.run_id = r.id), '[]'::jsonb) AS issues
FROM migration_run r WHERE r.customer_id = %(customer_id)s ORDER BY r.attempt DESC"""

_ACTIONS = """
SELECT at, actor, action, outcome, detail FROM console_action
WHERE customer_id = %(customer_id)s ORDER BY at DESC LIMIT 20"""

_RECORD_ACTION = """
INSERT INTO console_action (actor, action, customer_id, outcome, detail)
VALUES (%(actor)s, %(action)s, %(customer_id)s, %(outcome)s, %(detail)s)"""


@dataclass
class Overview:
    """What /migrations/ shows, cluster-wide."""

    finished_by_status: dict[str, int]
    in_flight_by_status: dict[str, int]
    customers_with: dict[str, int]
    per_minute: list[int]  # index 0 = the minute that is now ending, 59 = an hour ago
    workers: list[dict[str, Any]]
    queued: int | None
    api: dict[str, dict[str, int]]
    errors: list[str] = field(default_factory=list)
    #: each org's concurrency budget across the live workers: {org: {in_use, held, limit, workers}}
    concurrency: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def finished(self) -> int:
        return sum(self.finished_by_status.values())

    @property
    def seen(self) -> int:
        """Customers the workers' tables hold (every status), at least those finished."""
        in_tables = sum(sum(w["by_status"].values()) for w in self.workers)
        return max(self.finished, in_tables)

    @property
    def by_status(self) -> dict[str, int]:
        return {**self.in_flight_by_status, **self.finished_by_status}

    @property
    def last_hour(self) -> int:
        return sum(self.per_minute)

    @property
    def rate_per_min(self) -> float:
        """Finished per minute over the last 10 minutes (the ETA's denominator)."""
        return sum(self.per_minute[:10]) / 10

    @property
    def eta_seconds(self) -> float | None:
        if self.queued is None or self.rate_per_min <= 0:
            return None
        return self.queued / self.rate_per_min * 60


async def overview(audit: AuditStore) -> Overview:
    """Four queries, run concurrently on the pool; each uses an index (0010_console.sql) or
    reads a table of a row per live worker (org_concurrency_member)."""
    counts, minutes, workers, concurrency = await asyncio.gather(
        audit.fetch(_LATEST_COUNTS),
        audit.fetch(_THROUGHPUT),
        audit.fetch(_WORKERS),
        concurrency_usage(audit),
    )
    per_minute = [0] * 60
    for row in minutes:
        if 0 <= row["minutes_ago"] < 60:
            per_minute[row["minutes_ago"]] = row["n"]
    in_flight: dict[str, int] = {}
    api: dict[str, dict[str, Any]] = {}
    lag: dict[str, int] = {}
    for worker in workers:
        for status in ("PENDING", "IN_PROGRESS"):
            n = int(worker["by_status"].get(status, 0))
            if n:
                in_flight[status] = in_flight.get(status, 0) + n
        for partition, n in worker["lag"].items():
            lag[partition] = int(n)  # a partition moving between workers: counted once
        for org, allocation in worker["api"].items():
            seen = api.get(org)
            if seen is None or worker["age_s"] < seen["age_s"]:
                api[org] = {**allocation, "age_s": worker["age_s"]}
    return Overview(
        finished_by_status={row["status"]: row["n"] for row in counts},
        in_flight_by_status=in_flight,
        customers_with={
            "warning": sum(row["warned"] for row in counts),
            "error": sum(row["errored"] for row in counts),
        },
        per_minute=per_minute,
        workers=workers,
        queued=sum(lag.values()) if workers else None,
        api=api,
        concurrency=concurrency,
    )


async def heartbeat(
    audit: AuditStore,
    *,
    worker: str,
    url: str,
    lag: dict[str, int],
    by_status: dict[str, int],
    api: dict[str, dict[str, int]],
) -> None:
    await audit.execute(
        _HEARTBEAT,
        {
            "worker": worker,
            "url": url,
            "lag": json.dumps(lag),
            "by_status": json.dumps(by_status),
            "api": json.dumps(api),
        },
    )


@dataclass(frozen=True)
class CustomerFilter:
    status: str | None = None
    code: str | None = None
    object: str | None = None
    q: str | None = None
    page: int = 1

    def params(self) -> dict[str, str]:
        """The non-empty filters as query parameters (for links to other pages)."""
        out = {"status": self.status, "code": self.code, "object": self.object, "q": self.q}
        return {k: v for k, v in out.items() if v}


async def customers(
    audit: AuditStore, flt: CustomerFilter, page_size: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], int]:
    """One page of customers (latest attempt each) matching the filter, and the total."""
    q = None
    if flt.q:
        escaped = flt.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        q = f"%{escaped}%"
    rows = await audit.fetch(
        _CUSTOMERS,
        {
            "status": flt.status,
            "code": flt.code,
            "object": flt.object,
            "q": q,
            "limit": page_size,
            "offset": (max(1, flt.page) - 1) * page_size,
        },
    )
    total = rows[0]["total"] if rows else 0
    return rows, total


async def filter_options(audit: AuditStore) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"code": [], "object": []}
    for row in await audit.fetch(_FILTER_OPTIONS):
        out[row["kind"]].append(row["value"])
    return out


async def runs(audit: AuditStore, customer_id: str) -> list[dict[str, Any]]:
    """Every audit run of the customer, newest first, each with its issues."""
    return await audit.fetch(_RUNS, {"customer_id": customer_id})


async def id_map(audit: AuditStore, customer_id: str) -> list[dict[str, Any]]:
    """V1 -> V2 ids from the ledger: each record's latest row (created, updated or deleted)."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in await audit.ledger_for([customer_id]):
        latest[(row["object"], row["legacy_id"])] = {
            "object": row["object"],
            "v2_object": row["object"],  # the ledger records the V2 object
            "legacy_id": row["legacy_id"],
            "v2_id": row["v2_id"],
            "operation": row["action"],
            "at": row["recorded_at"],
        }
    return list(latest.values())


async def actions(audit: AuditStore, customer_id: str) -> list[dict[str, Any]]:
    return await audit.fetch(_ACTIONS, {"customer_id": customer_id})


async def record_action(
    audit: AuditStore, *, actor: str, action: str, customer_id: str, outcome: str, detail: str
) -> None:
    await audit.execute(
        _RECORD_ACTION,
        {
            "actor": actor,
            "action": action,
            "customer_id": customer_id,
            "outcome": outcome,
            "detail": detail,
        },
    )


# -- console sign-outs, shared by the workers (console.auth: sessions) --

_REVOKE_SESSION = """
INSERT INTO console_session_revoked (nonce, issued_at, expires_at)
VALUES (%(nonce)s, %(issued_at)s, to_timestamp(%(expires_at)s))
ON CONFLICT (nonce) DO NOTHING"""

# Live rows only, newest first, at most `limit` (the in-memory set's bound); expired rows go.
_REVOKED_SESSIONS = """
SELECT nonce, issued_at FROM console_session_revoked WHERE expires_at > now()
ORDER BY issued_at DESC LIMIT %(limit)s"""

_FORGET_EXPIRED_SESSIONS = "DELETE FROM console_session_revoked WHERE expires_at <= now()"


async def revoke_session(audit: AuditStore, *, nonce: str, issued_at: int, expires_at: int) -> None:
    await audit.execute(
        _REVOKE_SESSION, {"nonce": nonce, "issued_at": issued_at, "expires_at": expires_at}
    )


async def revoked_sessions(audit: AuditStore, limit: int) -> list[tuple[str, int]]:
    rows = await audit.fetch(_REVOKED_SESSIONS, {"limit": limit})
    return [(row["nonce"], int(row["issued_at"])) for row in rows]


async def forget_expired_sessions(audit: AuditStore) -> None:
    await audit.execute(_FORGET_EXPIRED_SESSIONS)
