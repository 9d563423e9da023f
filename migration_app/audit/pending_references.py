"""Pending references in the audit database: lookups to another customer's record written once
that customer is migrated (``migration.cross_references``). The SQL, and the calls the worker,
``verify``, the console and ``migration-app pending`` make, over the ``AuditStore``.

"Migrated" is the ledger's word: the parent has a ledger row (not ``deleted``) from a COMPLETED
run of its customer, and no later ROLLED_BACK run. No V2 read decides it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

#: a parent is migrated: the ledger holds it from a COMPLETED run not rolled back since
_MIGRATED = """
    SELECT 1 FROM migration_record l JOIN migration_run r ON r.id = l.run_id
    WHERE l.object = {object} AND left(l.legacy_id, 15) = {key}
      AND l.action <> 'deleted' AND r.status = 'COMPLETED'
      AND NOT EXISTS (
          SELECT 1 FROM migration_run later
          WHERE later.customer_id = r.customer_id AND later.attempt > r.attempt
            AND later.status = 'ROLLED_BACK')"""

MIGRATED_PARENTS = f"""
SELECT k.key FROM unnest(%(keys)s::text[]) AS k(key)
WHERE EXISTS ({_MIGRATED.format(object="%(object)s", key="k.key")})
"""

_COLUMNS = (
    "object text, legacy_id text, relationship text, customer_id text, external_id_field text, "
    "field text, parent_object text, parent_legacy_id text, parent_external_id_field text"
)

# One statement: the customers' earlier pending rows that are no longer pending (written
# directly this time) are resolved; the current ones inserted, or reset to pending.
RECORD_PENDING = f"""
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS x({_COLUMNS})
), settled AS (
    UPDATE migration_pending_reference p SET resolved_at = now()
    WHERE p.customer_id = ANY(%(customers)s::text[]) AND p.resolved_at IS NULL
      AND NOT EXISTS (
          SELECT 1 FROM input i WHERE i.object = p.object AND i.legacy_id = p.legacy_id
            AND i.relationship = p.relationship)
)
INSERT INTO migration_pending_reference AS p (object, legacy_id, relationship, customer_id,
    external_id_field, field, parent_object, parent_legacy_id, parent_external_id_field)
SELECT object, legacy_id, relationship, customer_id, external_id_field, field, parent_object,
       parent_legacy_id, parent_external_id_field
FROM input
ON CONFLICT (object, legacy_id, relationship) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, parent_object = EXCLUDED.parent_object,
    parent_legacy_id = EXCLUDED.parent_legacy_id,
    parent_external_id_field = EXCLUDED.parent_external_id_field,
    recorded_at = now(), resolved_at = NULL, attempts = 0, last_error = NULL
"""

#: unresolved references to these parents whose parent is migrated (and those whose last fill
#: failed, a few times more), oldest first
RESOLVABLE = f"""
SELECT p.* FROM migration_pending_reference p
WHERE p.resolved_at IS NULL AND p.attempts < %(max_attempts)s
  AND (left(p.parent_legacy_id, 15) = ANY(%(keys)s::text[]) OR p.attempts > 0)
  AND EXISTS ({_MIGRATED.format(object="p.parent_object", key="left(p.parent_legacy_id, 15)")})
ORDER BY p.recorded_at
LIMIT %(limit)s
"""

MARK_FILLED = """
UPDATE migration_pending_reference p
SET resolved_at = CASE WHEN x.error IS NULL THEN now() END, attempts = p.attempts + 1,
    last_error = x.error
FROM jsonb_to_recordset(%(rows)s::jsonb) AS x(object text, legacy_id text, relationship text,
                                               error text)
WHERE p.object = x.object AND p.legacy_id = x.legacy_id AND p.relationship = x.relationship
"""

PENDING = """
SELECT customer_id, object, legacy_id, field, relationship, parent_object, parent_legacy_id,
       recorded_at, attempts, last_error
FROM migration_pending_reference
WHERE resolved_at IS NULL
  AND (%(customer)s::text IS NULL OR left(customer_id, 15) = left(%(customer)s, 15)
       OR left(parent_legacy_id, 15) = left(%(customer)s, 15))
ORDER BY recorded_at, object, legacy_id
LIMIT %(limit)s
"""

FORGET_CUSTOMERS = """
DELETE FROM migration_pending_reference WHERE customer_id = ANY(%(customers)s::text[])
"""

#: fills tried per reference before it is left to an operator (listed with its last error)
MAX_FILL_ATTEMPTS = 5


class Store(Protocol):
    async def fetch(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]: ...

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None: ...


class ReferenceLike(Protocol):
    """What is recorded of a pending reference (``migration.cross_references.CrossReference``)."""

    customer_id: str
    object: str
    target_object: str
    legacy_id: str
    external_id_field: str
    field: str
    relationship: str
    parent_object: str
    parent_legacy_id: str
    parent_external_id_field: str


async def migrated_parents(store: Store, parent_object: str, ids: Iterable[str]) -> set[str]:
    """The ids (as given) whose record of ``parent_object`` (V2 object) is migrated."""
    by_key: dict[str, list[str]] = {}
    for i in ids:
        by_key.setdefault(i[:15], []).append(i)
    if not by_key:
        return set()
    rows = await store.fetch(MIGRATED_PARENTS, {"keys": list(by_key), "object": parent_object})
    return {i for row in rows for i in by_key.get(row["key"], ())}


async def record_pending(
    store: Store, customers: Sequence[str], references: Sequence[ReferenceLike]
) -> None:
    """These customers' pending references are exactly ``references`` now."""
    if not customers:
        return
    rows = [
        {
            "object": r.target_object,
            "legacy_id": r.legacy_id,
            "relationship": r.relationship,
            "customer_id": r.customer_id,
            "external_id_field": r.external_id_field,
            "field": r.field,
            "parent_object": r.parent_object,
            "parent_legacy_id": r.parent_legacy_id,
            "parent_external_id_field": r.parent_external_id_field,
        }
        for r in references
    ]
    await store.execute(
        RECORD_PENDING, {"rows": json.dumps(rows), "customers": list(dict.fromkeys(customers))}
    )


async def resolvable(store: Store, parent_ids: Iterable[str], limit: int = 1000) -> list[dict]:
    keys = sorted({i[:15] for i in parent_ids})
    return await store.fetch(
        RESOLVABLE, {"keys": keys, "limit": limit, "max_attempts": MAX_FILL_ATTEMPTS}
    )


async def mark_filled(store: Store, results: Sequence[Mapping[str, Any]]) -> None:
    """``results``: {object, legacy_id, relationship, error (None when written)}."""
    if results:
        await store.execute(MARK_FILLED, {"rows": json.dumps(list(results))})


async def pending(store: Store, customer: str | None = None, limit: int = 1000) -> list[dict]:
    """Unresolved references, oldest first: all, or those of a customer (as child or parent)."""
    return await store.fetch(PENDING, {"customer": customer, "limit": limit})


async def forget_customers(store: Store, customers: Sequence[str]) -> None:
    """A rolled-back customer's records are gone from V2: nothing of theirs waits any more."""
    if customers:
        await store.execute(FORGET_CUSTOMERS, {"customers": list(customers)})


async def list_pending(config: Any, customer: str | None = None, limit: int = 1000) -> list[dict]:
    """``migration-app pending``: the unresolved references, with a store of its own."""
    from migration_app.audit.store import AuditStore

    store = AuditStore(config)
    await store.start()
    try:
        return await pending(store, customer, limit)
    finally:
        await store.close()


def render_pending(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per reference still waiting for its parent, then a count."""
    lines = [
        f"{r['object']} {r['legacy_id']} (customer {r['customer_id']}): {r['relationship']} -> "
        f"{r['parent_object']} {r['parent_legacy_id']}, pending since {r['recorded_at']}"
        + (f"; last fill failed: {r['last_error']}" if r.get("last_error") else "")
        for r in rows
    ]
    lines.append(f"{len(rows)} pending reference(s)")
    return "\n".join(lines)
