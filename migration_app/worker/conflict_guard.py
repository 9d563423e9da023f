"""The conflict guard for creates met by ``DUPLICATE_VALUE`` on the external id, shared by the
per-record load strategies (sObject Collections in ``worker/pipeline.py``, Bulk API in
``worker/bulk_load.py``; the graph path re-plans the whole customer through ``plan_writes``).

Such a record is in V2 after all (an earlier call wrote it and its answer was lost, or an
interrupted attempt), and someone may have changed it since. The records one call met so are read
from V2 together (``Reread``: one query per object per 200, ``v2_state.record_queries``) and each is
decided by ``write_plan.decide`` under the mapping's ``on_conflict``, exactly as ``plan_writes``
decides a record a read found: upserted without audit fields, kept as V2 has it (``keep_v2``:
counted, not written) or its customer failed (``fail_customer``), with the same ``CONFLICT`` and
``CREATED_DATE_NOT_SET`` issues.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from migration_app.contracts.customer_status import CustomerStatus
from migration_app.migration.spec import MappingSpec
from migration_app.migration.v2_state import V2Record
from migration_app.migration.write_plan import decide

#: what V2 holds of some records, by (V2 object, legacy id), and the integration user's Id
#: (None: no conflict guard)
V2State = tuple[Mapping[tuple[str, str], V2Record], str | None]
#: (V2 object, legacy ids) -> their V2State: the pipeline's read of V2 (``v2_state``)
Reread = Callable[[str, list[str]], Awaitable[V2State]]
#: a record V2 holds (DUPLICATE_VALUE says so) that its re-read did not return (sharing hides
#: it, or it was deleted since): nothing for the guard to compare, so it is upserted
UNSEEN = V2Record(id="", last_modified_by_id=None)


async def guard_duplicates(
    spec: MappingSpec,
    v2_object: str,
    external_id_field: str,
    duplicates: Sequence[tuple[dict[str, Any], str]],
    outcomes: Mapping[str, Any],
    reread: Reread | None,
    earlier_levels_stay: bool = False,
) -> list[tuple[dict[str, Any], str]]:
    """Records of one V2 object whose create met DUPLICATE_VALUE, as (record, customer id):
    re-read in one call (``reread``; None: nothing to compare, every one is upserted) and
    decided. Returns the (record without audit fields, customer id) pairs to upsert, leaving
    out those of customers failed by now (a failed customer has nothing more of it sent); the
    customers' outcomes get the issues, the kept records' counts and the failures. The caller
    marks them ``found_after_duplicate`` (the ledger's ``uncertain``). ``earlier_levels_stay``:
    a failed customer keeps what earlier levels wrote (collections past level 0; bulk
    compensates, so it passes False)."""
    if not duplicates:
        return []
    existing: Mapping[tuple[str, str], V2Record] = {}
    user_id = None
    if reread is not None:
        legacy_ids = [str(r[external_id_field]) for r, _ in duplicates]
        existing, user_id = await reread(v2_object, legacy_ids)
    obj = spec.by_target(v2_object)
    upserts = []
    for record, customer_id in duplicates:
        outcome = outcomes[customer_id]
        found = existing.get((v2_object, str(record[external_id_field])), UNSEEN)
        decision = decide(spec, obj, record, found, user_id, earlier_levels_stay)
        outcome.issues.extend(decision.issues)
        if decision.failure is not None:
            outcome.fail(decision.failure)
        elif decision.write is None:  # kept: counted, as plan_writes counts it
            outcome.counts[v2_object] = outcome.counts.get(v2_object, 0) + 1
        else:
            upserts.append((decision.write.record, customer_id))
    return [(r, c) for r, c in upserts if outcomes[c].status != CustomerStatus.FAILED]
