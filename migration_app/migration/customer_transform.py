"""Turn one V1 customer (an Account with its child subqueries) into V2 upsert payloads.

Pure and deterministic: output order follows the spec's object order, then the input order.
A record with any error is rejected (kept out of the payloads, its issues kept); a rejected
Account rejects the whole customer, which must then FAIL with nothing loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from migration_app.migration.cross_references import CrossReference
from migration_app.migration.extract_plan import follow_up_key
from migration_app.migration.issues import (
    ERROR,
    REFERENCE_DROPPED,
    REQUIRED_MISSING,
    WARNING,
    Issue,
)
from migration_app.migration.reference_rules import (
    ReferenceData,
    resolve_owner,
    resolve_record_type,
)
from migration_app.migration.spec import MappingSpec, ObjectSpec


class IncompleteExtractError(ValueError):
    """A child subquery was not fully paginated (done is false) before the transform."""


@dataclass(slots=True)
class CustomerPlan:
    """The transform's result for one customer: what to load and what was wrong.

    records_by_object is keyed by V2 object, in load order; counts and rejected are keyed by
    V1 object (records read from V1, records rejected).
    """

    customer_id: str
    records_by_object: dict[str, list[dict[str, Any]]]
    issues: list[Issue] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    account_rejected: bool = False
    #: lookups to other customers' records (``across_customers``), left out of the payloads:
    #: the worker writes them when the parent is migrated, or records them as pending
    cross_references: list[CrossReference] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == WARNING]

    @property
    def record_count(self) -> int:
        """Number of V2 records to upsert for this customer."""
        return sum(len(records) for records in self.records_by_object.values())


def transform_customer(
    spec: MappingSpec,
    account_record: Mapping[str, Any],
    reference: ReferenceData | None = None,
) -> CustomerPlan:
    """Transform a V1 Account record as returned by the extract SOQL.

    Child relationships hold the subquery result ({"totalSize", "done", "records"}) or None;
    a subquery with done=false raises IncompleteExtractError, because the extractor must follow
    nextRecordsUrl first and migrating part of a customer silently would lose records.

    `reference` is V2's users and record types; a mapping with owner or record type rules
    needs it (ValueError otherwise: resolving nothing would silently give every record the
    integration user and the default record type).
    """
    if reference is None and spec.needs_reference_data:
        raise ValueError("the mapping resolves owners/record types: pass V2's ReferenceData")
    ref = reference if reference is not None else ReferenceData()
    customer_id = str(account_record.get("Id") or "")
    accepted: dict[str, set[str]] = {}  # V1 object -> ids of records that will be loaded
    read: dict[str, set[str]] = {}  # V1 object -> ids of all records read (for messages)
    plan = CustomerPlan(
        customer_id=customer_id,
        records_by_object={obj.target: [] for obj in spec.objects},
    )
    for obj in spec.objects:
        if obj is spec.root:
            records: list[Mapping[str, Any]] = [account_record]
        else:
            key = obj.child_relationship or follow_up_key(obj)
            records = _subquery_records(account_record, key, customer_id)
        payloads = plan.records_by_object[obj.target]
        ids = accepted[obj.source] = set()
        read[obj.source] = {r.get("Id") for r in records}
        rejected = 0
        for record in records:
            payload = _transform_record(spec, obj, record, accepted, read, plan, ref)
            if payload is None:
                rejected += 1
            else:
                payloads.append(payload)
                ids.add(payload[obj.external_id])
        plan.counts[obj.source] = len(records)
        plan.rejected[obj.source] = rejected
    if plan.rejected[spec.root.source]:
        plan.account_rejected = True
        plan.cross_references.clear()
        for payloads in plan.records_by_object.values():
            payloads.clear()
    return plan


def _subquery_records(
    account_record: Mapping[str, Any], relationship: str, customer_id: str
) -> list[Mapping[str, Any]]:
    result = account_record.get(relationship)
    if result is None:
        return []
    if not isinstance(result, Mapping) or not isinstance(result.get("records"), list):
        raise ValueError(f"customer {customer_id}: {relationship} is not a subquery result")
    if result.get("done") is False:
        raise IncompleteExtractError(
            f"customer {customer_id}: {relationship} has more records "
            f"({result.get('totalSize')} in total); fetch nextRecordsUrl before transforming"
        )
    return result["records"]


def _transform_record(
    spec: MappingSpec,
    obj: ObjectSpec,
    record: Mapping[str, Any],
    accepted: Mapping[str, set[str]],
    read: Mapping[str, set[str]],
    plan: CustomerPlan,
    reference: ReferenceData,
) -> dict[str, Any] | None:
    """V2 payload for one record, or None when it has an error. Issues are appended."""
    issues = plan.issues
    legacy_id = record.get("Id")
    ok = True
    if not legacy_id:
        issues.append(Issue(ERROR, obj.source, None, "Id", REQUIRED_MISSING, "record has no Id"))
        ok = False
    payload: dict[str, Any] = {"attributes": {"type": obj.target}, obj.external_id: legacy_id}
    for fmap in obj.fields:
        value = record.get(fmap.source)
        for transform in fmap.transforms:
            value, problem = transform(value)
            if problem is not None:
                severity, code, message = problem
                issues.append(Issue(severity, obj.source, legacy_id, fmap.source, code, message))
                if severity == ERROR:
                    ok = False
        if fmap.required and (value is None or value == ""):
            message = f"{fmap.target} is required in V2 and has no value"
            issues.append(
                Issue(ERROR, obj.source, legacy_id, fmap.source, REQUIRED_MISSING, message)
            )
            ok = False
        payload[fmap.target] = value
    for ref in obj.references:
        parent_id = record.get(ref.source)
        if not parent_id:
            if ref.required:
                message = f"{ref.relationship} is required in V2 and has no value"
                issues.append(
                    Issue(ERROR, obj.source, legacy_id, ref.source, REQUIRED_MISSING, message)
                )
                ok = False
            continue
        if ref.across_customers:
            if str(parent_id)[:15] == str(legacy_id)[:15]:
                message = f"{ref.relationship} points at the record itself; reference dropped"
                issues.append(
                    Issue(WARNING, obj.source, legacy_id, ref.source, REFERENCE_DROPPED, message)
                )
                continue
            parent = spec.object(ref.parent)
            plan.cross_references.append(
                CrossReference(
                    plan.customer_id,
                    obj.source,
                    obj.target,
                    str(legacy_id),
                    obj.external_id,
                    ref.source,
                    ref.relationship,
                    parent.target,
                    str(parent_id),
                    parent.external_id,
                )
            )
            continue
        parent_source = next((p for p in ref.allowed_parents if parent_id in accepted[p]), None)
        if parent_source is None:
            severity = ERROR if ref.required else WARNING
            outcome = "record rejected" if ref.required else "reference dropped"
            message = f"{_why_not(ref.allowed_parents, parent_id, read)}; {outcome}"
            issues.append(
                Issue(severity, obj.source, legacy_id, ref.source, REFERENCE_DROPPED, message)
            )
            ok = ok and not ref.required
            continue
        parent = spec.object(parent_source)
        if ref.polymorphic:  # the type named, as the REST API takes a polymorphic field
            payload[ref.relationship] = {
                "attributes": {"type": parent.target},
                parent.external_id: parent_id,
            }
        else:
            payload[ref.relationship] = {ref.parent_external_id: parent_id}
    ok = _apply_reference_rules(spec, obj, record, payload, issues, reference) and ok
    return payload if ok else None


def _why_not(allowed: tuple[str, ...], parent_id: str, read: Mapping[str, set[str]]) -> str:
    """Why a lookup is not written: its target was rejected, is of a type the mapping does not
    allow for this field, or is not a record of this customer."""
    names = " or ".join(allowed)
    if any(parent_id in read.get(p, ()) for p in allowed):
        kind = next(p for p in allowed if parent_id in read.get(p, ()))
        return f"{kind} {parent_id} was rejected"
    other = next((o for o, ids in read.items() if parent_id in ids), None)
    if other is not None:
        return f"{parent_id} is a {other}, a type this field does not allow (allowed: {names})"
    return f"{names} {parent_id} is not in this customer"


def _apply_reference_rules(
    spec: MappingSpec,
    obj: ObjectSpec,
    record: Mapping[str, Any],
    payload: dict[str, Any],
    issues: list[Issue],
    reference: ReferenceData,
) -> bool:
    """OwnerId, RecordTypeId and CreatedDate; False when a policy rejects the record."""
    legacy_id = record.get("Id")
    ok = True
    resolutions = []
    if obj.owner_path is not None and spec.owners is not None:
        resolved = resolve_owner(spec.owners, reference, obj.source, legacy_id, record.get("Owner"))
        resolutions.append(("OwnerId", resolved))
    if obj.record_type is not None:
        resolved = resolve_record_type(
            obj.record_type, reference, obj.source, obj.target, legacy_id, record.get("RecordType")
        )
        resolutions.append(("RecordTypeId", resolved))
    for target, (value, issue, record_ok) in resolutions:
        if issue is not None:
            issues.append(issue)
        if value is not None:
            payload[target] = value
        ok = ok and record_ok
    if obj.preserve_created_date and record.get("CreatedDate"):
        payload["CreatedDate"] = record["CreatedDate"]
    return ok
