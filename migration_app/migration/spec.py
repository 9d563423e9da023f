"""The declarative V1 -> V2 mapping: load the YAML, validate it, expose it as typed objects.

Validation happens once at start-up and every error names the object and field, so a bad
mapping stops the service with a message an operator can act on instead of failing per record.
Every name that ends up in SOQL is checked against an identifier pattern here, so the extract
query cannot be injected through the mapping file; record ids are checked in `extract_soql`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from migration_app.migration.field_transforms import (
    ON_UNKNOWN_DEFAULT,
    ON_UNKNOWN_DROP,
    ON_UNKNOWN_ERROR,
    Boolean,
    Email,
    Phone,
    Picklist,
    Transform,
    Trim,
    Truncate,
)
from migration_app.migration.files_plan import FilesSpec, FilesSpecError, parse_files_spec
from migration_app.migration.reference_rules import (
    OwnerRule,
    RecordTypeRule,
    RuleError,
    parse_owner_rule,
    parse_record_type_rule,
)
from migration_app.migration.salesforce_ids import is_salesforce_id

_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class MappingError(ValueError):
    """The mapping file is malformed; the message says where (object, field) and why."""


@dataclass(frozen=True, slots=True)
class FieldMap:
    """One V1 field copied to one V2 field through a chain of transforms."""

    source: str
    target: str
    transforms: tuple[Transform, ...] = ()
    required: bool = False

    def transform(self, name: str) -> Transform | None:
        """The first transform of that kind (e.g. "truncate"), for preflight checks."""
        return next((t for t in self.transforms if t.name == name), None)


@dataclass(frozen=True, slots=True)
class ReferenceMap:
    """A V1 lookup field written to V2 through the parent's external id.

    `source` is the V1 id field (AccountId), `relationship` the V2 relationship name the payload
    uses ({"Account": {"Legacy_Id__c": ...}}), `parent` the mapped object it points at.
    """

    source: str
    relationship: str
    parent: str
    parent_external_id: str
    required: bool = False
    #: polymorphic (``parent: [Account, Case]``): the V1 objects it may point at, in the
    #: mapping's order; the payload names the target's V2 type (``{"attributes": {"type":
    #: "Case"}, "Legacy_Id__c": ...}``). Empty for an ordinary lookup.
    parents: tuple[str, ...] = ()
    #: the parent may be another customer's record (``Account.ParentId``): written through its
    #: external id when that customer is migrated, recorded as pending until then
    across_customers: bool = False

    @property
    def polymorphic(self) -> bool:
        return bool(self.parents)

    @property
    def allowed_parents(self) -> tuple[str, ...]:
        return self.parents or (self.parent,)

    @property
    def v2_id_field(self) -> str:
        """The V2 id field behind the relationship (What -> WhatId, Account__r -> Account__c)."""
        if self.relationship.endswith("__r"):
            return self.relationship[:-3] + "__c"
        return self.relationship + "Id"


@dataclass(frozen=True, slots=True)
class FollowUp:
    """How a grandchild object is extracted: records whose V1 ``field`` holds the Id of one of
    the customer's ``parents`` records (EmailMessage.ParentId -> Case; Task.WhatId -> Account or
    Case). SOQL nests one level of child subquery only, so these come from a second query per
    object per batch (``migration.extract_plan``)."""

    field: str
    parents: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """How one V1 object becomes one V2 object."""

    source: str
    target: str
    external_id: str
    fields: tuple[FieldMap, ...]
    references: tuple[ReferenceMap, ...] = ()
    child_relationship: str | None = None  # V1 relationship on the root; None for the root
    #: the V1 owner's match key as a relationship field (Owner.Email) when `owner: true`
    owner_path: str | None = None
    record_type: RecordTypeRule | None = None
    preserve_created_date: bool = False
    #: set for an object extracted by a follow-up query instead of a subquery on the root
    follow_up: FollowUp | None = None

    @property
    def v1_fields(self) -> tuple[str, ...]:
        """Fields read from V1, in SOQL order: Id, mapped fields, lookup fields, then the owner's
        key, the record type's DeveloperName and CreatedDate when the rules need them."""
        names = ["Id", *(f.source for f in self.fields), *(r.source for r in self.references)]
        if self.owner_path:
            names.append(self.owner_path)
        if self.record_type is not None:
            names.append("RecordType.DeveloperName")
        if self.preserve_created_date:
            names.append("CreatedDate")
        return tuple(dict.fromkeys(names))

    @property
    def v2_fields(self) -> tuple[str, ...]:
        """Fields written to V2: external id, mapped fields, relationship names, then the
        resolved OwnerId / RecordTypeId and the preserved CreatedDate."""
        names = [self.external_id, *(f.target for f in self.fields)]
        names += [r.relationship for r in self.references]
        names += [name for name, on in self.rule_targets() if on]
        return tuple(names)

    def rule_targets(self) -> tuple[tuple[str, bool], ...]:
        return (
            ("OwnerId", self.owner_path is not None),
            ("RecordTypeId", self.record_type is not None),
            ("CreatedDate", self.preserve_created_date),
        )


@dataclass(frozen=True, slots=True)
class MappingSpec:
    """The whole mapping; `objects` is in load order (parents before children)."""

    objects: tuple[ObjectSpec, ...]
    source_path: str = ""
    owners: OwnerRule | None = None
    #: seconds between refreshes of V2's users and record types (read once at start)
    refresh_seconds: float = 300.0
    #: what a re-migration does to a record someone else changed in V2 (``write_plan``)
    on_conflict: str = "keep_v2"
    #: which records' files migrate (``files:``; None: no files)
    files: FilesSpec | None = None
    _by_source: dict[str, ObjectSpec] = field(init=False, repr=False, compare=False)
    _levels: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_source = {o.source: o for o in self.objects}
        levels: dict[str, int] = {}
        for index, obj in enumerate(self.objects):
            parents = [
                levels[p]
                for r in obj.references
                if not r.across_customers
                for p in r.allowed_parents
                if p in levels
            ]
            levels[obj.source] = 0 if index == 0 else 1 + max(parents, default=0)
        object.__setattr__(self, "_by_source", by_source)
        object.__setattr__(self, "_levels", levels)

    def __iter__(self) -> Iterator[ObjectSpec]:
        return iter(self.objects)

    @property
    def root(self) -> ObjectSpec:
        """The object the extract query selects from (Account); children hang off it."""
        return self.objects[0]

    @property
    def children(self) -> tuple[ObjectSpec, ...]:
        """Objects read by a subquery on the root (``child_relationship``)."""
        return tuple(o for o in self.objects[1:] if o.child_relationship is not None)

    @property
    def follow_ups(self) -> tuple[ObjectSpec, ...]:
        """Objects read by a follow-up query by their parents' ids (``extract_by``)."""
        return tuple(o for o in self.objects if o.follow_up is not None)

    def object(self, source: str) -> ObjectSpec:
        """Look an object up by its V1 name; KeyError names the known ones."""
        try:
            return self._by_source[source]
        except KeyError:
            known = list(self._by_source)
            raise KeyError(f"no mapping for V1 object {source!r}; known: {known}") from None

    def by_target(self, target: str) -> ObjectSpec:
        for obj in self.objects:
            if obj.target == target:
                return obj
        raise KeyError(f"no mapping for V2 object {target!r}")

    def level(self, source: str) -> int:
        """Load wave: 0 for the root, 1 + deepest referenced parent otherwise.

        Objects of the same level do not reference each other and may be loaded concurrently.
        """
        return self._levels[source]

    def root_reference(self, obj: ObjectSpec) -> ReferenceMap | None:
        """A child's plain lookup to the root (``Contact.AccountId``): how its records are
        traced to their customer in V1 and in V2; None for the root or a child without one."""
        for ref in obj.references:
            if ref.parent == self.root.source and not ref.polymorphic and not ref.across_customers:
                return ref
        return None

    def conflict_policy(self, source: str) -> str:
        """The on_conflict policy for one object (one policy for the mapping today)."""
        return self.on_conflict

    @property
    def needs_reference_data(self) -> bool:
        """True when some object resolves owners or record types against V2."""
        return any(o.owner_path or o.record_type for o in self.objects)

    def v1_fields(self, source: str) -> tuple[str, ...]:
        return self.object(source).v1_fields

    def v2_fields(self, source: str) -> tuple[str, ...]:
        return self.object(source).v2_fields

    def extract_soql(self, account_ids: Sequence[str]) -> str:
        """One SOQL over the root with a child subquery per child object.

        Ids are checked to be Salesforce ids (15 or 18 alphanumerics) and de-duplicated in
        order; anything else raises ValueError, so no caller text reaches the query unchecked.
        """
        if isinstance(account_ids, str):
            raise ValueError("account_ids must be a sequence of ids, not one string")
        ids = list(dict.fromkeys(account_ids))
        if not ids:
            raise ValueError("extract_soql needs at least one account id")
        for account_id in ids:
            if not is_salesforce_id(account_id):
                raise ValueError(f"not a Salesforce id: {account_id!r}")
        root = self.root
        parts = list(root.v1_fields)
        for child in self.children:
            parts.append(f"(SELECT {', '.join(child.v1_fields)} FROM {child.child_relationship})")
        in_list = ",".join(f"'{i}'" for i in ids)
        return f"SELECT {', '.join(parts)} FROM {root.source} WHERE Id IN ({in_list})"


# --- loading -------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys (YAML silently keeps the last one)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise MappingError(f"duplicate key {key!r} at line {key_node.start_mark.line + 1}")
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def default_mapping_path() -> Path:
    """The mapping.yaml shipped inside this package."""
    return Path(str(resources.files("migration_app.migration").joinpath("mapping.yaml")))


def load_mapping(path: str | Path | None = None) -> MappingSpec:
    """Read and validate a mapping file (default: the packaged mapping.yaml)."""
    file_path = Path(path) if path is not None else default_mapping_path()
    try:
        text = file_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"{file_path}: cannot read mapping: {exc}") from exc
    return parse_mapping(text, str(file_path))


def parse_mapping(text: str, source_path: str = "<string>") -> MappingSpec:
    """Validate mapping YAML text into a MappingSpec; errors are prefixed with the file name."""
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except MappingError as exc:
        raise MappingError(f"{source_path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise MappingError(f"{source_path}: not valid YAML: {exc}") from None
    try:
        objects, owners, refresh = _parse_document(document)
        on_conflict = _parse_on_conflict(document)
        files = (
            parse_files_spec(document["files"], [o.source for o in objects])
            if "files" in document
            else None
        )
    except (MappingError, RuleError, FilesSpecError) as exc:
        raise MappingError(f"{source_path}: {exc}") from None
    return MappingSpec(
        objects=objects,
        source_path=source_path,
        owners=owners,
        refresh_seconds=refresh,
        on_conflict=on_conflict,
        files=files,
    )


KEEP_V2 = "keep_v2"
FAIL_CUSTOMER = "fail_customer"
OVERWRITE = "overwrite"
CONFLICT_POLICIES = (KEEP_V2, FAIL_CUSTOMER, OVERWRITE)


def _parse_on_conflict(document: dict[str, Any]) -> str:
    policy = document.get("on_conflict", KEEP_V2)
    if policy not in CONFLICT_POLICIES:
        raise MappingError(f"on_conflict must be one of {', '.join(CONFLICT_POLICIES)}: {policy!r}")
    return str(policy)


def _parse_document(document: Any) -> tuple[tuple[ObjectSpec, ...], OwnerRule | None, float]:
    doc = _as_dict(
        document,
        "mapping",
        {"version", "objects", "owners", "reference_data", "on_conflict", "files"},
    )
    if doc.get("version") != 1:
        raise MappingError(f"version must be 1, got {doc.get('version')!r}")
    owners = parse_owner_rule(doc["owners"]) if "owners" in doc else None
    refresh = _as_dict(doc.get("reference_data", {}), "reference_data", {"refresh_seconds"}).get(
        "refresh_seconds", 300
    )
    if not isinstance(refresh, int | float) or isinstance(refresh, bool) or refresh < 10:
        raise MappingError("reference_data.refresh_seconds must be a number >= 10")
    raw_objects = doc.get("objects")
    if not isinstance(raw_objects, list) or not raw_objects:
        raise MappingError("objects must be a non-empty list")
    objects: list[ObjectSpec] = []
    for index, raw in enumerate(raw_objects):
        where = f"objects[{index}]"
        if isinstance(raw, dict) and isinstance(raw.get("source"), str):
            where = f"object {raw['source']}"
        objects.append(_parse_object(raw, where, objects, owners))
    _check_objects(objects)
    return tuple(objects), owners, float(refresh)


_OBJECT_KEYS = {
    "source",
    "target",
    "external_id",
    "child_relationship",
    "fields",
    "references",
    "owner",
    "record_type",
    "preserve_created_date",
    "extract_by",
}


def _parse_object(
    raw: Any, where: str, earlier: list[ObjectSpec], owners: OwnerRule | None = None
) -> ObjectSpec:
    obj = _as_dict(raw, where, _OBJECT_KEYS)
    source = _name(obj, "source", where)
    target = _name(obj, "target", where)
    external_id = _name(obj, "external_id", where)
    child_relationship = _name(obj, "child_relationship", where, optional=True)
    follow_up = _parse_follow_up(obj["extract_by"], where, earlier) if "extract_by" in obj else None
    raw_fields = obj.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise MappingError(f"{where}: fields must be a non-empty list")
    fields = tuple(_parse_field(f, where, i) for i, f in enumerate(raw_fields))
    raw_refs = obj.get("references", [])
    if not isinstance(raw_refs, list):
        raise MappingError(f"{where}: references must be a list")
    known = {o.source: o.external_id for o in earlier}
    known.setdefault(source, external_id)  # a reference to its own kind (Account.ParentId)
    references = tuple(_parse_reference(r, where, i, known) for i, r in enumerate(raw_refs))
    for flag in ("owner", "preserve_created_date"):
        if not isinstance(obj.get(flag, False), bool):
            raise MappingError(f"{where}.{flag} must be true or false")
    owner_path = None
    if obj.get("owner", False):
        if owners is None:
            raise MappingError(f"{where}.owner: true needs a top-level owners: block")
        owner_path = owners.v1_path
    record_type = (
        parse_record_type_rule(obj["record_type"], where) if "record_type" in obj else None
    )
    spec = ObjectSpec(
        source,
        target,
        external_id,
        fields,
        references,
        child_relationship,
        owner_path=owner_path,
        record_type=record_type,
        preserve_created_date=obj.get("preserve_created_date", False),
        follow_up=follow_up,
    )
    _check_object_fields(spec, where)
    return spec


def _parse_field(raw: Any, where: str, index: int) -> FieldMap:
    item = _as_dict(raw, f"{where}.fields[{index}]", {"source", "target", "transforms", "required"})
    source = _name(item, "source", f"{where}.fields[{index}]")
    where = f"{where}.{source}"
    target = _name(item, "target", where)
    required = item.get("required", False)
    if not isinstance(required, bool):
        raise MappingError(f"{where}: required must be true or false")
    raw_transforms = item.get("transforms", [])
    if not isinstance(raw_transforms, list):
        raise MappingError(f"{where}: transforms must be a list")
    transforms = tuple(_parse_transform(t, where) for t in raw_transforms)
    return FieldMap(source=source, target=target, transforms=transforms, required=required)


def _parse_follow_up(raw: Any, where: str, earlier: list[ObjectSpec]) -> FollowUp:
    item = _as_dict(raw, f"{where}.extract_by", {"field", "parents"})
    field_name = _name(item, "field", f"{where}.extract_by")
    parents = item.get("parents")
    if isinstance(parents, str):
        parents = [parents]
    known = [o.source for o in earlier]
    if not isinstance(parents, list) or not parents:
        raise MappingError(f"{where}.extract_by.parents must be a non-empty list of objects")
    for parent in parents:
        if parent not in known:
            raise MappingError(
                f"{where}.extract_by: parent {parent!r} must be a mapped object listed before "
                f"this one (listed before: {known})"
            )
    return FollowUp(field_name, tuple(dict.fromkeys(parents)))


def _parse_reference(raw: Any, where: str, index: int, known: dict[str, str]) -> ReferenceMap:
    """`known` maps each earlier object's V1 name to its external id field (the object being
    parsed included, for a reference across customers to its own kind)."""
    keys = {"source", "relationship", "parent", "required", "across_customers"}
    item = _as_dict(raw, f"{where}.references[{index}]", keys)
    source = _name(item, "source", f"{where}.references[{index}]")
    where = f"{where}.{source}"
    relationship = _name(item, "relationship", where)
    raw_parent = item.get("parent")
    polymorphic = isinstance(raw_parent, list)
    names = raw_parent if polymorphic else [raw_parent]
    if not names:
        raise MappingError(f"{where}: parent must name at least one object")
    parents = [_name({"parent": p}, "parent", where) for p in names]
    for parent in parents:
        if parent not in known:
            raise MappingError(
                f"{where}: parent {parent!r} must be a mapped object listed before this one "
                f"(listed before: {sorted(known)})"
            )
    for flag in ("required", "across_customers"):
        if not isinstance(item.get(flag, False), bool):
            raise MappingError(f"{where}: {flag} must be true or false")
    across = item.get("across_customers", False)
    if across and polymorphic:
        raise MappingError(f"{where}: a reference across customers cannot be polymorphic")
    return ReferenceMap(
        source,
        relationship,
        parents[0],
        known[parents[0]],
        item.get("required", False),
        parents=tuple(dict.fromkeys(parents)) if polymorphic else (),
        across_customers=across,
    )


def _parse_transform(raw: Any, where: str) -> Transform:
    if isinstance(raw, str):
        name, arg = raw, None
    elif isinstance(raw, dict) and len(raw) == 1:
        name, arg = next(iter(raw.items()))
    else:
        raise MappingError(f"{where}: a transform is a name or a one-key mapping, got {raw!r}")
    where = f"{where}: transform {name!r}"
    if name == "trim" and arg is None:
        return Trim()
    if name == "email" and arg is None:
        return Email()
    if name == "boolean" and arg is None:
        return Boolean()
    if name == "phone":
        region = "GB"
        if arg is not None:
            region = _as_dict(arg, where, {"region"}).get("region", "GB")
            if not isinstance(region, str) or not re.fullmatch(r"[A-Z]{2}", region):
                raise MappingError(f"{where}: region must be a two-letter country code")
        return Phone(region=region)
    if name == "truncate":
        if not isinstance(arg, int) or isinstance(arg, bool) or arg <= 0:
            raise MappingError(f"{where}: needs a positive length, e.g. {{truncate: 255}}")
        return Truncate(length=arg)
    if name == "picklist":
        return _parse_picklist(arg, where)
    if name in {"trim", "email", "boolean"}:
        raise MappingError(f"{where}: takes no argument")
    raise MappingError(
        f"{where}: unknown transform (known: trim, truncate, phone, email, boolean, picklist)"
    )


def _parse_picklist(arg: Any, where: str) -> Picklist:
    options = _as_dict(arg, where, {"map", "on_unknown"})
    raw_map = options.get("map")
    if not isinstance(raw_map, dict) or not raw_map:
        raise MappingError(f"{where}: needs a non-empty map of V1 value: V2 value")
    for key, value in raw_map.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise MappingError(
                f"{where}: map entry {key!r}: {value!r} must be strings (quote values such as "
                "Yes/No/On/Off, which YAML reads as booleans)"
            )
    folded: dict[str, str] = {}
    for key in raw_map:
        clash = folded.setdefault(key.strip().casefold(), key)
        if clash != key:
            raise MappingError(f"{where}: keys {clash!r} and {key!r} differ only in case")
    on_unknown = options.get("on_unknown", ON_UNKNOWN_DROP)
    default = None
    if isinstance(on_unknown, str) and on_unknown.startswith(ON_UNKNOWN_DEFAULT + ":"):
        default = on_unknown.split(":", 1)[1].strip()
        on_unknown = ON_UNKNOWN_DEFAULT
        if not default:
            raise MappingError(f"{where}: on_unknown default needs a value, e.g. default:Medium")
    elif on_unknown not in {ON_UNKNOWN_DROP, ON_UNKNOWN_ERROR}:
        raise MappingError(
            f"{where}: on_unknown must be warn-and-drop, error or default:<value>, "
            f"got {on_unknown!r}"
        )
    return Picklist(mapping=dict(raw_map), on_unknown=on_unknown, default=default)


def _check_object_fields(spec: ObjectSpec, where: str) -> None:
    sources = [f.source for f in spec.fields] + [r.source for r in spec.references]
    targets = [f.target for f in spec.fields] + [r.relationship for r in spec.references]
    targets += [name for name, on in spec.rule_targets() if on]
    for label, names in (("V1 source", sources), ("V2 target", targets)):
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise MappingError(f"{where}: {label} field(s) mapped twice: {', '.join(dupes)}")
    if spec.external_id in targets:
        raise MappingError(
            f"{where}.{spec.external_id}: the external id is set from the V1 Id "
            "and cannot also be a mapped target"
        )
    if "Id" in sources:
        raise MappingError(f"{where}.Id: Id is always read; it becomes {spec.external_id}")


def _check_objects(objects: list[ObjectSpec]) -> None:
    root, *children = objects
    if root.child_relationship is not None or root.follow_up is not None:
        raise MappingError(
            f"object {root.source}: the first object is the extract root and "
            "must not have child_relationship or extract_by"
        )
    if any(not r.across_customers for r in root.references):
        raise MappingError(
            f"object {root.source}: the root object can only have references across "
            "customers (across_customers: true)"
        )
    for obj in objects:
        for ref in obj.references:
            if ref.across_customers and (obj is not root or ref.parent != root.source):
                raise MappingError(
                    f"object {obj.source}.{ref.source}: across_customers is for a reference "
                    f"from the root to another customer's root ({root.source})"
                )
            if ref.parent == obj.source and not ref.across_customers:
                raise MappingError(
                    f"object {obj.source}.{ref.source}: a reference to its own object must "
                    "be across_customers: true (hierarchies inside a customer are not mapped)"
                )
    seen_sources: set[str] = {root.source}
    seen_targets: set[str] = {root.target}
    seen_relationships: set[str] = set()
    for child in children:
        where = f"object {child.source}"
        if (child.child_relationship is None) == (child.follow_up is None):
            raise MappingError(
                f"{where}: child_relationship (the V1 relationship name on {root.source}, "
                "e.g. Contacts) or extract_by (a follow-up query by its parents' ids, e.g. "
                "{field: ParentId, parents: [Case]}): exactly one is required"
            )
        if child.source in seen_sources or child.target in seen_targets:
            raise MappingError(f"{where}: object mapped twice ({child.source} -> {child.target})")
        if child.child_relationship is not None:
            if child.child_relationship in seen_relationships:
                raise MappingError(
                    f"{where}: child_relationship {child.child_relationship!r} used twice"
                )
            if not any(r.parent == root.source and not r.polymorphic for r in child.references):
                raise MappingError(
                    f"{where}: needs a reference to the root {root.source} (its lookup to "
                    "the parent)"
                )
            seen_relationships.add(child.child_relationship)
        seen_sources.add(child.source)
        seen_targets.add(child.target)


def _as_dict(raw: Any, where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: expected a mapping, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise MappingError(
            f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )
    return raw


def _name(raw: dict[str, Any], key: str, where: str, optional: bool = False) -> Any:
    value = raw.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or _NAME_RE.fullmatch(value) is None:
        raise MappingError(f"{where}: {key} must be a Salesforce API name, got {value!r}")
    return value
