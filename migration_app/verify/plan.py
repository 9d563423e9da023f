"""Field-level reconciliation of one customer: what V2 should hold (the transform of V1, with
the same mapping) against what V2 holds (read back by Legacy_Id__c). Pure: no I/O.

Verdicts, worst first: MISSING (expected V2 records absent), UNEXPECTED (V2 records carrying this
customer's ids that V1 no longer yields), DRIFT (fields that differ, with both values), MATCH.
Counts alone mislead: a migration whose counts balance can still have dropped a field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from migration_app.migration.customer_transform import CustomerPlan
from migration_app.migration.spec import MappingSpec, ObjectSpec

MATCH, DRIFT, MISSING, UNEXPECTED = "MATCH", "DRIFT", "MISSING", "UNEXPECTED"
SEVERITY = (MISSING, UNEXPECTED, DRIFT, MATCH)  # the verdict is the worst finding
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

    @property
    def verdict(self) -> str:
        if self.missing:
            return MISSING
        if self.unexpected:
            return UNEXPECTED
        return DRIFT if self.drift else MATCH

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
        return out


def v2_path(obj: ObjectSpec, spec: MappingSpec) -> str:
    """The SOQL path from a V2 record to its customer's Account external id."""
    if obj is spec.root:
        return obj.external_id
    for ref in obj.references:
        if ref.parent == spec.root.source:
            return f"{ref.relationship}.{ref.parent_external_id}"
    raise ValueError(f"{obj.target} has no reference to {spec.root.target}")


def v2_select(obj: ObjectSpec, spec: MappingSpec) -> list[str]:
    """Fields to read back from V2 for ``obj``: external id, mapped fields, reference paths."""
    names = [obj.external_id, *(f.target for f in obj.fields), *compared_rule_fields(obj)]
    names += [f"{r.relationship}.{r.parent_external_id}" for r in obj.references]
    path = v2_path(obj, spec)
    return list(dict.fromkeys([*names, path]))


def compared_rule_fields(obj: ObjectSpec) -> list[str]:
    """Owner and record type as the mapping resolved them. CreatedDate is not compared: it is
    insert-only, so a re-migrated record keeps the date it was first created with."""
    return [name for name, on in obj.rule_targets() if on and name != "CreatedDate"]


def expected_records(plan: CustomerPlan, spec: MappingSpec) -> dict[Key, dict[str, Any]]:
    out: dict[Key, dict[str, Any]] = {}
    for obj in spec.objects:
        for record in plan.records_by_object.get(obj.target, ()):
            out[(obj.target, str(record[obj.external_id]))] = record
    return out


def compare_customer(
    customer_id: str,
    expected: Mapping[Key, Mapping[str, Any]],
    actual: Mapping[Key, Mapping[str, Any]],
    spec: MappingSpec,
) -> Verdict:
    """``actual``: V2 rows of this customer keyed like ``expected`` (as SOQL returns them)."""
    verdict = Verdict(customer_id)
    for key, record in expected.items():
        row = actual.get(key)
        if row is None:
            verdict.missing.append(key)
            continue
        obj = spec.by_target(key[0])
        for fmap in obj.fields:
            want, got = record.get(fmap.target), row.get(fmap.target)
            if not same(want, got):
                verdict.drift.append(FieldDiff(key[0], key[1], fmap.target, want, got))
        for name in compared_rule_fields(obj):
            want, got = record.get(name), row.get(name)
            if not same(want, got):
                verdict.drift.append(FieldDiff(key[0], key[1], name, want, got))
        for ref in obj.references:
            want = (record.get(ref.relationship) or {}).get(ref.parent_external_id)
            got = (row.get(ref.relationship) or {}).get(ref.parent_external_id)
            if not same(want, got):
                name = f"{ref.relationship}.{ref.parent_external_id}"
                verdict.drift.append(FieldDiff(key[0], key[1], name, want, got))
    verdict.unexpected = sorted(key for key in actual if key not in expected)
    return verdict


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
        return text or None
    return value


def _shown(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + f"... ({len(value)} chars)"
    return value
