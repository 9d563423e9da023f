"""What a rollback deletes, from the ledger alone (pure: no I/O).

Only records this project *created* are deleted; records it merely updated existed before the
migration and stay (listed, so an operator can see them). A record already deleted by an
earlier rollback is not deleted again. Children go before parents (the reverse of the load
order), so no lookup is left dangling and no cascade decides for us. A file is deleted as its
``ContentDocument`` (objects the mapping does not list go first), which takes its versions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from migration_app.migration.files_plan import CONTENT_VERSION
from migration_app.migration.spec import MappingSpec


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    object: str
    legacy_id: str
    v2_id: str


@dataclass
class CustomerRollback:
    customer_id: str
    delete: list[LedgerRecord] = field(default_factory=list)  # children first
    keep_updated: list[LedgerRecord] = field(default_factory=list)
    #: found in V2 right after an interrupted attempt, never seen created: perhaps ours, perhaps
    #: there before; kept (deleting what is not ours loses data) and named for a person to judge
    keep_uncertain: list[LedgerRecord] = field(default_factory=list)
    #: created files' ContentVersions: Salesforce deletes a file by its ContentDocument (in
    #: ``delete``), and its versions go with it
    with_documents: list[LedgerRecord] = field(default_factory=list)


def plan_rollback(
    ledger: Iterable[Mapping[str, Any]], spec: MappingSpec, customer_ids: Iterable[str]
) -> dict[str, CustomerRollback]:
    """Per customer: the V2 records to delete (created, not yet deleted) and those left alone.

    ``ledger`` rows are in write order with customer_id, object, legacy_id, v2_id, action.
    """
    plans = {cid: CustomerRollback(cid) for cid in customer_ids}
    last: dict[tuple[str, str], dict[str, Any]] = {}  # (customer, v2_id) -> its latest row
    created: set[tuple[str, str]] = set()
    uncertain: set[tuple[str, str]] = set()
    for row in ledger:
        key = (row["customer_id"], row["v2_id"])
        last[key] = dict(row)
        if row["action"] == "created":
            created.add(key)
        elif row["action"] == "uncertain":
            uncertain.add(key)
    order = {obj.target: index for index, obj in enumerate(spec.objects)}
    for (cid, v2_id), row in last.items():
        plan = plans.get(cid)
        if plan is None or row["action"] == "deleted":
            continue
        record = LedgerRecord(row["object"], row["legacy_id"], v2_id)
        if (cid, v2_id) in created and record.object == CONTENT_VERSION:
            plan.with_documents.append(record)
        elif (cid, v2_id) in created:
            plan.delete.append(record)
        elif (cid, v2_id) in uncertain:
            plan.keep_uncertain.append(record)
        else:
            plan.keep_updated.append(record)
    for plan in plans.values():
        plan.delete.sort(key=lambda r: (-order.get(r.object, len(order)), r.legacy_id))
    return plans
