"""The bulk strategy's job journal in the audit database (``sql/0060_bulk_jobs.sql``): every
Bulk API 2.0 job is recorded before its upload and settled once its results are taken, so a
worker killed mid-job leaves the job findable by the next attempt of any of its customers
(``worker/bulk_load.py`` says what that attempt does with it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

RECORD = """
INSERT INTO migration_bulk_job (job_id, object, operation, customer_ids, correlation_ids)
VALUES (%(job_id)s, %(object)s, %(operation)s, %(customers)s::text[], %(correlations)s::text[])
ON CONFLICT (job_id) DO NOTHING
"""

UNSETTLED = """
SELECT job_id, object, operation FROM migration_bulk_job
WHERE settled_at IS NULL AND customer_ids && %(customers)s::text[]
ORDER BY created_at
"""

SETTLE = """
UPDATE migration_bulk_job SET settled_at = now(), outcome = %(outcome)s
WHERE job_id = ANY(%(jobs)s::text[]) AND settled_at IS NULL
"""


class Store(Protocol):
    async def fetch(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]: ...

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None: ...


class BulkJobJournal:
    """Record, find and settle the worker's Bulk API jobs (one statement each)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def record(
        self,
        job_id: str,
        object_name: str,
        operation: str,
        customer_ids: Sequence[str],
        correlation_ids: Sequence[str] = (),
    ) -> None:
        await self.store.execute(
            RECORD,
            {
                "job_id": job_id,
                "object": object_name,
                "operation": operation,
                "customers": sorted(set(customer_ids)),
                "correlations": sorted(set(correlation_ids)),
            },
        )

    async def unsettled(self, customer_ids: Sequence[str]) -> list[str]:
        """Jobs holding any of these customers whose results no attempt took (oldest first)."""
        if not customer_ids:
            return []
        rows = await self.store.fetch(UNSETTLED, {"customers": sorted(set(customer_ids))})
        return [str(row["job_id"]) for row in rows]

    async def settle(self, job_ids: Sequence[str], outcome: str) -> None:
        if job_ids:
            await self.store.execute(SETTLE, {"jobs": list(job_ids), "outcome": outcome})
