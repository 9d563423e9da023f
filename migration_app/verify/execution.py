"""Verify customers: extract from V1 and transform exactly as the worker does, read V2 back by
Legacy_Id__c, compare field by field (``migration.reconcile``).

As frugal with API calls as the extract: per 200 customers, one V1 query plus one V2 query per
object (by the customer's Account external id, which also finds V2 records V1 no longer has).
Files (the mapping's ``files:``): each customer's V1 files must be in V2 by external id with
V1's ``Checksum`` (two V1 queries and one V2 query more per 200 customers).
Used by `migration-app verify` and by the worker's sampled verification.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from mode import Service

from migration_app.audit.errors import AuditError
from migration_app.migration.chunks import chunked
from migration_app.migration.customer_transform import CustomerPlan, transform_customer
from migration_app.migration.extract_plan import file_entities, file_link_queries, waves
from migration_app.migration.files_plan import (
    FileCopy,
    FilesSpec,
    linked_documents,
    plan_files,
    v2_version_queries,
    version_queries,
)
from migration_app.migration.reference_rules import ReferenceData
from migration_app.migration.salesforce_ids import is_salesforce_id
from migration_app.migration.spec import MappingSpec
from migration_app.ops import metrics
from migration_app.salesforce.errors import SalesforcePermanentError, SalesforceTransientError
from migration_app.salesforce.users import user_id_of
from migration_app.verify.plan import (
    Key,
    Verdict,
    compare_customer,
    compare_files,
    expected_records,
    follow_up_v2_field,
    resolve_polymorphic,
    v2_path,
    v2_select,
)
from migration_app.worker.pipeline import read_follow_ups
from migration_app.worker.reference_cache import ReferenceCache

log = logging.getLogger(__name__)

CUSTOMERS_PER_QUERY = 200  # ids travel in the SOQL of a GET URL (~6 KB for 200)


class QueryOrg(Protocol):
    async def query_all(self, soql: str) -> list[dict[str, Any]]: ...


async def verify_customers(
    customer_ids: Sequence[str],
    spec: MappingSpec,
    source: QueryOrg,
    target: QueryOrg,
    reference: ReferenceData | None = None,
    integration_username: str | None = None,
) -> list[Verdict]:
    """One verdict per (valid, distinct) customer id, in the order given. ``reference``: V2's
    users and record types (the worker's snapshot, or one read for this run).
    ``integration_username``: V2's integration user, whose writes are ours; other users'
    changes are people's edits (EDITED_IN_V2, expected), not drift."""
    ids = [i for i in dict.fromkeys(customer_ids) if is_salesforce_id(i)]
    if reference is None and spec.needs_reference_data:
        reference = await ReferenceCache(spec, target).refresh()
    user_id = await user_id_of(target, integration_username) if ids else None
    verdicts: list[Verdict] = []
    for chunk in chunked(ids, CUSTOMERS_PER_QUERY):
        verdicts += await _verify_chunk(list(chunk), spec, source, target, reference, user_id)
    return verdicts


async def _verify_chunk(
    ids: list[str],
    spec: MappingSpec,
    source: QueryOrg,
    target: QueryOrg,
    reference: ReferenceData | None,
    integration_user_id: str | None = None,
) -> list[Verdict]:
    in_list = ",".join(f"'{i}'" for i in ids)
    direct = [obj for obj in spec.objects if obj.follow_up is None]
    v1_rows, *v2_rows = await asyncio.gather(
        source.query_all(spec.extract_soql(ids)),
        *(
            target.query_all(
                f"SELECT {', '.join(v2_select(obj, spec))} FROM {obj.target} "
                f"WHERE {v2_path(obj, spec)} IN ({in_list})"
            )
            for obj in direct
        ),
    )
    by_prefix = {row["Id"][:15]: row for row in v1_rows}
    await read_follow_ups(spec, source, by_prefix)  # e-mails, tasks: as the worker reads them
    actual: dict[str, dict[Key, dict[str, Any]]] = {cid[:15]: {} for cid in ids}
    for obj, rows in zip(direct, v2_rows, strict=True):
        path = v2_path(obj, spec).split(".")
        for row in rows:
            owner: Any = row
            for part in path:
                owner = (owner or {}).get(part)
            if isinstance(owner, str) and owner[:15] in actual:
                actual[owner[:15]][(obj.target, str(row[obj.external_id]))] = row
    await _read_v2_follow_ups(spec, target, actual)
    for rows_of_customer in actual.values():
        resolve_polymorphic(spec, rows_of_customer)
    verdicts = []
    plans = {}
    for cid in ids:
        record = by_prefix.get(cid[:15])
        plan = transform_customer(spec, record, reference) if record else None
        if plan is not None:
            plans[cid] = plan
        expected = expected_records(plan, spec) if plan else {}
        verdicts.append(
            compare_customer(cid, expected, actual[cid[:15]], spec, integration_user_id)
        )
    if spec.files is not None and plans:
        await _verify_files(verdicts, plans, spec, spec.files, source, target)
    return verdicts


async def _read_v2_follow_ups(
    spec: MappingSpec, target: QueryOrg, actual: dict[str, dict[Key, dict[str, Any]]]
) -> None:
    """V2's follow-up records (e-mails, tasks) by the V2 ids of their parents already read: one
    query per object per 200 parent ids, as the extract reads V1; finds those V1 no longer has
    too (UNEXPECTED)."""
    for wave in waves(spec):
        plans = []
        for obj in wave:
            assert obj.follow_up is not None
            parents = {spec.object(p).target for p in obj.follow_up.parents}
            owners = {
                str(row["Id"])[:15]: customer
                for customer, rows in actual.items()
                for (target_object, _), row in rows.items()
                if target_object in parents and row.get("Id")
            }
            column = follow_up_v2_field(obj)
            select = f"SELECT {', '.join(v2_select(obj, spec))} FROM {obj.target} WHERE {column} IN"
            queries = [
                select + " (" + ",".join(f"'{i}'" for i in chunk) + ")"
                for chunk in chunked(sorted(owners), CUSTOMERS_PER_QUERY)
            ]
            plans.append((obj, column, owners, queries))
        answers = iter(
            await asyncio.gather(
                *(target.query_all(q) for _, _, _, queries in plans for q in queries)
            )
        )
        for obj, column, owners, queries in plans:
            for _ in queries:
                for row in next(answers):
                    customer = owners.get(str(row.get(column))[:15])
                    if customer is not None:
                        actual[customer][(obj.target, str(row[obj.external_id]))] = row


async def _verify_files(
    verdicts: list[Verdict],
    plans: dict[str, CustomerPlan],
    spec: MappingSpec,
    files: FilesSpec,
    source: QueryOrg,
    target: QueryOrg,
) -> None:
    """Each customer's V1 files against V2's by external id, Checksum compared (two V1 queries
    and one V2 query per 200 ids, as the worker reads them)."""
    entities = file_entities(spec, files.linked_to, plans)
    if not entities:
        return
    links = await _rows(source, file_link_queries(spec, plans, entities))
    documents = linked_documents(entities, links)
    versions = await _rows(source, version_queries(documents)) if documents else []
    expected = plan_files(entities, links, versions, files.linked_to)
    if not expected:
        return
    queries = v2_version_queries(files.external_id, [f.version_id for f in expected])
    actual = {str(r[files.external_id]): r for r in await _rows(target, queries)}
    by_customer: dict[str, list[FileCopy]] = {}
    for file in expected:
        for cid in file.customers:
            by_customer.setdefault(cid, []).append(file)
    for verdict in verdicts:
        compare_files(verdict, by_customer.get(verdict.customer_id, []), actual)


async def _rows(org: QueryOrg, queries: list[str]) -> list[dict[str, Any]]:
    pages = await asyncio.gather(*(org.query_all(q) for q in queries))
    return [row for page in pages for row in page]


def audit_rows(verdicts: Sequence[Verdict], source: str) -> list[dict[str, Any]]:
    return [
        {
            "customer_id": v.customer_id,
            "verdict": v.verdict,
            "details": v.details(),
            "source": source,
        }
        for v in verdicts
    ]


class SampledVerifier(Service):
    """Verifies a share of completed customers off the hot path (``MIGRATION_VERIFY_SAMPLE``).

    The processor offers customers; a bounded queue takes them (full: dropped and counted, never
    blocking a batch) and one background task, owned by this service, verifies them in batches.
    """

    def __init__(
        self,
        share: float,
        spec: MappingSpec,
        source: QueryOrg,
        target: QueryOrg,
        audit: Any,
        *,
        reference: Callable[[], ReferenceData | None] = lambda: None,
        integration_username: str | None = None,
        queue_size: int = 2000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._integration_username = integration_username
        self.share = share
        self._spec, self._source, self._target, self._audit = spec, source, target, audit
        self._reference = reference
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self._rng = random.Random()

    def offer(self, customer_id: str) -> None:
        if self.share <= 0 or self._rng.random() >= self.share:
            return
        try:
            self._queue.put_nowait(customer_id)
        except asyncio.QueueFull:
            metrics.VERIFICATIONS.labels(verdict="DROPPED").inc()

    @Service.task
    async def _drain(self) -> None:
        while not self.should_stop:
            batch = [await self._queue.get()]
            while len(batch) < CUSTOMERS_PER_QUERY and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                verdicts = await verify_customers(
                    batch,
                    self._spec,
                    self._source,
                    self._target,
                    self._reference(),
                    self._integration_username,
                )
                await self._audit.record_verifications(audit_rows(verdicts, "worker"))
            except (SalesforcePermanentError, SalesforceTransientError, AuditError) as exc:
                log.warning("sampled verification of %d customer(s) failed: %s", len(batch), exc)
                metrics.VERIFICATIONS.labels(verdict="ERROR").inc(len(batch))
                continue
            for verdict in verdicts:
                metrics.VERIFICATIONS.labels(verdict=verdict.verdict).inc()
