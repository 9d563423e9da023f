"""Turns a JSON record body into stored values, with real Salesforce's checks and error codes.

Why: the V2 org is strict (required fields, restricted picklists, lengths, emails, unique external
ids, references by external id) and the migration must see the same errors it will see in
production; the V1 org is loose, so the seeded dirty data is legal there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from . import files, ids
from .errors import SfError
from .schema import AUDIT_FIELDS, FieldDef, ObjectDef
from .store import Store

Mode = Literal["create", "update"]

# Close to what Salesforce accepts: local@domain.tld, no spaces, one @.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_TEXT = frozenset({"string", "textarea", "picklist", "email", "phone"})


def _err(code: str, message: str, fields: list[str] | None = None) -> SfError:
    return SfError(400, code, message, fields)


@dataclass(frozen=True)
class OrgPolicy:
    """Org-wide permissions that change what a save accepts."""

    #: "Update Records with Inactive Owners" (Setup > User Interface); off: INACTIVE_OWNER_OR_USER
    allow_inactive_owners: bool = False
    #: sandbox only, no Salesforce setting: accept an Account.ParentId that closes a loop
    #: (A -> B -> A), so tests can build the cyclic data a real org refuses
    allow_hierarchy_loops: bool = False


def prepare(
    store: Store,
    obj: ObjectDef,
    body: dict,
    mode: Mode,
    rid: str | None = None,
    *,
    policy: OrgPolicy = OrgPolicy(),  # frozen: one shared default is safe
    audit_fields: bool = True,
) -> dict:
    """Return the values to store for `body`; raise SfError(400, ...) like Salesforce would.

    `audit_fields=False`: the save is an upsert, where CreatedDate, CreatedById, LastModifiedDate
    and LastModifiedById are refused even when the org grants "Set Audit Fields upon Record
    Creation" and the upsert inserts (Help 000176484: "this only works for INSERT, not UPSERT").
    """
    if not isinstance(body, dict):
        raise _err("JSON_PARSER_ERROR", "Expected a JSON object for the record body")
    values: dict = {}
    refused: list[str] = []
    for key, raw in body.items():
        if key == "attributes":
            continue
        rel = obj.parent_by_lower.get(key.lower())
        if rel is not None and (isinstance(raw, dict) or raw is None):
            values[rel.name] = _resolve_parent(store, rel, raw)
            continue
        f = obj.field(key)
        if f is None:
            raise _err("INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}")
        allowed = f.createable if mode == "create" else f.updateable
        if not allowed or (not audit_fields and f.name in AUDIT_FIELDS):
            refused.append(f.name)
            continue
        values[f.name] = _coerce(store, f, raw)
    if refused:
        raise unwritable(refused)
    _check_owner_and_record_type(store, obj, values, policy)
    if not policy.allow_hierarchy_loops:
        _check_hierarchy(store, obj, values, rid)
    _check_required(obj, values, mode)
    _check_unique(store, obj, values, rid)
    if mode == "create":
        for f in obj.fields.values():
            if f.type == "boolean" and values.get(f.name) is None:
                values[f.name] = False
            elif f.default is not None and values.get(f.name) is None:
                values[f.name] = f.default
    return values


def unwritable(names: list[str]) -> SfError:
    """INVALID_FIELD_FOR_INSERT_UPDATE naming every field the save may not write.

    The message is the one Salesforce sends for a field the user may not create or update (the
    same for audit fields on an update or upsert); with several fields they are listed in body
    order, comma-separated, in the message and in `fields` (the listing of several is modelled
    on messages seen in the field, not confirmed from the docs).
    """
    return _err(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"Unable to create/update fields: {', '.join(names)}. Please check the security "
        "settings of this field and verify that it is read/write for your "
        "profile or permission set.",
        names,
    )


def _coerce(store: Store, f: FieldDef, raw: object) -> object:
    if raw is None or raw == "":
        return False if f.type == "boolean" else None
    if f.type == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise _err(
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of boolean from {type(raw).__name__} value "
            f"{raw!r} for field {f.name}",
            [f.name],
        )
    if f.type == "reference":
        return _check_reference(store, f, raw)
    if f.type == "datetime":
        return _check_datetime(f, raw)
    if f.type == "date":
        return _check_date(f, raw)
    if f.type == "base64":
        # bytes on disk already (a multipart upload, the seed), else base64 text of a JSON body
        return raw if isinstance(raw, files.Blob) else files.decode_base64(raw)
    if f.type in _TEXT:
        if isinstance(raw, dict | list):
            raise _err(
                "JSON_PARSER_ERROR",
                f"Cannot deserialize instance of string from object for field {f.name}",
                [f.name],
            )
        value = raw if isinstance(raw, str) else _text_of(raw)
        if len(value) > f.length:
            raise _err(
                "STRING_TOO_LONG",
                f"{f.name}: data value too large: {value[:40]}... (max length={f.length})",
                [f.name],
            )
        if f.type == "email" and not _EMAIL.match(value):
            raise _err(
                "INVALID_EMAIL_ADDRESS", f"{f.name}: invalid email address: {value}", [f.name]
            )
        if f.restricted and value not in f.picklist:
            raise _err(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{f.name}: bad value for restricted picklist field: {value}",
                [f.name],
            )
        return value
    return raw


def _text_of(raw: object) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def _check_reference(store: Store, f: FieldDef, raw: object) -> str:
    rid = ids.normalize(raw)
    if rid is None:
        raise _err("MALFORMED_ID", f"{f.name}: id value of incorrect type: {raw}", [f.name])
    if f.polymorphic:
        return _check_polymorphic(store, f, rid)
    parent = store.schema.objects[f.reference_to or ""]
    if rid[:3] != parent.key_prefix or store.get(parent.name, rid) is None:
        raise _err("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
    return rid


def _check_polymorphic(store: Store, f: FieldDef, rid: str) -> str:
    """A polymorphic reference (Task.WhatId, WhoId) takes an id of one of its types only.

    An id of another type fails with FIELD_INTEGRITY_EXCEPTION "<field label>: id value of
    incorrect type: <id>" (e.g. "Related To ID: id value of incorrect type: 003..."), as real
    orgs answer; the text is quoted from error reports, not from Salesforce's docs. An id of an
    allowed type that names no record fails with INVALID_CROSS_REFERENCE_KEY, like any lookup.
    """
    obj = store.schema.by_prefix.get(rid[:3])
    if obj is None or obj.name not in f.targets:
        raise _err(
            "FIELD_INTEGRITY_EXCEPTION",
            f"{f.label or f.name}: id value of incorrect type: {rid}",
            [f.name],
        )
    if store.get(obj.name, rid) is None:
        raise _err("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
    return rid


def _check_date(f: FieldDef, raw: object) -> str:
    """A date field takes YYYY-MM-DD (the REST API's date format) and stores it as such."""
    text = str(raw)
    if len(text) == 10:
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    raise _err(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of date from VALUE_STRING value {raw} for field {f.name}",
        [f.name],
    )


def _check_datetime(f: FieldDef, raw: object) -> str:
    """ISO 8601 with a zone (what the REST API takes), stored in Salesforce's wire format."""
    try:
        parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise _err(
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of datetime from VALUE_STRING value {raw} "
            f"for field {f.name}",
            [f.name],
        )
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}+0000"


#: self-references that form a hierarchy (object, field): a record can't be its own ancestor
HIERARCHIES = frozenset({("Account", "ParentId")})


def _check_hierarchy(store: Store, obj: ObjectDef, values: dict, rid: str | None) -> None:
    """Refuse a parent that is the record itself or one of its descendants (a loop A -> B -> A).

    Salesforce refuses a circular account hierarchy (its Account Hierarchy, sharing and roll-ups
    walk the parent chain); the status code and message it sends could not be confirmed from
    its docs: FIELD_INTEGRITY_EXCEPTION on ParentId is this sandbox's choice.
    """
    for sobject, fname in HIERARCHIES:
        parent = values.get(fname)
        if sobject != obj.name or parent is None or rid is None:
            continue  # a record being created has no descendants yet
        seen: set[str] = set()
        cursor: str | None = parent
        while cursor is not None and cursor not in seen:
            if cursor == rid:
                label = obj.fields[fname].label or fname
                raise _err(
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"{label}: a record can't be its own parent or the parent of one of its "
                    f"ancestors (hierarchy loop through {parent})",
                    [fname],
                )
            seen.add(cursor)
            cursor = (store.get(sobject, cursor) or {}).get(fname)


def _check_owner_and_record_type(
    store: Store, obj: ObjectDef, values: dict, policy: OrgPolicy
) -> None:
    """An owner must be an active user (unless the org allows inactive owners); a record type
    must be active and belong to this object.

    Codes as the SOAP/REST StatusCode list documents them: INACTIVE_OWNER_OR_USER and
    INVALID_CROSS_REFERENCE_KEY. Not confirmed from the docs (modelled on messages seen in the
    field): the exact message texts, and that `fields` names OwnerId/RecordTypeId (real orgs
    often answer INACTIVE_OWNER_OR_USER with an empty `fields`).
    """
    owner = values.get("OwnerId")
    if owner is not None and not policy.allow_inactive_owners:
        user = store.get("User", owner) or {}
        if not user.get("IsActive"):
            raise _err(
                "INACTIVE_OWNER_OR_USER",
                f"operation performed with inactive user [{owner}] as owner of {obj.name}",
                ["OwnerId"],
            )
    record_type = values.get("RecordTypeId")
    if record_type is not None:
        row = store.get("RecordType", record_type) or {}
        if row.get("SobjectType") != obj.name or not row.get("IsActive"):
            raise _err(
                "INVALID_CROSS_REFERENCE_KEY",
                f"Record Type ID: this ID value isn't valid for the user: {record_type}",
                ["RecordTypeId"],
            )


def _resolve_parent(store: Store, rel: FieldDef, raw: dict | None) -> str | None:
    """`"Account": {"Legacy_Id__c": "..."}` -> the parent's Id, as Salesforce resolves it.

    A polymorphic relationship names the target's type: `"What": {"attributes": {"type":
    "Case"}, "Legacy_Id__c": "500..."}`; the record found must be of a type the field allows
    (else FIELD_INTEGRITY_EXCEPTION, as for an Id of that type). Not confirmed from Salesforce's
    docs: the error of a polymorphic relationship without attributes.type (here INVALID_FIELD)
    and of a type the org does not have (here INVALID_TYPE).
    """
    if raw is None:
        return None
    parent = store.schema.objects[rel.reference_to or ""]
    if rel.polymorphic:
        parent = _polymorphic_target(store, rel, raw)
    keys = [k for k in raw if k != "attributes"]
    if len(keys) != 1:
        raise _err(
            "INVALID_FIELD",
            f"The relationship {rel.relationship_name} must name exactly one external ID field",
        )
    f = parent.field(keys[0])
    if f is None or not (f.external_id or f.name == "Id"):
        raise _err(
            "INVALID_FIELD",
            f"Field name provided, {keys[0]} is not an External ID or "
            f"indexed field for {parent.name}",
        )
    value = raw[keys[0]]
    if f.name == "Id":
        value = ids.normalize(value) or value
    found = store.find_by(parent.name, f.name, value)
    if not found:
        raise _err(
            "INVALID_FIELD",
            f"Foreign key external ID: {value} not found for field "
            f"{f.name} in entity {parent.name}",
        )
    if len(found) > 1:
        raise _err(
            "INVALID_FIELD",
            f"Foreign key external ID: {value} found on multiple records "
            f"for field {f.name} in entity {parent.name}",
        )
    if rel.polymorphic:
        return _check_polymorphic(store, rel, found[0])
    return found[0]


def _polymorphic_target(store: Store, rel: FieldDef, raw: dict) -> ObjectDef:
    attrs = raw.get("attributes")
    name = attrs.get("type") if isinstance(attrs, dict) else None
    if not isinstance(name, str) or not name:
        raise _err(
            "INVALID_FIELD",
            f"The relationship {rel.relationship_name} is polymorphic: name the referenced "
            'object in "attributes": {"type": ...} (one of '
            f"{', '.join(rel.targets)})",
            [rel.name],
        )
    target = store.schema.get(name)
    if target is None:
        raise _err("INVALID_TYPE", f"sObject type '{name}' is not supported.", [rel.name])
    return target


def _check_required(obj: ObjectDef, values: dict, mode: Mode) -> None:
    if mode == "create":
        missing = [f.name for f in obj.fields.values() if f.required and values.get(f.name) is None]
    else:
        missing = [name for name, v in values.items() if v is None and obj.fields[name].required]
    if missing:
        raise _err(
            "REQUIRED_FIELD_MISSING",
            f"Required fields are missing: [{', '.join(missing)}]",
            missing,
        )


def _check_unique(store: Store, obj: ObjectDef, values: dict, rid: str | None) -> None:
    for f in obj.fields.values():
        value = values.get(f.name)
        if not f.unique or value is None:
            continue
        others = [o for o in store.find_by(obj.name, f.name, value) if o != rid]
        if others:
            raise duplicate_value(f.name, others[0])


def duplicate_value(field: str, other: str) -> SfError:
    """A unique field's value is taken (by a live record: one in the recycle bin does not count).

    Text and shape as real orgs answer (e.g. "duplicate value found: Legacy_Id__c duplicates
    value on record with id: 001U000001c83gK"): the other record's 15-character id, and an
    empty `fields`. Not in Salesforce's docs: both come from error bodies quoted in public
    material (vendor KBs, client-library tests); that a record in the recycle bin does not hold
    its unique value is assumed, not confirmed.
    """
    return _err(
        "DUPLICATE_VALUE",
        f"duplicate value found: {field} duplicates value on record with id: {other[:15]}",
    )
