"""Preflight: check the mapping against both orgs' describe metadata before migrating anything.

A mapping that names a missing field, writes a read-only one or maps to a picklist value V2
rejects would fail every customer at load time; this finds it once, at start-up, with the
object and field named. Input is the `sobjects/{S}/describe` JSON of each org, keyed by object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from migration_app.migration.field_transforms import Picklist, Truncate
from migration_app.migration.files_plan import CONTENT_VERSION
from migration_app.migration.reference_rules import Fallback, ReferenceData
from migration_app.migration.spec import FieldMap, MappingSpec, ObjectSpec, ReferenceMap

Level = Literal["ok", "warning", "error"]
Describe = Mapping[str, Any]

_TEXT = frozenset(
    {"string", "textarea", "phone", "email", "url", "picklist", "combobox", "id", "encryptedstring"}
)
_NUMBER = frozenset({"double", "currency", "percent", "int", "long"})
# V2 type -> V1 types whose values it accepts (picklist/text contents are checked separately).
_COMPATIBLE: dict[str, frozenset[str]] = {
    **{t: _TEXT for t in ("string", "textarea", "phone", "email", "url", "encryptedstring")},
    "picklist": _TEXT,
    "combobox": _TEXT,
    "multipicklist": frozenset({"multipicklist"}),
    "boolean": frozenset({"boolean"}),
    **{t: _NUMBER for t in _NUMBER},
    "date": frozenset({"date"}),
    "datetime": frozenset({"date", "datetime"}),
    "reference": frozenset({"reference", "id"}),
}
_LENGTH_CHECKED = frozenset({"string", "textarea", "phone", "email", "url", "encryptedstring"})
_E164_MAX = 16  # "+" and at most 15 digits
_SALESFORCE_ID_LENGTH = 18


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level
    object: str  # "V1 -> V2" object pair, or one name
    field: str  # "V1 -> V2" field pair, or one name; "" for the object itself
    message: str


@dataclass(slots=True)
class PreflightReport:
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing blocks migration (warnings allowed)."""
        return not any(f.level == "error" for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    def render(self) -> str:
        """A plain text table for the CLI, with a one-line verdict at the end."""
        headers = ("LEVEL", "OBJECT", "FIELD", "MESSAGE")
        rows = [(f.level.upper(), f.object, f.field or "-", f.message) for f in self.findings]
        widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(3)]
        lines = []
        for row in [headers, *rows]:
            cells = [row[i].ljust(widths[i]) for i in range(3)]
            lines.append("  ".join([*cells, row[3]]).rstrip())
        ok_count = len(self.findings) - len(self.errors) - len(self.warnings)
        verdict = "PASS" if self.ok else "FAIL"
        lines.append(
            f"{verdict}: {len(self.errors)} error(s), {len(self.warnings)} warning(s), "
            f"{ok_count} ok"
        )
        return "\n".join(lines)


def check_mapping(
    spec: MappingSpec, v1_describe: Mapping[str, Describe], v2_describe: Mapping[str, Describe]
) -> PreflightReport:
    """Check every object, field, reference and picklist of the mapping against both orgs."""
    report = PreflightReport()
    root_v1 = v1_describe.get(spec.root.source)
    for obj in spec.objects:
        _Checker(obj, spec, v1_describe, v2_describe, root_v1, report.findings).run()
    report.findings += check_reference_fields(spec, v1_describe, v2_describe)
    report.findings += check_files(spec, v1_describe, v2_describe)
    return report


class _Checker:
    """Checks for one mapped object; appends findings to a shared list."""

    def __init__(
        self,
        obj: ObjectSpec,
        spec: MappingSpec,
        v1_describe: Mapping[str, Describe],
        v2_describe: Mapping[str, Describe],
        root_v1: Describe | None,
        findings: list[Finding],
    ) -> None:
        self.obj = obj
        self.spec = spec
        self.v1 = v1_describe.get(obj.source)
        self.v2 = v2_describe.get(obj.target)
        self.root_v1 = root_v1
        self.findings = findings
        self.label = f"{obj.source} -> {obj.target}"
        self.v1_fields = _fields_by_name(self.v1)
        self.v2_fields = _fields_by_name(self.v2)

    def add(self, level: Level, field_name: str, message: str) -> None:
        self.findings.append(Finding(level, self.label, field_name, message))

    def run(self) -> None:
        if self.v1 is None:
            self.add("error", "", f"V1 object {self.obj.source} not in the V1 describe")
        if self.v2 is None:
            self.add("error", "", f"V2 object {self.obj.target} not in the V2 describe")
        if self.v1 is None or self.v2 is None:
            return
        self.check_child_relationship()
        self.check_external_id()
        for fmap in self.obj.fields:
            self.check_field(fmap)
        for ref in self.obj.references:
            self.check_reference(ref)
        self.check_unmapped_required()

    def check_follow_up(self) -> None:
        """extract_by: the V1 field exists and references every parent it is read by."""
        follow = self.obj.follow_up
        if follow is None:
            return
        meta = self.v1_fields.get(follow.field)
        allowed = (meta or {}).get("referenceTo") or []
        missing = [p for p in follow.parents if p not in allowed]
        if meta is None:
            self.add("error", follow.field, f"V1 {self.obj.source}.{follow.field} does not exist")
        elif missing:
            self.add(
                "error",
                follow.field,
                f"V1 {follow.field} does not reference {', '.join(missing)}; the follow-up "
                "extract would find nothing",
            )
        else:
            self.add(
                "ok",
                follow.field,
                f"follow-up extract by {follow.field} IN ({', '.join(follow.parents)} ids)",
            )

    def check_child_relationship(self) -> None:
        self.check_follow_up()
        name = self.obj.child_relationship
        if name is None:
            return
        relationships = (self.root_v1 or {}).get("childRelationships") or []
        hit = any(
            r.get("relationshipName") == name and r.get("childSObject") == self.obj.source
            for r in relationships
        )
        if hit:
            self.add("ok", name, f"V1 child relationship {self.spec.root.source}.{name}")
        else:
            self.add(
                "error",
                name,
                f"V1 {self.spec.root.source} has no child relationship {name!r} "
                f"to {self.obj.source}; the extract SOQL would fail",
            )

    def check_external_id(self) -> None:
        name = self.obj.external_id
        meta = self.v2_fields.get(name)
        if meta is None:
            self.add("error", name, f"external id field {name} missing on V2 {self.obj.target}")
            return
        problems = []
        if not meta.get("externalId"):
            self.add("error", name, f"{name} is not an external id on V2 (externalId=false)")
            problems.append("externalId")
        if not (meta.get("createable") and meta.get("updateable")):
            self.add("error", name, f"{name} is not createable and updateable on V2")
            problems.append("access")
        if not meta.get("unique"):
            self.add("warning", name, f"{name} is not unique on V2: upserts may match twice")
            problems.append("unique")
        length = meta.get("length") or 0
        if length and length < _SALESFORCE_ID_LENGTH:
            self.add("error", name, f"{name} length {length} < 18, too short for V1 ids")
            problems.append("length")
        if not problems:
            self.add("ok", name, "external id (unique) holding the V1 Id")

    def check_field(self, fmap: FieldMap) -> None:
        pair = f"{fmap.source} -> {fmap.target}"
        before = len(self.findings)
        source = self.v1_fields.get(fmap.source)
        target = self.v2_fields.get(fmap.target)
        if source is None:
            self.add("error", pair, f"V1 field {self.obj.source}.{fmap.source} does not exist")
        if target is None:
            self.add("error", pair, f"V2 field {self.obj.target}.{fmap.target} does not exist")
        if source is None or target is None:
            return
        self.check_writable(pair, target)
        source_type, target_type = source.get("type"), target.get("type")
        if source_type not in _COMPATIBLE.get(target_type, frozenset()):
            self.add("error", pair, f"type {source_type} cannot be written to {target_type}")
            return
        self.check_length(pair, fmap, source, target)
        self.check_picklist(pair, fmap, source, target)
        if target.get("nillable") is False and not _defaulted(target) and not fmap.required:
            self.add(
                "warning",
                pair,
                "required in V2 but not `required: true` in the mapping: records without a "
                "value fail at load instead of being rejected by the transform",
            )
        if len(self.findings) == before:
            self.add("ok", pair, f"{source_type} -> {target_type}")

    def check_writable(self, pair: str, target: Describe) -> None:
        missing = [p for p in ("createable", "updateable") if not target.get(p)]
        if missing:
            self.add("error", pair, f"V2 field is not {' and '.join(missing)}")

    def check_length(self, pair: str, fmap: FieldMap, source: Describe, target: Describe) -> None:
        target_length = target.get("length") or 0
        if target.get("type") not in _LENGTH_CHECKED or not target_length:
            return
        truncate = fmap.transform("truncate")
        if isinstance(truncate, Truncate):
            if truncate.length > target_length:
                self.add(
                    "error",
                    pair,
                    f"truncate {truncate.length} exceeds V2 length {target_length}",
                )
            return
        if fmap.transform("phone") is not None and target_length >= _E164_MAX:
            return
        source_length = source.get("length") or 0
        if source_length > target_length:
            self.add(
                "warning",
                pair,
                f"V1 length {source_length} > V2 length {target_length} and no truncate: "
                "long values will fail at load",
            )

    def check_picklist(self, pair: str, fmap: FieldMap, source: Describe, target: Describe) -> None:
        target_values = _active_values(target)
        restricted = target.get("type") == "picklist" and bool(target.get("restrictedPicklist"))
        picklist = fmap.transform("picklist")
        if isinstance(picklist, Picklist):
            if target.get("type") != "picklist":
                return
            produced = set(picklist.mapping.values())
            if picklist.default is not None:
                produced.add(picklist.default)
            bad = sorted(produced - target_values)
            if bad:
                level: Level = "error" if restricted else "warning"
                self.add(
                    level,
                    pair,
                    f"maps to value(s) not in the V2 picklist: {', '.join(bad)} "
                    f"(V2 values: {', '.join(sorted(target_values))})",
                )
            unmapped = sorted(_active_values(source) - set(picklist.mapping))
            if unmapped:
                self.add(
                    "warning",
                    pair,
                    f"V1 value(s) not in the map: {', '.join(unmapped)} "
                    f"(on_unknown: {picklist.on_unknown})",
                )
            return
        if not restricted:
            return
        if source.get("type") != "picklist":
            self.add("warning", pair, "restricted V2 picklist fed by free text without a map")
            return
        unknown = sorted(_active_values(source) - target_values)
        if unknown:
            self.add(
                "error", pair, f"V1 values not allowed by the V2 picklist: {', '.join(unknown)}"
            )

    def check_reference(self, ref: ReferenceMap) -> None:
        """Every object the mapping allows must be allowed by the field in both orgs: a type
        V2's field does not take is refused by Salesforce (FIELD_INTEGRITY_EXCEPTION) on every
        record that carries it."""
        parents = [self.spec.object(p) for p in ref.allowed_parents]
        parent = parents[0]
        pair = f"{ref.source} -> {ref.relationship}"
        before = len(self.findings)
        source = self.v1_fields.get(ref.source)
        if source is None:
            self.add("error", pair, f"V1 field {self.obj.source}.{ref.source} does not exist")
        else:
            for p in parents:
                if p.source not in (source.get("referenceTo") or []):
                    self.add("error", pair, f"V1 {ref.source} does not reference {p.source}")
        target = next(
            (f for f in self.v2_fields.values() if f.get("relationshipName") == ref.relationship),
            None,
        )
        if target is None:
            self.add(
                "error",
                pair,
                f"V2 {self.obj.target} has no relationship named {ref.relationship!r}",
            )
        else:
            for p in parents:
                if p.target not in (target.get("referenceTo") or []):
                    self.add("error", pair, f"V2 {ref.relationship} does not reference {p.target}")
            if ref.polymorphic and not target.get("polymorphicForeignKey", True):
                self.add("warning", pair, "mapped as polymorphic; V2's field is not")
            self.check_writable(pair, target)
            if target.get("nillable") is False and not ref.required:
                self.add("warning", pair, "required in V2 but not `required: true` in the mapping")
        if len(self.findings) == before:
            names = " | ".join(p.target for p in parents)
            self.add("ok", pair, f"reference to {names} by {parent.external_id}")

    def check_unmapped_required(self) -> None:
        written = {f.target for f in self.obj.fields} | {self.obj.external_id}
        written |= {name for name, on in self.obj.rule_targets() if on}
        written |= {
            name
            for name, meta in self.v2_fields.items()
            if meta.get("relationshipName") in {r.relationship for r in self.obj.references}
        }
        for name, meta in sorted(self.v2_fields.items()):
            if name in written or not meta.get("createable"):
                continue
            if meta.get("nillable") is False and not _defaulted(meta):
                self.add("error", name, f"V2 requires {name} but the mapping never writes it")


def _fields_by_name(describe: Describe | None) -> dict[str, Describe]:
    if describe is None:
        return {}
    return {f["name"]: f for f in describe.get("fields") or [] if "name" in f}


def _active_values(meta: Describe) -> set[str]:
    return {
        v["value"]
        for v in meta.get("picklistValues") or []
        if v.get("active", True) and "value" in v
    }


def _defaulted(meta: Describe) -> bool:
    """Salesforce fills these itself (checkboxes, defaulted fields), so null is never sent."""
    return bool(meta.get("defaultedOnCreate")) or meta.get("type") == "boolean"


# --- owners, record types and audit fields ------------------------------------------------


def check_reference_fields(
    spec: MappingSpec, v1_describe: Mapping[str, Describe], v2_describe: Mapping[str, Describe]
) -> list[Finding]:
    """OwnerId / RecordTypeId / CreatedDate exist where the rules read and write them, and V2
    lets the API user write them (CreatedDate: "Set Audit Fields upon Record Creation")."""
    findings: list[Finding] = []
    for obj in spec.objects:
        label = f"{obj.source} -> {obj.target}"
        v1 = _fields_by_name(v1_describe.get(obj.source))
        v2 = _fields_by_name(v2_describe.get(obj.target))
        if not v1 or not v2:
            continue  # check_mapping already reports the missing object
        for name, wanted in obj.rule_targets():
            if not wanted:
                continue
            before = len(findings)
            if name not in v1:
                findings.append(Finding("error", label, name, f"V1 {obj.source} has no {name}"))
            meta = v2.get(name)
            if meta is None:
                findings.append(Finding("error", label, name, f"V2 {obj.target} has no {name}"))
            elif not meta.get("createable"):
                why = (
                    'V2 does not let the API user set CreatedDate: grant "Set Audit Fields '
                    'upon Record Creation" or drop preserve_created_date'
                    if name == "CreatedDate"
                    else f"V2 {name} is not createable"
                )
                findings.append(Finding("error", label, name, why))
            if len(findings) == before:
                findings.append(Finding("ok", label, name, f"{name} written on insert"))
    return findings


@dataclass(frozen=True, slots=True)
class Gap:
    """A V1 owner or record type without an active V2 target: how many records it touches
    decides whether it matters (the live preflight counts them with one COUNT() each)."""

    v1_object: str
    field: str  # OwnerId | RecordTypeId
    v1_id: str  # the V1 User or RecordType id the records point at
    value: str  # what an operator recognises (Email, DeveloperName)
    why: str
    policy: str  # "owners.on_missing: fallback x" / "... : error"
    is_error: bool


def reference_gaps(
    spec: MappingSpec,
    v1_users: list[Mapping[str, Any]],
    v1_record_types: list[Mapping[str, Any]],
    v2: ReferenceData,
) -> tuple[list[Finding], list[Gap]]:
    """Findings about the declared targets (fallback users, renamed and fallback record types)
    and the V1 values that have no active V2 target."""
    findings: list[Finding] = []
    gaps: list[Gap] = []
    owners = spec.owners
    owned = [o for o in spec.objects if o.owner_path]
    if owners is not None and owned:
        for policy_name, policy in (
            ("owners.on_inactive", owners.on_inactive),
            ("owners.on_missing", owners.on_missing),
        ):
            findings.append(_fallback_user_finding(policy_name, policy, v2))
        for user in v1_users:
            raw = user.get(owners.match_on)
            key = owners.key(raw)
            hit = v2.users_by_key.get(key) if key and key not in v2.ambiguous_keys else None
            if hit is not None and hit.active:
                continue
            gap, policy = (
                ("inactive", owners.on_inactive) if hit else ("missing", owners.on_missing)
            )
            why = "inactive in V2" if hit else f"no V2 user with that {owners.match_on}"
            for obj in owned:
                gaps.append(
                    Gap(
                        obj.source,
                        "OwnerId",
                        str(user["Id"]),
                        f"{owners.match_on}={raw!r}",
                        why,
                        f"owners.on_{gap}: {policy.describe()}",
                        policy.is_error,
                    )
                )
    for obj in spec.objects:
        rule = obj.record_type
        if rule is None:
            continue
        label = f"{obj.source} -> {obj.target}"
        for v1_name, v2_name in sorted(rule.renamed.items()):
            hit = v2.record_types.get((obj.target, v2_name))
            if hit is None or not hit.active:
                findings.append(
                    Finding(
                        "error",
                        label,
                        "RecordTypeId",
                        f"record_type.renamed {v1_name} -> {v2_name}: V2 {obj.target} has no "
                        f"active record type {v2_name}",
                    )
                )
        fallback = rule.on_missing.target
        if fallback is not None:
            hit = v2.record_types.get((obj.target, fallback))
            level: Level = "ok" if hit is not None and hit.active else "error"
            message = (
                f"record_type.on_missing: fallback {fallback} is an active V2 record type"
                if level == "ok"
                else f"record_type.on_missing: fallback {fallback} is not an active V2 "
                f"{obj.target} record type"
            )
            findings.append(Finding(level, label, "RecordTypeId", message))
        for row in v1_record_types:
            if row.get("SobjectType") != obj.source:
                continue
            name = str(row.get("DeveloperName"))
            wanted = rule.target_name(name)
            hit = v2.record_types.get((obj.target, wanted))
            if hit is not None and hit.active:
                continue
            renamed = f" (renamed {wanted})" if wanted != name else ""
            gaps.append(
                Gap(
                    obj.source,
                    "RecordTypeId",
                    str(row["Id"]),
                    f"{name}{renamed}",
                    "inactive in V2" if hit else f"no V2 {obj.target} record type",
                    f"record_type.on_missing: {rule.on_missing.describe()}",
                    rule.on_missing.is_error,
                )
            )
    return findings, gaps


def gap_findings(gaps: list[Gap], counts: Mapping[tuple[str, str, str], int]) -> list[Finding]:
    """One finding per gap in use: a warning when a fallback takes the records, an error when
    the policy rejects them; `counts` is keyed (V1 object, field, V1 id)."""
    findings = []
    for gap in gaps:
        n = counts.get((gap.v1_object, gap.field, gap.v1_id), 0)
        if not n:
            continue
        outcome = "would be rejected" if gap.is_error else "would take the fallback"
        findings.append(
            Finding(
                "error" if gap.is_error else "warning",
                gap.v1_object,
                gap.field,
                f"{n} record(s) with V1 {gap.value} ({gap.why}) {outcome} ({gap.policy})",
            )
        )
    return findings


def _fallback_user_finding(policy_name: str, policy: Fallback, v2: ReferenceData) -> Finding:
    if policy.target is None:
        return Finding("ok", "User", "OwnerId", f"{policy_name}: error (no fallback)")
    user = v2.user_by_username(policy.target)
    if user is None or not user.active:
        state = "missing" if user is None else "inactive"
        return Finding(
            "error", "User", "OwnerId", f"{policy_name}: fallback user {policy.target} is {state}"
        )
    return Finding("ok", "User", "OwnerId", f"{policy_name}: fallback user {policy.target}")


def check_files(
    spec: MappingSpec, v1_describe: Mapping[str, Describe], v2_describe: Mapping[str, Describe]
) -> list[Finding]:
    """The mapping's ``files:``: V1 ContentVersion readable with its bytes and Checksum; V2
    ContentVersion with the external id (unique: it is what keeps a replay from uploading a
    second copy) and a createable FirstPublishLocationId."""
    files = spec.files
    if files is None:
        return []
    label = "ContentVersion -> ContentVersion"
    out: list[Finding] = []
    v1 = _fields_by_name(v1_describe.get(CONTENT_VERSION))
    v2 = _fields_by_name(v2_describe.get(CONTENT_VERSION))
    if not v1 or not v2:
        side = "V1" if not v1 else "V2"
        return [Finding("error", label, "", f"{side} ContentVersion not in the {side} describe")]
    for name in ("VersionData", "Checksum", "ContentDocumentId", "Title", "PathOnClient"):
        if name not in v1:
            out.append(Finding("error", label, name, f"V1 ContentVersion has no {name}"))
    meta = v2.get(files.external_id)
    if meta is None:
        out.append(Finding("error", label, files.external_id, f"{files.external_id} missing on V2"))
    else:
        if not meta.get("externalId") or not meta.get("unique"):
            out.append(
                Finding(
                    "error",
                    label,
                    files.external_id,
                    f"{files.external_id} must be a unique external id on V2 ContentVersion: "
                    "without it a replay can upload a file twice",
                )
            )
        if not meta.get("createable"):
            out.append(Finding("error", label, files.external_id, "not createable on V2"))
    first = v2.get("FirstPublishLocationId")
    if first is None or not first.get("createable"):
        out.append(
            Finding("error", label, "FirstPublishLocationId", "not createable on V2 ContentVersion")
        )
    if not out:
        out.append(
            Finding(
                "ok",
                label,
                files.external_id,
                f"files of {', '.join(files.linked_to)}: unique external id, bytes readable",
            )
        )
    return out
