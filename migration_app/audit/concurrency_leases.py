"""The org concurrency budget's leases in PostgreSQL (``0050_org_concurrency.sql``); the logic
that uses them is ``migration_app.salesforce.budget``.

Each statement is one autocommit round trip on the audit pool, bounded by its timeouts (client
side and the server's ``statement_timeout``). A slot is a row that exists once created; taking
free slots is one ``UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED)``: a slot row being
taken by another worker is skipped (no waiting, no deadlock), and the lock re-checks
``expires_at <= now()`` on the latest version, so a slot is never held by two workers."""

from __future__ import annotations

from migration_app.audit.store import AuditStore

_PUBLISH = """
WITH me AS (
    INSERT INTO org_concurrency_member
        (org, holder, wants, in_use, held, budget, expires_at)
    VALUES (%(org)s, %(holder)s, %(wants)s, %(in_use)s, %(held)s, %(limit)s,
            now() + make_interval(secs => %(ttl)s))
    ON CONFLICT (org, holder) DO UPDATE SET wants = EXCLUDED.wants, in_use = EXCLUDED.in_use,
        held = EXCLUDED.held, budget = EXCLUDED.budget, expires_at = EXCLUDED.expires_at
    RETURNING holder, wants
), gone AS (
    DELETE FROM org_concurrency_member
    WHERE org = %(org)s AND expires_at < now() - interval '1 hour'
)
SELECT holder, wants FROM me
UNION ALL
SELECT holder, wants FROM org_concurrency_member
WHERE org = %(org)s AND holder <> %(holder)s AND expires_at > now()"""

_RENEW = """
UPDATE org_concurrency_slot SET expires_at = now() + make_interval(secs => %(ttl)s)
WHERE org = %(org)s AND holder = %(holder)s
RETURNING slot"""

# Slot rows 0 .. limit-1 exist once created (a free slot has expired); created in slot order,
# so concurrent creators never wait on each other in a cycle.
_ENSURE = """
INSERT INTO org_concurrency_slot (org, slot, holder, expires_at)
SELECT %(org)s, s, '', '-infinity' FROM generate_series(0, %(limit)s - 1) AS s
ORDER BY s
ON CONFLICT (org, slot) DO NOTHING"""

# SKIP LOCKED: racing workers take different free slots and never wait for (or deadlock with)
# each other; FOR UPDATE re-checks expires_at on the latest row version, so a slot another
# worker just took is not taken again.
_ACQUIRE = """
UPDATE org_concurrency_slot AS t
SET holder = %(holder)s, expires_at = now() + make_interval(secs => %(ttl)s)
FROM (SELECT org, slot FROM org_concurrency_slot
      WHERE org = %(org)s AND slot < %(limit)s AND expires_at <= now()
      ORDER BY slot LIMIT %(n)s
      FOR UPDATE SKIP LOCKED) AS free
WHERE t.org = free.org AND t.slot = free.slot
RETURNING t.slot"""

_RELEASE = """
UPDATE org_concurrency_slot SET expires_at = '-infinity'
WHERE org = %(org)s AND holder = %(holder)s AND slot = ANY(%(slots)s)"""

_RELEASE_ALL = """
WITH slots AS (
    UPDATE org_concurrency_slot SET expires_at = '-infinity'
    WHERE org = %(org)s AND holder = %(holder)s
)
DELETE FROM org_concurrency_member WHERE org = %(org)s AND holder = %(holder)s"""

# The console: each org's budget across the live workers.
_USAGE = """
SELECT org, sum(in_use)::int AS in_use, sum(held)::int AS held, max(budget) AS "limit",
       count(*)::int AS workers
FROM org_concurrency_member WHERE expires_at > now() GROUP BY org ORDER BY org"""


class PostgresLeases:
    """``LeaseStore`` on the audit database."""

    def __init__(self, audit: AuditStore) -> None:
        self.audit = audit
        self._ensured: set[tuple[str, int]] = set()

    async def publish(
        self, org: str, holder: str, *, wants: int, in_use: int, held: int, limit: int, ttl: float
    ) -> dict[str, int]:
        rows = await self.audit.fetch(
            _PUBLISH,
            {
                "org": org,
                "holder": holder,
                "wants": wants,
                "in_use": in_use,
                "held": held,
                "limit": limit,
                "ttl": float(ttl),
            },
        )
        return {row["holder"]: int(row["wants"]) for row in rows}

    async def renew(self, org: str, holder: str, *, ttl: float) -> list[int]:
        rows = await self.audit.fetch(_RENEW, {"org": org, "holder": holder, "ttl": float(ttl)})
        return [int(row["slot"]) for row in rows]

    async def acquire(self, org: str, holder: str, *, limit: int, n: int, ttl: float) -> list[int]:
        if (org, limit) not in self._ensured:
            await self.audit.execute(_ENSURE, {"org": org, "limit": limit})
            self._ensured.add((org, limit))
        params = {"org": org, "holder": holder, "limit": limit, "n": n, "ttl": float(ttl)}
        rows = await self.audit.fetch(_ACQUIRE, params)
        return [int(row["slot"]) for row in rows]

    async def release(self, org: str, holder: str, slots: list[int]) -> None:
        await self.audit.execute(_RELEASE, {"org": org, "holder": holder, "slots": list(slots)})

    async def release_all(self, org: str, holder: str) -> None:
        await self.audit.execute(_RELEASE_ALL, {"org": org, "holder": holder})


async def usage(audit: AuditStore) -> dict[str, dict[str, int]]:
    """Per org: requests in flight and slots held by the live workers, the budget, workers."""
    rows = await audit.fetch(_USAGE)
    return {row.pop("org"): {k: int(v or 0) for k, v in row.items()} for row in rows}
