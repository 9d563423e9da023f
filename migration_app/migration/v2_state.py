"""What V2 holds of a batch's customers, read before a re-migration writes (pure: the SOQL and
the parsing; the worker runs the queries).

One query per object per batch, never per record: the root by its external id, each child by
its relationship to the root (``Account.Legacy_Id__c IN (...)``), so the query's length grows
with the batch's customers (200 ids: ~6 KB of URL), not with their records.
``LastModifiedById`` is what the conflict guard compares; ``SystemModstamp`` and
``LastModifiedDate`` say when, for the audit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from migration_app.migration.chunks import chunked
from migration_app.migration.salesforce_ids import checked_ids, is_salesforce_id
from migration_app.migration.spec import MappingSpec, ObjectSpec

#: customers per query (their ids travel in a GET URL, which Salesforce bounds at ~16 KB)
ROOTS_PER_QUERY = 200
STATE_FIELDS = ("Id", "SystemModstamp", "LastModifiedDate", "LastModifiedById")


@dataclass(frozen=True, slots=True)
class V2Record:
    """One V2 record as the read found it."""

    id: str
    last_modified_by_id: str | None
    system_modstamp: str | None = None
    last_modified_date: str | None = None
    last_modified_by_name: str | None = None

    def changed_by_someone_else(self, integration_user_id: str) -> bool:
        """Every write of ours sets LastModifiedById to the integration user (15 or 18 chars)."""
        by = self.last_modified_by_id
        return bool(by) and by[:15] != integration_user_id[:15]


def root_reference(spec: MappingSpec, obj: ObjectSpec) -> str | None:
    """The V2 relationship from a child object to the root (``Account``), or None."""
    ref = spec.root_reference(obj)
    return ref.relationship if ref is not None else None


def state_queries(
    spec: MappingSpec,
    customer_ids: Sequence[str],
    own_ids: Mapping[str, Sequence[str]] | None = None,
) -> list[tuple[str, str]]:
    """(V2 object, SOQL) pairs that read every V2 record of these customers. An object without
    a (plain) reference to the root (EmailMessage under Case, Task with its polymorphic WhatId)
    is read by its own external ids, ``own_ids[V2 object]`` (the records about to be written),
    ``ROOTS_PER_QUERY`` per query; without them it is left out (its records are then taken for
    new, and a duplicate is caught by DUPLICATE_VALUE on create)."""
    ids = list(dict.fromkeys(customer_ids))
    for customer_id in ids:
        if not is_salesforce_id(customer_id):
            raise ValueError(f"not a Salesforce id: {customer_id!r}")
    queries = []
    for obj in spec.objects:
        if obj is spec.root or root_reference(spec, obj) is not None:
            continue
        queries += record_queries(obj, (own_ids or {}).get(obj.target, ()))
    for chunk in chunked(ids, ROOTS_PER_QUERY):
        in_list = ",".join(f"'{i}'" for i in chunk)
        for obj in spec.objects:
            if obj is spec.root:
                key = obj.external_id
            else:
                relationship = root_reference(spec, obj)
                if relationship is None:
                    continue
                key = f"{relationship}.{spec.root.external_id}"
            fields = ", ".join((*STATE_FIELDS, obj.external_id, "LastModifiedBy.Username"))
            queries.append(
                (obj.target, f"SELECT {fields} FROM {obj.target} WHERE {key} IN ({in_list})")
            )
    return queries


def record_queries(obj: ObjectSpec, legacy_ids: Iterable[str]) -> list[tuple[str, str]]:
    """(V2 object, SOQL) pairs that read these records of one object by their external ids,
    ``ROOTS_PER_QUERY`` per query: follow-ups without a lookup to the root, and records a
    collections create or bulk insert met as DUPLICATE_VALUE (``worker/conflict_guard.py``)."""
    legacy = checked_ids(legacy_ids)
    select = ", ".join((*STATE_FIELDS, obj.external_id, "LastModifiedBy.Username"))
    queries = []
    for part in chunked(legacy, ROOTS_PER_QUERY):
        in_list = ",".join(f"'{i}'" for i in part)
        where = f"{obj.external_id} IN ({in_list})"
        queries.append((obj.target, f"SELECT {select} FROM {obj.target} WHERE {where}"))
    return queries


def parse_rows(
    spec: MappingSpec, rows_by_object: Iterable[tuple[str, Iterable[Mapping[str, Any]]]]
) -> dict[tuple[str, str], V2Record]:
    """(V2 object, legacy id) -> V2Record from the queries' rows."""
    found: dict[tuple[str, str], V2Record] = {}
    for target, rows in rows_by_object:
        external_id = spec.by_target(target).external_id
        for row in rows:
            legacy = row.get(external_id)
            if not legacy or not row.get("Id"):
                continue
            by = row.get("LastModifiedBy")
            found[(target, str(legacy))] = V2Record(
                id=str(row["Id"]),
                last_modified_by_id=row.get("LastModifiedById"),
                system_modstamp=row.get("SystemModstamp"),
                last_modified_date=row.get("LastModifiedDate"),
                last_modified_by_name=by.get("Username") if isinstance(by, dict) else None,
            )
    return found
