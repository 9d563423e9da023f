"""The collections plan: all customers' V2 records grouped per object into sObject Collections
chunks (the graph plan, for the Composite Graph strategy, is ``graph_plan.py``).

Sharing chunks across the customers of one event batch is what keeps Salesforce API calls
low; each chunk remembers which customer every record belongs to, so the per-record results of
a call map back to customers (and their audit rows) by position. Records new to V2 go in create
chunks (``POST /composite/sobjects``, audit fields kept), records already in V2 in upsert chunks
(``PATCH /composite/sobjects/{Object}/{ExternalId}``): ``write_plan`` decides which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from migration_app.migration.chunks import chunked
from migration_app.migration.customer_transform import CustomerPlan
from migration_app.migration.spec import MappingSpec
from migration_app.migration.write_plan import CustomerWrites, plan_writes

MAX_COLLECTION_SIZE = 200  # Salesforce sObject Collections limit per request


@dataclass(frozen=True, slots=True)
class UpsertChunk:
    """One sObject Collections upsert: `records[i]` belongs to `customer_ids[i]`.

    `level` is the load wave (0 = root): chunks of a level may run concurrently once every
    chunk of the lower levels is done.
    """

    object: str  # V2 object name
    external_id_field: str
    records: tuple[dict[str, Any], ...]
    customer_ids: tuple[str, ...]
    level: int
    create: bool = False

    def __len__(self) -> int:
        return len(self.records)

    def legacy_ids(self) -> tuple[Any, ...]:
        return tuple(r[self.external_id_field] for r in self.records)


def plan_upserts(
    plans: Sequence[CustomerPlan | CustomerWrites],
    spec: MappingSpec,
    max_batch: int = MAX_COLLECTION_SIZE,
) -> list[UpsertChunk]:
    """Chunks of <= max_batch records, objects in the spec's load order (parents first), the
    creates of an object before its upserts. A bare plan is a first attempt (all creates).

    Plans of rejected accounts hold no records, so they add nothing. A customer that appears
    twice (a duplicated event in one batch) is planned once, from its last plan, because one
    collection must not write the same external id twice.
    """
    if not 0 < max_batch <= MAX_COLLECTION_SIZE:
        raise ValueError(f"max_batch must be 1..{MAX_COLLECTION_SIZE}, got {max_batch}")
    latest = {
        p.customer_id: p if isinstance(p, CustomerWrites) else plan_writes(p, spec, None, None)
        for p in plans
    }
    chunks: list[UpsertChunk] = []
    for obj in spec.objects:
        level = spec.level(obj.source)
        for create in (True, False):
            owned = [
                (customer_id, write.record)
                for customer_id, writes in latest.items()
                for write in writes.by_object(obj.target)
                if write.create is create
            ]
            for chunk in chunked(owned, max_batch):
                chunks.append(
                    UpsertChunk(
                        object=obj.target,
                        external_id_field=obj.external_id,
                        records=tuple(record for _, record in chunk),
                        customer_ids=tuple(customer_id for customer_id, _ in chunk),
                        level=level,
                        create=create,
                    )
                )
    return chunks
