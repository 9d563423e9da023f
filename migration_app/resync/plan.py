"""Which migrated customers changed in V1 since their last COMPLETED migration, and what a record
deleted in V1 does to V2 (pure: the SOQL text, the parsing, the decisions; no I/O).

Finding the changes costs one SOQL per mapped V1 object per page of 2,000 changed records,
whatever the number of customers: ``SystemModstamp`` is indexed, and the ``queryAll`` resource
returns the records changed since T and those deleted since T (``IsDeleted`` tells them apart)
in one answer. Each changed record belongs to its customer through its reference to the root
(``Contact.AccountId``), or is the root itself. A follow-up record (an e-mail on a Case, a task
on an Account or a Case) belongs to the customer of its parent: the root itself, or a root child
whose own lookup to the root one more query per 200 parents reads (``owner_queries``).

A customer's baseline is the ``started_at`` of its last COMPLETED attempt: that attempt read V1
after it started, so a change after it may have been missed, a change before it was migrated.
(``finished_at`` would miss a change made while the attempt ran.) SystemModstamp is Salesforce's
clock and started_at the worker's: both must keep time (NTP).

Deletions, by policy (``--deleted``): ``report`` (default) leaves V2 alone and says so;
``delete`` deletes the V2 record only if this project created it (the ledger says ``created``)
and nobody changed it since (its ``LastModifiedById`` is still the integration user).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from migration_app.migration.chunks import chunked
from migration_app.migration.salesforce_ids import checked_ids, is_salesforce_id, soql_in_list
from migration_app.migration.spec import MappingSpec, ObjectSpec
from migration_app.migration.v2_state import V2Record

MODIFIED, DELETED = "modified", "deleted"
REPORT, DELETE = "report", "delete"
DELETED_POLICIES = (REPORT, DELETE)
#: the audit's action name for what a resync did to a customer (console action log)
RESYNC_ACTION = "resync"
#: ... and for what it did about one record deleted in V1
DELETED_IN_V1_ACTION = "resync: deleted in V1"
#: statuses after which a customer no longer counts as migrated (its V2 records were deleted)
UNMIGRATED_STATUSES = frozenset({"ROLLED_BACK"})
IDS_PER_QUERY = 200  # V2 ids per `Id IN (...)` (a GET URL; ~4 KB)

# What happens to a record deleted in V1 (``Deletion.decision``).
KEEP_REPORTED = "kept in V2 (--deleted report)"
WOULD_DELETE = "would be deleted in V2 (dry run)"
DELETED_IN_V2 = "deleted in V2"
KEEP_EDITED = "kept in V2: changed there by someone else"
KEEP_NOT_CREATED = "kept in V2: not created by this project"
KEEP_NO_USER = "kept in V2: the integration user is unknown (MIGRATION_SF2_USERNAME)"
NOT_IN_LEDGER = "never written to V2 by this project"
ALREADY_DELETED = "already deleted in V2 by this project"
GONE_FROM_V2 = "no longer in V2"
DELETE_FAILED = "delete failed"


@dataclass(frozen=True, slots=True)
class ChangedRecord:
    """One V1 record whose SystemModstamp is after the threshold (modified or deleted)."""

    object: str  # V1 object
    v1_id: str
    customer_id: str  # the root (Account) Id as V1 gives it
    change: str  # modified | deleted
    system_modstamp: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "v1_id": self.v1_id,
            "change": self.change,
            "system_modstamp": iso(self.system_modstamp),
        }


@dataclass(frozen=True, slots=True)
class Baseline:
    """A customer as the audit knows it: since when its V1 records count as changed."""

    customer_id: str
    since: datetime | None  # started_at of the last COMPLETED attempt; None: never COMPLETED
    latest_status: str | None  # the last attempt's status (dry runs aside)

    @property
    def migrated(self) -> bool:
        return self.since is not None and self.latest_status not in UNMIGRATED_STATUSES


@dataclass
class CustomerResync:
    """A migrated customer with V1 changes after its baseline."""

    customer_id: str
    since: datetime
    changes: list[ChangedRecord] = field(default_factory=list)
    #: an earlier resync already enqueued (or reported) these very changes at this time, and
    #: the customer has not been migrated since: not enqueued again (until --requeue-after)
    queued_at: datetime | None = None

    @property
    def root_deleted(self) -> bool:
        """The customer itself is gone from V1: nothing to migrate again."""
        return any(
            c.change == DELETED and c.v1_id[:15] == self.customer_id[:15] for c in self.changes
        )

    @property
    def enqueue(self) -> bool:
        return self.queued_at is None and not self.root_deleted

    @property
    def latest_change(self) -> datetime:
        return max(c.system_modstamp for c in self.changes)


@dataclass
class ResyncPlan:
    customers: list[CustomerResync]  # by customer id
    #: V1 changes of customers no COMPLETED migration of this project covers (customer -> changes)
    not_migrated: dict[str, list[ChangedRecord]]

    @property
    def to_enqueue(self) -> list[str]:
        return [c.customer_id for c in self.customers if c.enqueue]

    @property
    def queued(self) -> list[CustomerResync]:
        return [c for c in self.customers if c.queued_at is not None]

    def deleted_records(self) -> list[tuple[CustomerResync, ChangedRecord]]:
        return [
            (c, r)
            for c in self.customers
            if c.queued_at is None
            for r in c.changes
            if r.change == DELETED
        ]


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal, floored to the second (the query returns a superset; each
    record is then compared with its customer's baseline to the microsecond)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: str) -> datetime:
    """Salesforce's wire format (``2026-12-03T15:40:01.123+0000``) or ISO 8601; naive = UTC."""
    value = datetime.fromisoformat(text.strip())
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def root_lookup(spec: MappingSpec, obj: ObjectSpec) -> str | None:
    """The V1 field holding the customer's (root) Id: ``Id`` on the root, the lookup to the
    root on a child (``Contact.AccountId``); None for any other object."""
    if obj is spec.root:
        return "Id"
    ref = spec.root_reference(obj)
    return ref.source if ref is not None else None


def follow_up_parents(spec: MappingSpec, obj: ObjectSpec) -> list[ObjectSpec] | None:
    """A follow-up object's parents when each is the root or a root child with a lookup to it
    (its records are traced to their customer through the parent); None otherwise."""
    if obj.follow_up is None:
        return None
    parents = [spec.object(name) for name in obj.follow_up.parents]
    if all(p is spec.root or root_lookup(spec, p) is not None for p in parents):
        return parents
    return None


def _type_path(obj: ObjectSpec) -> str | None:
    """``What.Type`` for a polymorphic follow-up field (which parent a row points at); None
    when the field has one parent."""
    assert obj.follow_up is not None
    if len(obj.follow_up.parents) < 2:
        return None
    ref = next(r for r in obj.references if r.source == obj.follow_up.field)
    return f"{ref.relationship}.Type"


def change_queries(spec: MappingSpec, since: datetime) -> list[tuple[ObjectSpec, str]]:
    """(V1 object, SOQL) per checkable mapped object: run through ``queryAll``, so the answer
    holds the records modified after ``since`` and those deleted after it."""
    literal = soql_datetime(since)
    queries = []
    for obj in spec.objects:
        lookup = root_lookup(spec, obj)
        if lookup is not None:
            fields = ["Id", *([lookup] if lookup != "Id" else []), "SystemModstamp", "IsDeleted"]
        elif follow_up_parents(spec, obj) is not None:
            assert obj.follow_up is not None
            type_path = _type_path(obj)
            fields = ["Id", obj.follow_up.field, *([type_path] if type_path else [])]
            fields += ["SystemModstamp", "IsDeleted"]
        else:
            continue
        soql = f"SELECT {', '.join(fields)} FROM {obj.source} WHERE SystemModstamp > {literal}"
        queries.append((obj, soql))
    return queries


def unchecked_objects(spec: MappingSpec) -> list[str]:
    """Mapped V1 objects whose records cannot be traced to a customer."""
    return [
        obj.source
        for obj in spec.objects
        if root_lookup(spec, obj) is None and follow_up_parents(spec, obj) is None
    ]


def _parent_of(spec: MappingSpec, obj: ObjectSpec, row: Mapping[str, Any]) -> tuple[str, str]:
    """(parent V1 object, parent Id) of a follow-up row; ("", "") without a parent."""
    assert obj.follow_up is not None
    parent_id = row.get(obj.follow_up.field)
    if not isinstance(parent_id, str) or not parent_id:
        return "", ""
    type_path = _type_path(obj)
    if type_path is None:
        return obj.follow_up.parents[0], parent_id
    relationship = row.get(type_path.split(".")[0])
    kind = relationship.get("Type") if isinstance(relationship, Mapping) else None
    return (str(kind), parent_id) if kind in obj.follow_up.parents else ("", "")


def owner_queries(
    spec: MappingSpec, answers: Iterable[tuple[ObjectSpec, Iterable[Mapping[str, Any]]]]
) -> list[tuple[str, str]]:
    """(lookup field, SOQL): for follow-up rows whose parent is a root child, that child's
    lookup to the root, one query per object per 200 parents (run through ``queryAll``: the
    parent may be deleted)."""
    wanted: dict[str, set[str]] = {}
    for obj, rows in answers:
        if obj.follow_up is None:
            continue
        for row in rows:
            parent, parent_id = _parent_of(spec, obj, row)
            if parent and spec.object(parent) is not spec.root:
                wanted.setdefault(parent, set()).add(parent_id)
    queries = []
    for parent, ids in wanted.items():
        lookup = root_lookup(spec, spec.object(parent))
        if lookup is None:
            continue
        for chunk in chunked(checked_ids(ids), IDS_PER_QUERY):
            queries.append(
                (lookup, f"SELECT Id, {lookup} FROM {parent} WHERE Id IN ({soql_in_list(chunk)})")
            )
    return queries


def owners_of(answers: Iterable[tuple[str, Iterable[Mapping[str, Any]]]]) -> dict[str, str]:
    """Parent Id (15 characters) -> its customer, from (lookup field, rows) of the answers of
    ``owner_queries``."""
    out = {}
    for lookup, rows in answers:
        for row in rows:
            customer, parent_id = row.get(lookup), row.get("Id")
            if isinstance(customer, str) and customer and isinstance(parent_id, str):
                out[parent_id[:15]] = customer
    return out


def changed_records(
    spec: MappingSpec,
    answers: Iterable[tuple[ObjectSpec, Iterable[Mapping[str, Any]]]],
    owners: Mapping[str, str] | None = None,
) -> list[ChangedRecord]:
    """The queries' rows as ChangedRecords; a row without a customer (a Contact with no
    Account, an e-mail whose Case ``owners`` does not know) belongs to nobody we migrate and
    is dropped. ``owners``: ``owners_of`` the answers of ``owner_queries``."""
    out = []
    for obj, rows in answers:
        lookup = root_lookup(spec, obj)
        for row in rows:
            if lookup is not None:
                customer = row.get(lookup)
            else:
                parent, parent_id = _parent_of(spec, obj, row)
                if not parent:
                    continue
                if spec.object(parent) is spec.root:
                    customer = parent_id
                else:
                    customer = (owners or {}).get(parent_id[:15])
            stamp = row.get("SystemModstamp")
            if not customer or not stamp or not row.get("Id"):
                continue
            out.append(
                ChangedRecord(
                    object=obj.source,
                    v1_id=str(row["Id"]),
                    customer_id=str(customer),
                    change=DELETED if row.get("IsDeleted") else MODIFIED,
                    system_modstamp=parse_datetime(str(stamp)),
                )
            )
    return out


def baseline_ids(changes: Iterable[ChangedRecord]) -> list[str]:
    """The customer ids to look up in the audit: each in 18 and 15 characters (the audit holds
    ids as they were enqueued)."""
    ids: dict[str, None] = {}
    for change in changes:
        ids.setdefault(change.customer_id, None)
        ids.setdefault(change.customer_id[:15], None)
    return list(ids)


def plan_resync(
    changes: Iterable[ChangedRecord],
    baselines: Iterable[Baseline],
    *,
    since: datetime | None = None,
    queued: Mapping[str, datetime] | None = None,
) -> ResyncPlan:
    """Group the changes by customer and keep, per migrated customer, those after its baseline
    (``since``, when given, replaces every customer's own baseline).

    ``queued``: customer id -> the last time a resync enqueued or reported it (recent ones
    only); a customer whose changes are all older than that is still waiting for that
    re-migration and is not enqueued again.
    """
    by_prefix = {b.customer_id[:15]: b for b in baselines}
    queued_at = {cid[:15]: at for cid, at in (queued or {}).items()}
    customers: dict[str, CustomerResync] = {}
    not_migrated: dict[str, list[ChangedRecord]] = {}
    for change in sorted(changes, key=lambda c: (c.customer_id, c.object, c.v1_id)):
        baseline = by_prefix.get(change.customer_id[:15])
        if baseline is None or not baseline.migrated:
            not_migrated.setdefault(change.customer_id, []).append(change)
            continue
        assert baseline.since is not None
        threshold = since if since is not None else baseline.since
        if change.system_modstamp <= threshold:
            continue
        customer = customers.get(baseline.customer_id)
        if customer is None:
            customer = customers[baseline.customer_id] = CustomerResync(
                baseline.customer_id, threshold
            )
        customer.changes.append(change)
    for customer in customers.values():
        at = queued_at.get(customer.customer_id[:15])
        if at is not None and at >= customer.latest_change:
            customer.queued_at = at
    return ResyncPlan(
        customers=[customers[cid] for cid in sorted(customers)], not_migrated=not_migrated
    )


# -- records deleted in V1 ---------------------------------------------------------------------


@dataclass
class Deletion:
    """A record deleted in V1, and what happens to its V2 record."""

    customer_id: str
    record: ChangedRecord
    target: str  # V2 object
    v2_id: str | None = None
    decision: str = KEEP_REPORTED
    detail: str = ""

    @property
    def deletable(self) -> bool:
        return self.decision in (WOULD_DELETE, DELETED_IN_V2)

    def to_json(self) -> dict[str, Any]:
        return {
            "v2_object": self.target,
            "v2_id": self.v2_id,
            "decision": self.decision,
            "detail": self.detail,
        }


def plan_deletions(
    spec: MappingSpec,
    deleted: Iterable[tuple[CustomerResync, ChangedRecord]],
    ledger: Iterable[Mapping[str, Any]],
) -> list[Deletion]:
    """Per record deleted in V1: its V2 record by the ledger, and whether this project created
    it (``decision`` is WOULD_DELETE for those, a reason to keep it for the others).

    ``ledger`` rows are in write order with customer_id, object (V2), legacy_id, v2_id, action.
    """
    rows: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in ledger:
        rows.setdefault((row["object"], str(row["legacy_id"])[:15]), []).append(row)
    out = []
    for customer, record in deleted:
        target = spec.object(record.object).target
        history = rows.get((target, record.v1_id[:15]), [])
        deletion = Deletion(customer.customer_id, record, target)
        if not history:
            deletion.decision = NOT_IN_LEDGER
        else:
            deletion.v2_id = str(history[-1]["v2_id"])
            actions = [r["action"] for r in history]
            if actions[-1] == "deleted":
                deletion.decision = ALREADY_DELETED
            elif "created" in actions:
                deletion.decision = WOULD_DELETE
            else:
                deletion.decision = KEEP_NOT_CREATED
                deletion.detail = f"ledger: {actions[-1]}"
        out.append(deletion)
    return out


def check_queries(deletions: Sequence[Deletion]) -> list[tuple[str, str]]:
    """(V2 object, SOQL) reading who last changed each deletable record: one query per object
    per 200 records, never one per record."""
    by_object: dict[str, list[str]] = {}
    for deletion in deletions:
        if deletion.deletable and deletion.v2_id:
            if not is_salesforce_id(deletion.v2_id):
                raise ValueError(f"the ledger holds a malformed V2 id: {deletion.v2_id!r}")
            by_object.setdefault(deletion.target, []).append(deletion.v2_id)
    queries = []
    for target, ids in by_object.items():
        for chunk in chunked(list(dict.fromkeys(ids)), IDS_PER_QUERY):
            in_list = ",".join(f"'{i}'" for i in chunk)
            queries.append(
                (
                    target,
                    "SELECT Id, SystemModstamp, LastModifiedDate, LastModifiedById, "
                    f"LastModifiedBy.Username FROM {target} WHERE Id IN ({in_list})",
                )
            )
    return queries


def parse_check_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, V2Record]:
    """V2 id (15 characters) -> who last changed the record and when."""
    found = {}
    for row in rows:
        by = row.get("LastModifiedBy")
        found[str(row["Id"])[:15]] = V2Record(
            id=str(row["Id"]),
            last_modified_by_id=row.get("LastModifiedById"),
            system_modstamp=row.get("SystemModstamp"),
            last_modified_date=row.get("LastModifiedDate"),
            last_modified_by_name=by.get("Username") if isinstance(by, dict) else None,
        )
    return found


def judge_deletions(
    deletions: Sequence[Deletion],
    v2: Mapping[str, V2Record],
    integration_user_id: str | None,
) -> None:
    """Keep what someone else changed in V2 after our last write (or what V2 no longer has);
    the rest stays WOULD_DELETE. In place."""
    for deletion in deletions:
        if not deletion.deletable or not deletion.v2_id:
            continue
        found = v2.get(deletion.v2_id[:15])
        if found is None:
            deletion.decision = GONE_FROM_V2
        elif integration_user_id is None:
            deletion.decision = KEEP_NO_USER
        elif found.changed_by_someone_else(integration_user_id):
            deletion.decision = KEEP_EDITED
            who = found.last_modified_by_name or found.last_modified_by_id
            deletion.detail = f"by {who} at {found.last_modified_date or found.system_modstamp}"


def deletion_order(spec: MappingSpec, deletions: Iterable[Deletion]) -> list[Deletion]:
    """The deletable ones, children before parents (the reverse of the load order), as a
    rollback deletes: no lookup is left dangling and no cascade decides for us."""
    order = {obj.target: index for index, obj in enumerate(spec.objects)}
    chosen = [d for d in deletions if d.deletable and d.v2_id]
    return sorted(chosen, key=lambda d: (-order.get(d.target, len(order)), d.record.v1_id))
