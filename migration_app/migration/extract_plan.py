"""The extract beyond the root query: grandchild objects by their parents (pure: the SOQL and
where each row goes; ``worker.pipeline.read_follow_ups`` runs the queries).

SOQL nests one level of child subquery only (``Account -> Cases``, never ``Account -> Cases ->
EmailMessages``), so an object whose parent is not the root (``EmailMessage.ParentId -> Case``)
or whose lookup is polymorphic (``Task.WhatId -> Account | Case``) cannot ride the root query.
The mapping marks it ``extract_by: {field, parents}``; after the root query, its records are
read by their parents' ids, or for a full batch, one query per object and parent::

    SELECT ... FROM EmailMessage WHERE ParentId IN
        (SELECT Id FROM Case WHERE AccountId IN ('001...', ...))      -- a semi-join
    SELECT ... FROM Task WHERE WhatId IN ('001...', '001...', ...)       -- the root's ids
    SELECT ... FROM Task WHERE WhatId IN (SELECT Id FROM Case WHERE AccountId IN (...))

The semi-join keeps it at one query per batch however many Cases the customers hold (a list of
Case ids costs one query per 200 of them: ~3 for a 200-customer batch of the seed's 2.5 Cases
each); ``in_filters`` takes whichever plan makes fewer queries. Salesforce refuses a semi-join
under ``OR``, so through the root a polymorphic field's parents are one query each. Ids travel
in a GET URL (bounded at ~16 KB; 200 ids take ~6 KB), chunked at ``IDS_PER_QUERY``. An object
whose parent is itself a follow-up waits for it (``waves``) and is read by its parents' ids.
Each row is attached to the customer that owns its parent, under ``follow_up_key(obj)``, shaped
like a finished subquery (``{"totalSize", "done": true, "records"}``), so the transform reads
both kinds alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from migration_app.migration.chunks import chunked
from migration_app.migration.files_plan import CONTENT_DOCUMENT_LINK, LinkTarget
from migration_app.migration.salesforce_ids import checked_ids, is_salesforce_id, soql_in_list
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


def in_filters(
    spec: MappingSpec,
    field: str,
    parent_ids: Mapping[str, Iterable[str]],
    root_ids: Iterable[str],
) -> list[str]:
    """WHERE clauses selecting the rows whose ``field`` points at one of the batch's parent
    records (``parent_ids``: mapped object -> V1 ids), by whichever of two plans takes fewer
    queries (plain ids on a tie: the simpler query for the org):

    - plain: every parent's ids in one list, ``IDS_PER_QUERY`` per query;
    - through the root: per parent object, the root's ids, or for a root child with a plain
      lookup to the root (``Case.AccountId``) a semi-join over the root's ids, or else its own
      ids. One query per parent for a full batch, however many Cases its customers hold.

    A small batch takes the plain list (one query for all), a full one the semi-joins. A
    semi-join may select parent records the root rows did not carry (a child the root
    subquery filtered out); their rows find no owner and are dropped by the caller."""
    by_object = {name: checked_ids(ids) for name, ids in parent_ids.items()}
    every_id = sorted({i for ids in by_object.values() for i in ids})
    plain = [f"{field} IN ({soql_in_list(chunk)})" for chunk in chunked(every_id, IDS_PER_QUERY)]
    roots = checked_ids(root_ids)
    through: list[str] = []
    for name, ids in by_object.items():
        parent = spec.object(name)
        reference = spec.root_reference(parent) if parent is not spec.root else None
        if not ids:
            continue
        if reference is None:
            through += [
                f"{field} IN ({soql_in_list(chunk)})" for chunk in chunked(ids, IDS_PER_QUERY)
            ]
            continue
        through += [
            f"{field} IN (SELECT Id FROM {parent.source} WHERE {reference.source} IN "
            f"({soql_in_list(chunk)}))"
            for chunk in chunked(roots, IDS_PER_QUERY)
        ]
    return through if len(through) < len(plain) else plain


def follow_up_queries(
    spec: MappingSpec, obj: ObjectSpec, roots: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """The SOQL reading ``obj``'s records that point at the batch's records of its follow-up
    parents (``in_filters``); none when the batch holds no such parent."""
    assert obj.follow_up is not None
    fields = list(obj.v1_fields)
    if obj.follow_up.field not in fields:
        fields.append(obj.follow_up.field)
    select = f"SELECT {', '.join(fields)} FROM {obj.source} WHERE "
    parent_ids = {
        name: [
            str(record.get("Id"))
            for root in roots.values()
            for record in records_of(spec, spec.object(name), root)
            if isinstance(record, Mapping)
        ]
        for name in obj.follow_up.parents
    }
    root_ids = [str(root.get("Id")) for root in roots.values()]
    return [
        select + clause for clause in in_filters(spec, obj.follow_up.field, parent_ids, root_ids)
    ]


class PlannedCustomer(Protocol):
    """A transformed customer (``customer_transform.CustomerPlan``): its V2 records by object."""

    @property
    def records_by_object(self) -> Mapping[str, Sequence[Mapping[str, Any]]]: ...


def file_entities(
    spec: MappingSpec, linked_to: Iterable[str], plans: Mapping[str, PlannedCustomer]
) -> dict[str, tuple[str, LinkTarget]]:
    """V1 Id -> (customer, link target) of every migrated record whose files migrate (the
    objects of the mapping's ``files: linked_to``)."""
    out: dict[str, tuple[str, LinkTarget]] = {}
    for source in linked_to:
        obj = spec.object(source)
        for cid, plan in plans.items():
            for record in plan.records_by_object.get(obj.target, ()):
                legacy = str(record[obj.external_id])
                out[legacy] = (cid, LinkTarget(obj.target, legacy))
    return out


def file_link_queries(
    spec: MappingSpec,
    plans: Mapping[str, PlannedCustomer],
    entities: Mapping[str, tuple[str, LinkTarget]],
) -> list[str]:
    """V1 ``ContentDocumentLink`` rows of ``entities``: per linked object, ``in_filters`` on
    ``LinkedEntityId`` (Salesforce requires a filter by Id on LinkedEntityId or
    ContentDocumentId; a semi-join on LinkedEntityId is the usual way to read a set of records'
    files). Links of records outside ``entities`` may come back; the files plan skips them."""
    root = spec.root
    root_ids = [
        str(record[root.external_id])
        for plan in plans.values()
        for record in plan.records_by_object.get(root.target, ())
    ]
    source_of = {obj.target: obj.source for obj in spec.objects}
    by_object: dict[str, list[str]] = {}
    for legacy, (_, target) in entities.items():
        by_object.setdefault(source_of[target.object], []).append(legacy)
    select = f"SELECT ContentDocumentId, LinkedEntityId FROM {CONTENT_DOCUMENT_LINK} WHERE "
    return [select + clause for clause in in_filters(spec, "LinkedEntityId", by_object, root_ids)]


def attach(
    obj: ObjectSpec,
    roots: Mapping[str, dict[str, Any]],
    owners: Mapping[str, str],
    rows: Iterable[Mapping[str, Any]],
) -> None:
    """Put each row on the root record of the customer owning its parent; every root gets the
    key (an empty result for a customer without such records). Rows whose parent no customer of
    the batch owns (a semi-join's parent the root rows did not carry) are ignored."""
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
