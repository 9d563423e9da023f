"""Owners and record types: the mapping's rules, V2's reference data, and resolving one record.

Pure: the runtime reads V2's User and RecordType rows (once at start, then on a timer) and hands
the transform an immutable `ReferenceData` snapshot; nothing here does I/O, and nothing is looked
up per record. V1 values arrive in the extract through relationship fields (`Owner.Email`,
`RecordType.DeveloperName`), so V1 needs no lookups either.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from migration_app.migration.issues import (
    ERROR,
    OWNER_FALLBACK,
    OWNER_UNRESOLVED,
    RECORD_TYPE_FALLBACK,
    RECORD_TYPE_UNRESOLVED,
    WARNING,
    Issue,
)

MATCH_KEYS = ("Email", "FederationIdentifier", "Username")
Normalise = Literal["exact", "casefold", "local_part"]
NORMALISERS: tuple[Normalise, ...] = ("exact", "casefold", "local_part")
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class RuleError(ValueError):
    """A malformed owners/record_type block; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Fallback:
    """What to do when a V1 value has no usable V2 target: `target` None means error."""

    target: str | None  # fallback Username (owners) or DeveloperName (record types)

    @property
    def is_error(self) -> bool:
        return self.target is None

    def describe(self) -> str:
        return "error" if self.target is None else f"fallback {self.target}"


@dataclass(frozen=True, slots=True)
class OwnerRule:
    """Owners match V1 -> V2 users by one key, normalised; gaps follow the two policies."""

    match_on: str = "Email"
    normalise: Normalise = "casefold"
    on_inactive: Fallback = Fallback(None)
    on_missing: Fallback = Fallback(None)

    def key(self, value: Any) -> str | None:
        """The comparable form of a match-key value (None for a blank one)."""
        if not isinstance(value, str) or not value.strip():
            return None
        text = value.strip()
        if self.normalise == "exact":
            return text
        text = text.casefold()
        return text.split("@", 1)[0] if self.normalise == "local_part" else text

    @property
    def v1_path(self) -> str:
        """The extract's relationship field holding the V1 owner's key."""
        return f"Owner.{self.match_on}"


@dataclass(frozen=True, slots=True)
class RecordTypeRule:
    """Record types match by DeveloperName; `renamed` maps V1 names that changed in V2."""

    renamed: Mapping[str, str] = field(default_factory=dict)
    on_missing: Fallback = Fallback(None)

    def target_name(self, v1_name: str) -> str:
        return self.renamed.get(v1_name, v1_name)


@dataclass(frozen=True, slots=True)
class UserRef:
    id: str
    username: str
    active: bool


@dataclass(frozen=True, slots=True)
class RecordTypeRef:
    id: str
    sobject: str
    developer_name: str
    active: bool


@dataclass(frozen=True, slots=True)
class ReferenceData:
    """An immutable snapshot of V2's users (by normalised match key and by Username) and record
    types (by object and DeveloperName). A key two active users share is ambiguous: unresolved."""

    users_by_key: Mapping[str, UserRef] = field(default_factory=lambda: MappingProxyType({}))
    users_by_username: Mapping[str, UserRef] = field(default_factory=lambda: MappingProxyType({}))
    record_types: Mapping[tuple[str, str], RecordTypeRef] = field(
        default_factory=lambda: MappingProxyType({})
    )
    ambiguous_keys: frozenset[str] = frozenset()
    loaded_at: float = 0.0

    @classmethod
    def from_rows(
        cls,
        rule: OwnerRule | None,
        users: Iterable[Mapping[str, Any]],
        record_types: Iterable[Mapping[str, Any]],
        loaded_at: float = 0.0,
    ) -> ReferenceData:
        """Index SOQL rows of User and RecordType (active users win a shared key)."""
        by_key: dict[str, UserRef] = {}
        by_username: dict[str, UserRef] = {}
        ambiguous: set[str] = set()
        for row in users:
            user = UserRef(
                str(row["Id"]), str(row.get("Username") or ""), bool(row.get("IsActive"))
            )
            by_username[user.username.casefold()] = user
            key = rule.key(row.get(rule.match_on)) if rule is not None else None
            if key is None:
                continue
            known = by_key.get(key)
            if known is None or (user.active and not known.active):
                by_key[key] = user
            elif user.active and known.active:
                ambiguous.add(key)
        types = {
            (str(r["SobjectType"]), str(r["DeveloperName"])): RecordTypeRef(
                str(r["Id"]), str(r["SobjectType"]), str(r["DeveloperName"]), bool(r["IsActive"])
            )
            for r in record_types
        }
        return cls(
            MappingProxyType(by_key),
            MappingProxyType(by_username),
            MappingProxyType(types),
            frozenset(ambiguous),
            loaded_at,
        )

    def user_by_username(self, username: str) -> UserRef | None:
        return self.users_by_username.get(username.casefold())


Resolution = tuple[str | None, Issue | None, bool]  # (V2 id or None, issue, record ok)


def resolve_owner(
    rule: OwnerRule, ref: ReferenceData, v1_object: str, legacy_id: str | None, owner: Any
) -> Resolution:
    """V2 OwnerId for a V1 record's `Owner` relationship value ({match_on: ...} or None)."""
    raw = owner.get(rule.match_on) if isinstance(owner, Mapping) else None
    key = rule.key(raw)
    user = ref.users_by_key.get(key) if key is not None and key not in ref.ambiguous_keys else None
    if user is not None and user.active:
        return user.id, None, True
    if user is not None:
        gap, policy, why = "inactive", rule.on_inactive, "is inactive in V2"
    else:
        gap, policy = "missing", rule.on_missing
        why = "matches several active V2 users" if key in ref.ambiguous_keys else "has no V2 user"
        if key is None:
            why = f"has no {rule.match_on}"
    label = f"V1 owner {rule.match_on}={raw!r} {why}"
    return _apply(
        policy,
        f"owners.on_{gap}",
        ref.user_by_username,
        (OWNER_FALLBACK, OWNER_UNRESOLVED),
        label,
        v1_object,
        legacy_id,
        "OwnerId",
        raw,
    )


def resolve_record_type(
    rule: RecordTypeRule,
    ref: ReferenceData,
    v1_object: str,
    v2_object: str,
    legacy_id: str | None,
    record_type: Any,
) -> Resolution:
    """V2 RecordTypeId for a V1 `RecordType` relationship value; no V1 record type: omitted
    (V2 applies its default), which needs no rule."""
    raw = record_type.get("DeveloperName") if isinstance(record_type, Mapping) else None
    if not raw:
        return None, None, True
    wanted = rule.target_name(str(raw))
    hit = ref.record_types.get((v2_object, wanted))
    if hit is not None and hit.active:
        return hit.id, None, True
    renamed = f" (renamed {wanted})" if wanted != raw else ""
    why = "is inactive in V2" if hit is not None else f"has no V2 {v2_object} record type"
    label = f"V1 record type {raw!r}{renamed} {why}"

    def lookup(name: str) -> RecordTypeRef | None:
        return ref.record_types.get((v2_object, name))

    return _apply(
        rule.on_missing,
        "record_type.on_missing",
        lookup,
        (RECORD_TYPE_FALLBACK, RECORD_TYPE_UNRESOLVED),
        label,
        v1_object,
        legacy_id,
        "RecordTypeId",
        raw,
    )


def _apply(
    policy: Fallback,
    policy_name: str,
    lookup: Callable[[str], UserRef | RecordTypeRef | None],
    codes: tuple[str, str],
    label: str,
    v1_object: str,
    legacy_id: str | None,
    field_name: str,
    raw: Any,
) -> Resolution:
    """Fallback (warning naming the V1 value) or error (naming the policy that made it one)."""
    fallback_code, error_code = codes
    if policy.target is None:
        message = f"{label}; {policy_name}: error, record rejected"
        return None, Issue(ERROR, v1_object, legacy_id, field_name, error_code, message), False
    target = lookup(policy.target)
    if target is None or not target.active:
        message = (
            f"{label}; {policy_name}: fallback {policy.target!r} is not an active V2 "
            "target either, record rejected"
        )
        return None, Issue(ERROR, v1_object, legacy_id, field_name, error_code, message), False
    message = f"{label}; {policy_name}: fallback {policy.target}"
    return target.id, Issue(WARNING, v1_object, legacy_id, field_name, fallback_code, message), True


# --- parsing (called by spec.parse_mapping) -------------------------------------------------


def parse_owner_rule(raw: Any) -> OwnerRule:
    """`owners:` block. Policies: `error` or `{fallback_user: <V2 Username>}`."""
    where = "owners"
    item = _as_dict(raw, where, {"match_on", "normalise", "on_inactive", "on_missing"})
    match_on = item.get("match_on", "Email")
    if match_on not in MATCH_KEYS:
        raise RuleError(f"{where}.match_on must be one of {', '.join(MATCH_KEYS)}")
    normalise = item.get("normalise", "casefold")
    if normalise not in NORMALISERS:
        raise RuleError(f"{where}.normalise must be one of {', '.join(NORMALISERS)}")
    return OwnerRule(
        match_on=match_on,
        normalise=normalise,
        on_inactive=_fallback(item.get("on_inactive"), f"{where}.on_inactive", "fallback_user"),
        on_missing=_fallback(item.get("on_missing"), f"{where}.on_missing", "fallback_user"),
    )


def parse_record_type_rule(raw: Any, where: str) -> RecordTypeRule:
    """`record_type:` of an object: `renamed: {V1: V2}`, `on_missing: error | {fallback: X}`."""
    where = f"{where}.record_type"
    item = _as_dict(raw, where, {"renamed", "on_missing"})
    renamed = item.get("renamed", {})
    if not isinstance(renamed, dict):
        raise RuleError(f"{where}.renamed must be a mapping of V1 DeveloperName: V2 DeveloperName")
    for key, value in renamed.items():
        if not (_is_name(key) and _is_name(value)):
            raise RuleError(f"{where}.renamed: {key!r}: {value!r} must be DeveloperNames")
    fallback = _fallback(item.get("on_missing"), f"{where}.on_missing", "fallback")
    if fallback.target is not None and not _is_name(fallback.target):
        raise RuleError(f"{where}.on_missing: fallback must be a DeveloperName")
    return RecordTypeRule(renamed=MappingProxyType(dict(renamed)), on_missing=fallback)


def _fallback(raw: Any, where: str, key: str) -> Fallback:
    if raw is None:
        raise RuleError(f"{where} is required: error, or {{{key}: ...}}")
    if raw == "error":
        return Fallback(None)
    item = _as_dict(raw, where, {key})
    target = item.get(key)
    if not isinstance(target, str) or not target.strip():
        raise RuleError(f"{where}: {key} must be a non-empty string")
    return Fallback(target.strip())


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and _NAME_RE.fullmatch(value) is not None


def _as_dict(raw: Any, where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise RuleError(f"{where}: expected a mapping, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise RuleError(
            f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )
    return raw
