"""The extract beyond the root query: grandchild objects by their parents' ids (pure: the SOQL
and where each row goes; ``worker.follow_up_extract`` runs the queries).

SOQL nests one level of child subquery only (``Account -> Cases``, never ``Account -> Cases ->
EmailMessages``), so an object whose parent is not the root (``EmailMessage.ParentId -> Case``)
or whose lookup is polymorphic (``Task.WhatId -> Account | Case``) cannot ride the root query.
The mapping marks it ``extract_by: {field, parents}``; after the root query, the batch's records
of those parents are known, and one query per object per batch reads its records by their ids::

    SELECT ... FROM EmailMessage WHERE ParentId IN ('500...', '500...', ...)
    SELECT ... FROM Task WHERE WhatId IN ('001...', '500...', ...)

Never per record nor per customer: the ids of every customer of the batch share a query, chunked
at ``IDS_PER_QUERY`` (the SOQL travels in a GET URL, bounded at ~16 KB; 200 ids take ~6 KB). An
object whose parent is itself a follow-up waits for it (``waves``). Each row is attached to the
customer that owns its parent, under ``follow_up_key(obj)``, shaped like a finished subquery
(``{"totalSize", "done": true, "records"}``), so the transform reads both kinds alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from migration_app.migration.chunks import chunked
from migration_app.migration.salesforce_ids import is_salesforce_id
from migration_app.migration.spec import MappingSpec, ObjectSpec

IDS_PER_QUERY = 200


def follow_up_key(obj: ObjectSpec) -> str:
    """Where a follow-up object's rows sit on the root record (not a field name: a colon)."""
    return f"follow_up:{obj.source}"


def waves(spec: MappingSpec) -> list[list[ObjectSpec]]:
    """Follow-up objects grouped so that each one's parents are read in an earlier wave (or by
    the root query); the objects of one wave are queried concurrently."""
    wave_of: dict[str, int] = {}
    for obj in spec.follow_ups:
        assert obj.follow_up is not None
        wave_of[obj.source] = 1 + max(wave_of.get(p, -1) for p in obj.follow_up.parents)
    out: list[list[ObjectSpec]] = [[] for _ in range(1 + max(wave_of.values(), default=-1))]
    for obj in spec.follow_ups:
        out[wave_of[obj.source]].append(obj)
    return out


def records_of(spec: MappingSpec, obj: ObjectSpec, root: Mapping[str, Any]) -> list[Any]:
    """The records of ``obj`` a root row carries: itself, a subquery, or attached follow-ups
    (possibly unfinished: the transform checks ``done``)."""
    if obj is spec.root:
        return [root]
    key = obj.child_relationship or follow_up_key(obj)
    result = root.get(key)
    if isinstance(result, Mapping) and isinstance(result.get("records"), list):
        return result["records"]
    return []


def parent_owners(
    spec: MappingSpec, obj: ObjectSpec, roots: Mapping[str, Mapping[str, Any]]
) -> dict[str, str]:
    """V1 id (15 chars) of every record of ``obj``'s follow-up parents -> its customer's key."""
    assert obj.follow_up is not None
    owners: dict[str, str] = {}
    for key, root in roots.items():
        for parent in obj.follow_up.parents:
            for record in records_of(spec, spec.object(parent), root):
                record_id = record.get("Id") if isinstance(record, Mapping) else None
                if isinstance(record_id, str) and is_salesforce_id(record_id):
                    owners[record_id[:15]] = key
    return owners


def follow_up_queries(obj: ObjectSpec, parent_ids: Iterable[str]) -> list[str]:
    """The SOQL reading ``obj``'s records whose follow-up field holds one of ``parent_ids``:
    one per ``IDS_PER_QUERY`` ids, none without ids."""
    assert obj.follow_up is not None
    ids = sorted(set(parent_ids))
    for record_id in ids:
        if not is_salesforce_id(record_id):
            raise ValueError(f"not a Salesforce id: {record_id!r}")
    fields = list(obj.v1_fields)
    if obj.follow_up.field not in fields:
        fields.append(obj.follow_up.field)
    select = f"SELECT {', '.join(fields)} FROM {obj.source} WHERE {obj.follow_up.field} IN "
    return [
        select + "(" + ",".join(f"'{i}'" for i in chunk) + ")"
        for chunk in chunked(ids, IDS_PER_QUERY)
    ]


def attach(
    obj: ObjectSpec,
    roots: Mapping[str, dict[str, Any]],
    owners: Mapping[str, str],
    rows: Iterable[Mapping[str, Any]],
) -> None:
    """Put each row on the root record of the customer owning its parent; every root gets the
    key (an empty result for a customer without such records). Rows whose parent no customer of
    the batch owns (cannot happen for the queries above) are ignored."""
    assert obj.follow_up is not None
    found: dict[str, list[Mapping[str, Any]]] = {key: [] for key in roots}
    seen: set[str] = set()
    for row in rows:
        parent = row.get(obj.follow_up.field)
        key = owners.get(parent[:15]) if isinstance(parent, str) else None
        row_id = str(row.get("Id"))
        if key is None or key not in found or row_id in seen:
            continue
        seen.add(row_id)
        found[key].append(row)
    for key, root in roots.items():
        root[follow_up_key(obj)] = {
            "totalSize": len(found[key]),
            "done": True,
            "records": found[key],
        }
