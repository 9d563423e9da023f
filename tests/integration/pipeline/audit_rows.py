"""The audit database's rows as the tests compare them: runs with their issues, issue codes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg2


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


def issue_codes(issues: Iterable[dict[str, Any]]) -> Counter[tuple[str, str | None, str]]:
    """Comparable multiset of (code, legacy_id, object) of audit rows or result-event issues."""
    return Counter((i["code"], i["legacy_id"] or None, i["object"]) for i in issues)
