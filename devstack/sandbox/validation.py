"""Turns a JSON record body into stored values, with real Salesforce's checks and error codes.

Why: the V2 org is strict (required fields, restricted picklists, lengths, emails, unique external
ids, references by external id) and the migration must see the same errors it will see in
production; the V1 org is loose, so the seeded dirty data is legal there.
"""

from __future__ import annotations

import re
from typing import Literal

from . import ids
from .errors import SfError
from .schema import FieldDef, ObjectDef
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


def prepare(store: Store, obj: ObjectDef, body: dict, mode: Mode, rid: str | None = None) -> dict:
    """Return the values to store for `body`; raise SfError(400, ...) like Salesforce would."""
    if not isinstance(body, dict):
        raise _err("JSON_PARSER_ERROR", "Expected a JSON object for the record body")
    values: dict = {}
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
        if not allowed:
            raise _err(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {f.name}. Please check the security "
                "settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                [f.name],
            )
        values[f.name] = _coerce(store, f, raw)
    _check_required(obj, values, mode)
    _check_unique(store, obj, values, rid)
    if mode == "create":
        for f in obj.fields.values():
            if f.type == "boolean" and values.get(f.name) is None:
                values[f.name] = False
    return values


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
    parent = store.schema.objects[f.reference_to or ""]
    if rid[:3] != parent.key_prefix or store.get(parent.name, rid) is None:
        raise _err("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
    return rid


def _resolve_parent(store: Store, rel: FieldDef, raw: dict | None) -> str | None:
    """`"Account": {"Legacy_Id__c": "..."}` -> the parent's Id, as Salesforce resolves it."""
    if raw is None:
        return None
    parent = store.schema.objects[rel.reference_to or ""]
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
    return found[0]


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
            raise _err(
                "DUPLICATE_VALUE",
                f"duplicate value found: {f.name} duplicates value on record with id: {others[0]}",
            )
