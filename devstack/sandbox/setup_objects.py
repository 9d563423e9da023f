"""Setup objects an org exposes about its own configuration, queryable with SOQL:
DuplicateRule (REST /query) and ValidationRule with EntityDefinition (Tooling API /tooling/query).

Why: the worker's preflight warns about duplicate and validation rules of the target org that
would reject records. The rows are built from the org's current configuration (its duplicate
rules, and its record faults of code FIELD_CUSTOM_VALIDATION_EXCEPTION, which stand for custom
validation rules) at query time, into a throw-away store, so the ordinary SOQL evaluator answers
WHERE, ORDER BY, LIMIT and parent paths such as EntityDefinition.QualifiedApiName.

The field-level checks of validation.py (required fields, restricted picklists, lengths, email
format, unique external ids) are field metadata in Salesforce, visible through describe, not
ValidationRule records, so they are not listed here.
"""

from __future__ import annotations

from .duplicates import DuplicateRule
from .faults import RecordFault
from .ids import IdFactory
from .schema import FieldDef, ObjectDef, OrgSchema
from .store import Store

VALIDATION_RULE_CODE = "FIELD_CUSTOM_VALIDATION_EXCEPTION"

#: objects of the REST API's /query and of the Tooling API's /tooling/query (lower-case names)
DATA_OBJECTS = frozenset({"duplicaterule"})
TOOLING_OBJECTS = frozenset({"validationrule", "entitydefinition"})


def _f(name: str, type_: str = "string", **kw: object) -> FieldDef:
    return FieldDef(name, type_, 255 if type_ == "string" else 0, **kw)  # type: ignore[arg-type]


def _schema() -> OrgSchema:
    objects = [
        ObjectDef(
            "DuplicateRule",
            "0Bm",
            {
                f.name: f
                for f in (
                    _f("Id", "id"),
                    _f("DeveloperName"),
                    _f("MasterLabel"),
                    _f("NamespacePrefix"),
                    _f("SobjectType", "picklist"),
                    _f("SobjectSubtype", "picklist"),
                    _f("IsActive", "boolean"),
                )
            },
        ),
        ObjectDef(
            "EntityDefinition",
            "000",
            {
                f.name: f
                for f in (
                    _f("Id", "id"),
                    _f("DurableId"),
                    _f("QualifiedApiName"),
                    _f("DeveloperName"),
                    _f("Label"),
                )
            },
        ),
        ObjectDef(
            "ValidationRule",
            "03d",
            {
                f.name: f
                for f in (
                    _f("Id", "id"),
                    _f("ValidationName"),
                    _f("Active", "boolean"),
                    _f("Description"),
                    _f("ErrorDisplayField"),
                    _f("ErrorMessage"),
                    _f("NamespacePrefix"),
                    # EntityDefinitionId of a standard object is its name ("Contact"), so this
                    # is a string with a relationship rather than an Id-typed reference.
                    _f(
                        "EntityDefinitionId",
                        reference_to="EntityDefinition",
                        relationship_name="EntityDefinition",
                    ),
                )
            },
        ),
    ]
    return OrgSchema("setup", {o.name: o for o in objects})


def _put(store: Store, sobject: str, row: dict) -> None:
    table = store.table(sobject)
    table.rows[row["Id"]] = row
    table.index(row["Id"], row)


def setup_store(
    org_schema: OrgSchema,
    org_code: str,
    duplicate_rules: list[DuplicateRule],
    record_faults: list[RecordFault],
) -> Store:
    """A store holding the org's setup rows (ids are stable for a given configuration)."""
    ids = IdFactory(org_code)
    store = Store(_schema(), ids)
    for obj in org_schema.objects.values():
        _put(
            store,
            "EntityDefinition",
            {
                "Id": obj.name,
                "DurableId": obj.name,
                "QualifiedApiName": obj.name,
                "DeveloperName": obj.name.removesuffix("__c"),
                "Label": obj.label or obj.name,
            },
        )
    for rule in sorted(duplicate_rules, key=lambda r: (r.sobject, r.field)):
        _put(
            store,
            "DuplicateRule",
            {
                "Id": ids.new_id("0Bm"),
                "DeveloperName": rule.developer_name,
                "MasterLabel": rule.developer_name.replace("_", " "),
                "NamespacePrefix": None,
                "SobjectType": rule.sobject,
                "SobjectSubtype": "None",
                "IsActive": True,
            },
        )
    for fault in sorted(record_faults, key=lambda f: f.sobject):
        if fault.code != VALIDATION_RULE_CODE:
            continue  # other injected codes are not what a validation rule produces
        _put(
            store,
            "ValidationRule",
            {
                "Id": ids.new_id("03d"),
                "ValidationName": fault.rule_name,
                "Active": True,
                "Description": f"Sandbox record fault: {fault.rate:.0%} of {fault.sobject} fail",
                "ErrorDisplayField": fault.field,
                "ErrorMessage": fault.message,
                "NamespacePrefix": None,
                "EntityDefinitionId": fault.sobject,
            },
        )
    return store
