"""What each of a customer's records becomes in V2: a create, an upsert, or nothing (pure).

Salesforce sets audit fields (``CreatedDate``...) on INSERT only, "not UPSERT" (Help article
000176484), so a record new to V2 is created (POST) with them, and a record already in V2 is
upserted by its external id without them. Which records are already in V2 comes from a read of
V2 (:mod:`migration.v2_state`) made only for customers this project may have written before (a
re-migration, a retry, an interrupted attempt): a first attempt creates everything and learns of
a record that was there after all from Salesforce's ``DUPLICATE_VALUE`` on the external id.

The conflict guard: every write of ours sets ``LastModifiedById`` to the integration user, so a
record whose ``LastModifiedById`` is someone else was changed by a person (or their automation)
after our last write. The mapping's ``on_conflict`` says what happens to it:

* ``keep_v2`` (default): the record is not written; a ``CONFLICT`` warning names who and when.
* ``fail_customer``: nothing of the customer is written; the customer FAILS with ``CONFLICT``.
* ``overwrite``: written over, and the audit says whose change it replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from migration_app.migration.customer_transform import CustomerPlan
from migration_app.migration.issues import CONFLICT, CREATED_DATE_NOT_SET, ERROR, WARNING, Issue
from migration_app.migration.spec import FAIL_CUSTOMER, KEEP_V2, OVERWRITE, MappingSpec, ObjectSpec
from migration_app.migration.v2_state import V2Record

#: fields Salesforce accepts on create only (with "Set Audit Fields upon Record Creation")
AUDIT_FIELDS = frozenset({"CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById"})

#: the CREATED_DATE_NOT_SET message for a record that was already in V2
KEPT_CREATED_DATE = (
    "already in V2: audit fields are set on create only, so the upsert went without them and "
    "V2 keeps the creation date it has"
)


@dataclass(frozen=True, slots=True)
class RecordWrite:
    """One record to send: ``create`` (POST, audit fields kept) or upsert by external id."""

    object: str  # V2 object
    legacy_id: str
    record: dict[str, Any]
    create: bool


@dataclass(slots=True)
class CustomerWrites:
    """A customer's writes in load order, and what the decision found (issues, a failure)."""

    customer_id: str
    plan: CustomerPlan
    writes: list[RecordWrite] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    failure: str | None = None
    #: records left as V2 has them (keep_v2): counted, not written
    kept: dict[str, int] = field(default_factory=dict)

    def by_object(self, obj: str) -> list[RecordWrite]:
        return [w for w in self.writes if w.object == obj]


def without_audit_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in AUDIT_FIELDS}


def plan_writes(
    plan: CustomerPlan,
    spec: MappingSpec,
    existing: Mapping[tuple[str, str], V2Record] | None,
    integration_user_id: str | None,
) -> CustomerWrites:
    """The customer's records as writes. ``existing`` is None when V2 was not read (a first
    attempt: every record is created); otherwise it holds every record of the customer that V2
    has, by (V2 object, legacy id)."""
    out = CustomerWrites(plan.customer_id, plan)
    for obj in spec.objects:
        for record in plan.records_by_object.get(obj.target, ()):
            legacy = str(record[obj.external_id])
            found = existing.get((obj.target, legacy)) if existing is not None else None
            decision = decide(spec, obj, record, found, integration_user_id)
            out.issues.extend(decision.issues)
            if decision.failure is not None:
                out.failure = out.failure or decision.failure
            elif decision.write is None:
                out.kept[obj.target] = out.kept.get(obj.target, 0) + 1
            else:
                out.writes.append(decision.write)
    if out.failure is not None:
        out.writes.clear()
        out.kept.clear()
    return out


@dataclass(frozen=True, slots=True)
class Decision:
    """One record under the conflict guard: its write, or none (``failure`` set: the customer
    fails; else V2's version is kept), with the issues to audit."""

    write: RecordWrite | None
    issues: tuple[Issue, ...] = ()
    failure: str | None = None


def decide(
    spec: MappingSpec,
    obj: ObjectSpec,
    record: Mapping[str, Any],
    found: V2Record | None,
    integration_user_id: str | None,
    earlier_levels_stay: bool = False,
) -> Decision:
    """What one record becomes given what V2 holds of it (``found``; None: not in V2). Shared
    by ``plan_writes`` and the collections and bulk loads' re-read after DUPLICATE_VALUE
    (``worker/conflict_guard.py``), so all apply the same ``on_conflict`` and audit it alike.
    ``earlier_levels_stay``: the customer's records of earlier levels are in V2 already and a
    failure leaves them there (sObject Collections past its first level), so ``fail_customer``
    must not claim that nothing was written."""
    legacy = str(record[obj.external_id])
    if found is None:
        return Decision(RecordWrite(obj.target, legacy, dict(record), create=True))
    issues: list[Issue] = []
    if integration_user_id and found.changed_by_someone_else(integration_user_id):
        policy = spec.conflict_policy(obj.source)
        if policy == KEEP_V2:
            return Decision(None, (_conflict(obj.source, legacy, found, policy),))
        if policy != OVERWRITE:
            outcome = FAIL_CUSTOMER_PARTIAL if earlier_levels_stay else None
            issue = _conflict(obj.source, legacy, found, policy, ERROR, outcome)
            return Decision(None, (issue,), f"{obj.target} {legacy}: {issue.message}")
        issues.append(_conflict(obj.source, legacy, found, policy))
    if AUDIT_FIELDS & record.keys():
        issues.append(
            Issue(
                WARNING, obj.source, legacy, "CreatedDate", CREATED_DATE_NOT_SET, KEPT_CREATED_DATE
            )
        )
    write = RecordWrite(obj.target, legacy, without_audit_fields(record), create=False)
    return Decision(write, tuple(issues))


#: what each on_conflict policy did, for the CONFLICT issue's message
OUTCOMES = {
    KEEP_V2: "not written, V2's version kept",
    OVERWRITE: "written over it",
    FAIL_CUSTOMER: "nothing of the customer written",
}
#: fail_customer where the load is not atomic and earlier levels were written
FAIL_CUSTOMER_PARTIAL = (
    "the customer failed here; what earlier levels of this attempt wrote stays in V2 "
    "(sObject Collections is not atomic)"
)


def _conflict(
    v1_object: str,
    legacy: str,
    found: V2Record,
    policy: str,
    severity: Any = WARNING,
    outcome: str | None = None,
) -> Issue:
    who = found.last_modified_by_name or found.last_modified_by_id or "unknown user"
    when = found.last_modified_date or found.system_modstamp or "an unknown time"
    return Issue(
        severity,
        v1_object,
        legacy,
        None,
        CONFLICT,
        f"changed in V2 by {who} at {when}, after this project's last write: "
        f"{outcome or OUTCOMES[policy]} (on_conflict: {policy})",
    )
