"""Field-level reconciliation of one customer: what V2 should hold (the transform of V1, with
the same mapping) against what V2 holds (read back by Legacy_Id__c). Pure: no I/O.

Verdicts, worst first: MISSING (expected V2 records absent), UNEXPECTED (V2 records carrying this
customer's ids that V1 no longer yields), DRIFT (fields that differ, with both values),
EDITED_IN_V2 (fields that differ on records someone other than the integration user changed
last: people's work in V2, which the conflict guard keeps; expected, not an error), MATCH.
A reference to another customer (``Account.ParentId``) still empty in V2 is PENDING_REFERENCE in
the details, not drift: its parent is not migrated yet (``migration-app pending``).
Counts alone mislead: a migration whose counts balance can still have dropped a field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from migration_app.migration.customer_transform import CustomerPlan
from migration_app.migration.files_plan import CONTENT_VERSION, FileCopy
from migration_app.migration.spec import MappingSpec, ObjectSpec

MATCH, DRIFT, MISSING, UNEXPECTED = "MATCH", "DRIFT", "MISSING", "UNEXPECTED"
PENDING_REFERENCE = "PENDING_REFERENCE"  # a detail, never a verdict
EDITED_IN_V2 = "EDITED_IN_V2"
SEVERITY = (MISSING, UNEXPECTED, DRIFT, EDITED_IN_V2, MATCH)  # the verdict is the worst finding
#: verdicts that are not an error: V2 as the migration left it, or as people changed it since
GOOD_VERDICTS = frozenset({MATCH, EDITED_IN_V2})
MAX_VALUE_CHARS = 120

Key = tuple[str, str]  # (V2 object, legacy id)


@dataclass(frozen=True, slots=True)
class FieldDiff:
    object: str
    legacy_id: str
    field: str
    expected: Any
    actual: Any


@dataclass
class Verdict:
    customer_id: str
    missing: list[Key] = field(default_factory=list)
    unexpected: list[Key] = field(default_factory=list)
    drift: list[FieldDiff] = field(default_factory=list)
    edited: list[FieldDiff] = field(default_factory=list)  # differences people made in V2
    #: who last changed each edited record: (V2 object, legacy id) -> username or user id
    edited_by: dict[Key, str] = field(default_factory=dict)
    #: references to other customers not set in V2 yet (their parent is not migrated)
    pending: list[FieldDiff] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.missing:
            return MISSING
        if self.unexpected:
            return UNEXPECTED
        if self.drift:
            return DRIFT
        return EDITED_IN_V2 if self.edited else MATCH

    def details(self) -> list[dict[str, Any]]:
        """What the audit row, the web view and the console show (long text truncated)."""
        out: list[dict[str, Any]] = [
            {"kind": MISSING, "object": o, "legacy_id": i} for o, i in self.missing
        ]
        out += [{"kind": UNEXPECTED, "object": o, "legacy_id": i} for o, i in self.unexpected]
        out += [
            {
                "kind": DRIFT,
                "object": d.object,
                "legacy_id": d.legacy_id,
                "field": d.field,
                "expected": _shown(d.expected),
                "actual": _shown(d.actual),
            }
            for d in self.drift
        ]
        out += [
            {
                "kind": EDITED_IN_V2,
                "object": d.object,
                "legacy_id": d.legacy_id,
                "field": d.field,
                "expected": _shown(d.expected),
                "actual": _shown(d.actual),
                "by": self.edited_by.get((d.object, d.legacy_id)),
            }
            for d in self.edited
        ]
        out += [
            {
                "kind": PENDING_REFERENCE,
                "object": d.object,
                "legacy_id": d.legacy_id,
                "field": d.field,
                "expected": d.expected,
            }
            for d in self.pending
        ]
        return out


def v2_path(obj: ObjectSpec, spec: MappingSpec) -> str:
    """The SOQL path from a V2 record to its customer's Account external id."""
    if obj is spec.root:
        return obj.external_id
    ref = spec.root_reference(obj)
    if ref is not None:
        return f"{ref.relationship}.{ref.parent_external_id}"
    raise ValueError(f"{obj.target} has no reference to {spec.root.target}")


def follow_up_v2_field(obj: ObjectSpec) -> str:
    """The V2 id field a follow-up object is read by (its extract field's V2 side: WhatId)."""
    assert obj.follow_up is not None
    for ref in obj.references:
        if ref.source == obj.follow_up.field:
            return ref.v2_id_field
    return obj.follow_up.field


def v2_select(obj: ObjectSpec, spec: MappingSpec) -> list[str]:
    """Fields to read back from V2 for ``obj``: external id, mapped fields, reference paths."""
    names = ["Id", obj.external_id, *(f.target for f in obj.fields), *compared_rule_fields(obj)]
    # a polymorphic relationship has no custom fields in SOQL: its id, mapped back to a legacy
    # id through the customer's own V2 records (``resolve_polymorphic``)
    names += [
        r.v2_id_field if r.polymorphic else f"{r.relationship}.{r.parent_external_id}"
        for r in obj.references
    ]
    names += ["LastModifiedById", "LastModifiedBy.Username"]  # V2 edits: expected drift
    path = follow_up_v2_field(obj) if obj.follow_up is not None else v2_path(obj, spec)
    return list(dict.fromkeys([*names, path]))


def resolve_polymorphic(spec: MappingSpec, rows: Mapping[Key, dict[str, Any]]) -> None:
    """Give each row's polymorphic relationship the shape the transform writes ({attributes:
    {type}, <external id>: legacy}) from its id, when the target is one of the customer's
    records (else it stays absent and shows as drift)."""
    by_v2_id = {
        str(row["Id"])[:15]: (obj, legacy) for (obj, legacy), row in rows.items() if row.get("Id")
    }
    for (target, _), row in rows.items():
        for ref in spec.by_target(target).references:
            if not ref.polymorphic:
                continue
            v2_id = row.get(ref.v2_id_field)
            found = by_v2_id.get(str(v2_id)[:15]) if v2_id else None
            if found is not None:
                external_id = spec.by_target(found[0]).external_id
                row[ref.relationship] = {"attributes": {"type": found[0]}, external_id: found[1]}


def compared_rule_fields(obj: ObjectSpec) -> list[str]:
    """Owner, record type and (where the mapping preserves it) CreatedDate as the mapping
    resolved them: records are created with V1's CreatedDate, and a re-migration never sends it
    again, so V2's must still be V1's."""
    return [name for name, on in obj.rule_targets() if on]


def expected_records(plan: CustomerPlan, spec: MappingSpec) -> dict[Key, dict[str, Any]]:
    out: dict[Key, dict[str, Any]] = {}
    for obj in spec.objects:
        for record in plan.records_by_object.get(obj.target, ()):
            out[(obj.target, str(record[obj.external_id]))] = record
    for ref in plan.cross_references:  # what V2 holds once the parent is migrated
        key = (ref.target_object, ref.legacy_id)
        if key in out:
            out[key] = {**out[key], ref.relationship: ref.value()}
    return out


def compare_customer(
    customer_id: str,
    expected: Mapping[Key, Mapping[str, Any]],
    actual: Mapping[Key, Mapping[str, Any]],
    spec: MappingSpec,
    integration_user_id: str | None = None,
) -> Verdict:
    """``actual``: V2 rows of this customer keyed like ``expected`` (as SOQL returns them).
    With ``integration_user_id``, differences on a record someone else changed last are
    ``edited`` (people's work), not drift."""
    verdict = Verdict(customer_id)
    for key, record in expected.items():
        row = actual.get(key)
        if row is None:
            verdict.missing.append(key)
            continue
        diffs = _differences(key, record, row, spec.by_target(key[0]), verdict.pending)
        by = row.get("LastModifiedById")
        if diffs and integration_user_id and by and by[:15] != integration_user_id[:15]:
            verdict.edited += diffs
            who = (row.get("LastModifiedBy") or {}).get("Username")
            verdict.edited_by[key] = who or by
        else:
            verdict.drift += diffs
    verdict.unexpected = sorted(key for key in actual if key not in expected)
    return verdict


def compare_files(
    verdict: Verdict,
    expected: Sequence[FileCopy],
    actual: Mapping[str, Mapping[str, Any]],
) -> None:
    """Files: each V1 file (latest version) must be in V2 by its external id (``actual``: V2
    ContentVersion rows by V1 ContentVersion Id) with the same ``Checksum`` (MD5, as Salesforce
    computes it from the bytes): absent is MISSING, another checksum is DRIFT."""
    for file in expected:
        key = (CONTENT_VERSION, file.version_id)
        row = actual.get(file.version_id)
        if row is None:
            verdict.missing.append(key)
            continue
        got = str(row.get("Checksum") or "").lower() or None
        if file.checksum and got != file.checksum:
            verdict.drift.append(FieldDiff(key[0], key[1], "Checksum", file.checksum, got))


def _differences(
    key: Key,
    record: Mapping[str, Any],
    row: Mapping[str, Any],
    obj: ObjectSpec,
    pending: list[FieldDiff],
) -> list[FieldDiff]:
    diffs = []
    for name in [*(f.target for f in obj.fields), *compared_rule_fields(obj)]:
        want, got = record.get(name), row.get(name)
        if not same(want, got):
            diffs.append(FieldDiff(key[0], key[1], name, want, got))
    for ref in obj.references:
        want = (record.get(ref.relationship) or {}).get(ref.parent_external_id)
        got = (row.get(ref.relationship) or {}).get(ref.parent_external_id)
        if not same(want, got):
            name = f"{ref.relationship}.{ref.parent_external_id}"
            if ref.across_customers and got is None:  # the parent is not migrated yet
                pending.append(FieldDiff(key[0], key[1], name, want, got))
                continue
            diffs.append(FieldDiff(key[0], key[1], name, want, got))
    return diffs


def same(expected: Any, actual: Any) -> bool:
    """Equal once normalised as the transforms and Salesforce normalise: blank is null, numbers
    compare by value, dates by their ISO text, strings without surrounding whitespace."""
    return _norm(expected) == _norm(actual)


def _norm(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        if _DATETIME.fullmatch(text):  # one instant, whichever way Salesforce wrote it
            return _instant(text)
        return text or None
    return value


#: Salesforce datetimes: 2020-01-01T00:00:00.000+0000, ...Z, ...+00:00, with or without millis
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})")


def _instant(text: str) -> str:
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    try:
        return datetime.fromisoformat(text).astimezone(UTC).isoformat(timespec="milliseconds")
    except ValueError:
        return text


def _shown(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + f"... ({len(value)} chars)"
    return value
