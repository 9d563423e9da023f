"""Describe metadata of the two orgs, exactly as docs/orgs.md lists it.

Why: the mapping is validated against this metadata at start-up, and the validator, the SOQL
evaluator and the describe endpoint all read the same definitions, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

API_VERSION = "59.0"

# Field types whose values are text (length-checked, compared case-insensitively in SOQL).
TEXT_TYPES = frozenset({"string", "textarea", "picklist", "email", "phone", "id", "reference"})


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: str | None = None
    relationship_name: str | None = None
    child_relationship: str | None = None
    defaulted_on_create: bool = False
    label: str = ""
    #: more objects a reference may point at (Task.WhatId: Account and Case)
    also_to: tuple[str, ...] = ()
    #: a polymorphic reference (describe's polymorphicForeignKey): a value of a type it does not
    #: allow fails with FIELD_INTEGRITY_EXCEPTION, and its relationship (What, Who) resolves to
    #: Salesforce's "Name" object in SOQL (What.Type, What.Name, What.Id)
    polymorphic: bool = False
    #: the value a create gets when the body leaves the field out (defaultedOnCreate)
    default: object = None

    @property
    def targets(self) -> tuple[str, ...]:
        """The objects a reference may point at (describe's referenceTo)."""
        return (self.reference_to, *self.also_to) if self.reference_to else ()

    @property
    def required(self) -> bool:
        """Required on create: not nillable, createable, and nothing fills it in for you."""
        return not self.nillable and self.createable and not self.defaulted_on_create

    def describe(self) -> dict:
        return {
            "name": self.name,
            "label": self.label or self.name.replace("__c", "").replace("_", " "),
            "type": self.type,
            "length": self.length,
            "externalId": self.external_id,
            "unique": self.unique,
            "nillable": self.nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "defaultedOnCreate": self.defaulted_on_create,
            "custom": self.name.endswith("__c"),
            "idLookup": self.name == "Id" or self.external_id,
            "picklistValues": [
                {"value": v, "label": v, "active": True, "defaultValue": False}
                for v in self.picklist
            ],
            "restrictedPicklist": self.restricted,
            "referenceTo": list(self.targets),
            "relationshipName": self.relationship_name,
            "polymorphicForeignKey": self.polymorphic,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
        }


_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "datetime": "xsd:dateTime",
    "date": "xsd:date",
    "int": "xsd:int",
    "base64": "xsd:base64Binary",
}


#: Child relationships whose children a parent's delete takes with it, as Salesforce's standard
#: Account relationships do (deleting an Account deletes its Contacts and Cases). Custom lookups
#: default to "clear the value of this field". Which standard relationships cascade could not be
#: confirmed for every object from public docs; these two are the ones Help describes.
CASCADE_DELETE = frozenset(
    {
        ("Contact", "AccountId"),
        ("Case", "AccountId"),
        # a record's activities and a case's e-mails go with it (Help: deleting a record deletes
        # its related activities; an EmailMessage belongs to its Case)
        ("Task", "WhatId"),
        ("EmailMessage", "ParentId"),
        # a document's versions and links go with it; a record's links go with the record
        # (its documents stay: ContentDocument Help, "Delete files")
        ("ContentVersion", "ContentDocumentId"),
        ("ContentDocumentLink", "ContentDocumentId"),
        ("ContentDocumentLink", "LinkedEntityId"),
    }
)


@dataclass(frozen=True)
class ChildRelationship:
    child_sobject: str
    field: str
    relationship_name: str

    @property
    def cascade_delete(self) -> bool:
        return (self.child_sobject, self.field) in CASCADE_DELETE

    def describe(self) -> dict:
        return {
            "childSObject": self.child_sobject,
            "field": self.field,
            "relationshipName": self.relationship_name,
            "cascadeDelete": self.cascade_delete,
            "restrictedDelete": False,
        }


@dataclass
class ObjectDef:
    name: str
    key_prefix: str
    fields: dict[str, FieldDef]
    child_relationships: list[ChildRelationship] = field(default_factory=list)
    label: str = ""
    createable: bool = True
    updateable: bool = True
    deletable: bool = True

    def __post_init__(self) -> None:
        self.by_lower = {name.lower(): f for name, f in self.fields.items()}
        self.parent_by_lower = {
            f.relationship_name.lower(): f for f in self.fields.values() if f.relationship_name
        }
        #: base64 fields (ContentVersion.VersionData): they read as the URL of their bytes
        self.blob_fields = frozenset(n for n, f in self.fields.items() if f.type == "base64")

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def field(self, name: str) -> FieldDef | None:
        return self.by_lower.get(name.lower())

    def child(self, relationship_name: str) -> ChildRelationship | None:
        low = relationship_name.lower()
        for rel in self.child_relationships:
            if rel.relationship_name.lower() == low:
                return rel
        return None

    def describe(self) -> dict:
        return {
            **self.summary(),
            "fields": [f.describe() for f in self.fields.values()],
            "childRelationships": [c.describe() for c in self.child_relationships],
            "recordTypeInfos": [],
        }

    def summary(self) -> dict:
        base = f"/services/data/v{API_VERSION}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label or self.name,
            "keyPrefix": self.key_prefix,
            "custom": self.custom,
            "queryable": True,
            "createable": self.createable,
            "updateable": self.updateable,
            "deletable": self.deletable,
            "urls": {
                "sobject": base,
                "describe": f"{base}/describe",
                "rowTemplate": f"{base}/{{ID}}",
            },
        }


@dataclass
class OrgSchema:
    org: str
    objects: dict[str, ObjectDef]

    def __post_init__(self) -> None:
        self.by_lower = {name.lower(): o for name, o in self.objects.items()}
        self.by_prefix = {o.key_prefix: o for o in self.objects.values()}
        for obj in self.objects.values():
            for f in obj.fields.values():
                if not f.child_relationship:
                    continue
                for target in f.targets:
                    parent = self.objects.get(target)
                    if parent is not None:
                        parent.child_relationships.append(
                            ChildRelationship(obj.name, f.name, f.child_relationship)
                        )

    def get(self, name: str) -> ObjectDef | None:
        return self.by_lower.get(name.lower())


#: the audit fields of "Set Audit Fields upon Record Creation" (Help 000176484: "CreatedById,
#: CreatedDate, LastModifiedById, LastModifiedDate"): settable on insert where the org grants it,
#: never on update or upsert
AUDIT_FIELDS = ("CreatedById", "CreatedDate", "LastModifiedById", "LastModifiedDate")
#: the audit fields that reference a User
AUDIT_REFERENCES = frozenset({"CreatedById", "LastModifiedById"})
#: every field the platform maintains itself (Id, the audit fields, SystemModstamp, IsDeleted)
SYSTEM_FIELDS = frozenset({"Id", *AUDIT_FIELDS, "SystemModstamp", "IsDeleted"})


def _system_fields() -> list[FieldDef]:
    return [FieldDef("Id", "id", 18, nillable=False, createable=False, updateable=False)]


def _audit_fields(set_audit_fields: bool = False) -> list[FieldDef]:
    """The system fields every object has ("System Fields", SOAP API Developer Guide): the four
    audit fields, SystemModstamp and IsDeleted, all "Defaulted on create" and filterable.

    The audit fields are createable (never updateable) only where the org grants "Set Audit
    Fields upon Record Creation" to the API user; describe says so, as Salesforce's does.
    SystemModstamp is never createable ("the only audit field you can't set a value for") and
    IsDeleted is set by deleting (the record goes to the recycle bin).
    """
    ro = {"nillable": False, "createable": False, "updateable": False, "defaulted_on_create": True}
    audit = {**ro, "createable": set_audit_fields}
    return [
        FieldDef(
            "CreatedById",
            "reference",
            18,
            reference_to="User",
            relationship_name="CreatedBy",
            label="Created By ID",
            **audit,  # type: ignore[arg-type]
        ),
        FieldDef("CreatedDate", "datetime", label="Created Date", **audit),  # type: ignore[arg-type]
        FieldDef(
            "LastModifiedById",
            "reference",
            18,
            reference_to="User",
            relationship_name="LastModifiedBy",
            label="Last Modified By ID",
            **audit,  # type: ignore[arg-type]
        ),
        FieldDef("LastModifiedDate", "datetime", label="Last Modified Date", **audit),  # type: ignore[arg-type]
        FieldDef("SystemModstamp", "datetime", label="System Modstamp", **ro),  # type: ignore[arg-type]
        FieldDef("IsDeleted", "boolean", label="Deleted", **ro),  # type: ignore[arg-type]
    ]


def _obj(
    name: str,
    prefix: str,
    fields: list[FieldDef],
    set_audit_fields: bool = False,
    **flags: bool,
) -> ObjectDef:
    all_fields = [*_system_fields(), *fields, *_audit_fields(set_audit_fields)]
    return ObjectDef(name, prefix, {f.name: f for f in all_fields}, **flags)


def _flags(obj: ObjectDef) -> dict[str, bool]:
    return {"createable": obj.createable, "updateable": obj.updateable, "deletable": obj.deletable}


def _owner() -> FieldDef:
    """OwnerId: every migrated object has one; Salesforce fills in the running user when absent."""
    return FieldDef(
        "OwnerId",
        "reference",
        18,
        nillable=False,
        defaulted_on_create=True,
        reference_to="User",
        relationship_name="Owner",
    )


def _record_type() -> FieldDef:
    """RecordTypeId: absent means the default record type (here: none)."""
    return FieldDef(
        "RecordTypeId", "reference", 18, reference_to="RecordType", relationship_name="RecordType"
    )


def _reference_objects() -> list[ObjectDef]:
    """User and RecordType, queryable in both orgs (read-only reference data for the API)."""
    ro = {"createable": False, "updateable": False}
    user = _obj(
        "User",
        "005",
        [
            _s("Username", 80, nillable=False, unique=True, **ro),
            _s("Email", 128, type="email", nillable=False, **ro),
            _s("FederationIdentifier", 512, **ro),
            FieldDef("IsActive", "boolean", 0, nillable=False, defaulted_on_create=True, **ro),  # type: ignore[arg-type]
            _s("FirstName", 40, **ro),
            _s("LastName", 80, nillable=False, **ro),
            _s("Name", 121, **ro),
        ],
    )
    record_type = _obj(
        "RecordType",
        "012",
        [
            _s("DeveloperName", 80, nillable=False, **ro),
            _s("Name", 80, nillable=False, **ro),
            _s("SobjectType", 40, type="picklist", nillable=False, **ro),
            FieldDef("IsActive", "boolean", 0, nillable=False, defaulted_on_create=True, **ro),  # type: ignore[arg-type]
        ],
    )
    return [user, record_type]


def _s(name: str, length: int, **kw: object) -> FieldDef:
    return FieldDef(name, kw.pop("type", "string"), length, **kw)  # type: ignore[arg-type]


def _pick(name: str, values: tuple[str, ...], restricted: bool) -> FieldDef:
    return FieldDef(name, "picklist", 255, picklist=values, restricted=restricted)


def _ref(name: str, to: str, rel: str | None, child: str, **kw: object) -> FieldDef:
    return FieldDef(
        name,
        "reference",
        18,
        reference_to=to,
        relationship_name=rel,
        child_relationship=child,
        **kw,
    )  # type: ignore[arg-type]


def _bool(name: str) -> FieldDef:
    return FieldDef(name, "boolean", 0, nillable=False, defaulted_on_create=True)


def _billing() -> list[FieldDef]:
    return [
        _s("BillingStreet", 255, type="textarea"),
        _s("BillingCity", 40),
        _s("BillingPostalCode", 20),
        _s("BillingCountry", 80),
    ]


def _parent_account() -> FieldDef:
    """Account.ParentId, the account hierarchy ("Parent Account": a business and its sites)."""
    return _ref("ParentId", "Account", "Parent", "ChildAccounts", label="Parent Account ID")


def _legacy_id() -> FieldDef:
    return _s("Legacy_Id__c", 18, external_id=True, unique=True)


CASE_STATUS = ("New", "Working", "Escalated", "Closed")
CASE_PRIORITY = ("High", "Medium", "Low")
CASE_ORIGIN = ("Phone", "Email", "Web")
FUEL = ("Electricity", "Gas")


def v1_schema(set_audit_fields: bool = False) -> OrgSchema:
    """The legacy org: loosely validated, no external ids."""
    return OrgSchema(
        "v1",
        {
            o.name: o
            for o in _with_reference(
                [
                    _obj(
                        "Account",
                        "001",
                        [
                            _s("Name", 255, nillable=False),
                            _s("Phone", 40),
                            _parent_account(),
                            *_billing(),
                            _s("Customer_Number__c", 20),
                            _pick(
                                "Account_Status__c", ("Active", "Closed", "Debt"), restricted=False
                            ),
                            _s("Tariff__c", 50),
                        ],
                    ),
                    _obj(
                        "Contact",
                        "003",
                        [
                            _ref("AccountId", "Account", "Account", "Contacts"),
                            _s("FirstName", 40),
                            _s("LastName", 80),
                            _s("Email", 80),
                            _s("Phone", 40),
                            _bool("Is_Primary__c"),
                        ],
                    ),
                    _obj(
                        "Case",
                        "500",
                        [
                            _ref("AccountId", "Account", "Account", "Cases"),
                            _ref("ContactId", "Contact", "Contact", "Cases"),
                            _s("Subject", 255),
                            _s("Description", 32000, type="textarea"),
                            _pick("Status", CASE_STATUS, False),
                            _pick("Priority", CASE_PRIORITY, False),
                            _pick("Origin", CASE_ORIGIN, False),
                        ],
                    ),
                    _obj(
                        "Meter__c",
                        "a0A",
                        [
                            _s("Name", 80),
                            _ref(
                                "Account__c", "Account", "Account__r", "Meters__r", nillable=False
                            ),
                            _s("MPAN__c", 21),
                            _pick("Fuel_Type__c", FUEL, False),
                            _s("Serial_Number__c", 30),
                        ],
                    ),
                    *_history_objects(v2=False),
                    *_file_objects(v2=False),
                ],
                set_audit_fields,
            )
        },
    )


def v2_schema(set_audit_fields: bool = True) -> OrgSchema:
    """The new org: strict validation and a unique external id Legacy_Id__c on every object."""
    return OrgSchema(
        "v2",
        {
            o.name: o
            for o in _with_reference(
                [
                    _obj(
                        "Account",
                        "001",
                        [
                            _s("Name", 255, nillable=False),
                            _s("Phone", 40, type="phone"),
                            _parent_account(),
                            *_billing(),
                            _s("Customer_Number__c", 20),
                            _pick("Status__c", ("Active", "Closed", "In_Arrears"), restricted=True),
                            _s("Tariff_Code__c", 50),
                            _legacy_id(),
                        ],
                    ),
                    _obj(
                        "Contact",
                        "003",
                        [
                            _ref("AccountId", "Account", "Account", "Contacts"),
                            _s("FirstName", 40),
                            _s("LastName", 80, nillable=False),
                            _s("Email", 80, type="email"),
                            _s("Phone", 40, type="phone"),
                            _bool("Primary__c"),
                            _legacy_id(),
                        ],
                    ),
                    _obj(
                        "Case",
                        "500",
                        [
                            _ref("AccountId", "Account", "Account", "Cases"),
                            _ref("ContactId", "Contact", "Contact", "Cases"),
                            _s("Subject", 255),
                            _s("Description", 4000, type="textarea"),
                            _pick("Status", CASE_STATUS, True),
                            _pick("Priority", CASE_PRIORITY, True),
                            _pick("Origin", CASE_ORIGIN, True),
                            _legacy_id(),
                        ],
                    ),
                    _obj(
                        "Meter_Point__c",
                        "a0B",
                        [
                            _s("Name", 80),
                            _ref(
                                "Account__c",
                                "Account",
                                "Account__r",
                                "Meter_Points__r",
                                nillable=False,
                            ),
                            _s("MPAN__c", 21, nillable=False),
                            _pick("Fuel__c", FUEL, True),
                            _s("Serial__c", 30),
                            _legacy_id(),
                        ],
                    ),
                    *_history_objects(v2=True),
                    *_file_objects(v2=True),
                ],
                set_audit_fields,
            )
        },
    )


def _with_reference(objects: list[ObjectDef], set_audit_fields: bool) -> list[ObjectDef]:
    """The migrated objects with OwnerId (all), RecordTypeId (Account, Case) and the audit fields
    createable as the org grants it, then the User and RecordType objects they point at."""
    out = []
    for obj in objects:
        extra = [_owner(), *([_record_type()] if obj.name in RECORD_TYPE_OBJECTS else [])]
        own = [f for f in obj.fields.values() if f.name not in SYSTEM_FIELDS]
        if obj.name in NO_OWNER_OBJECTS:
            extra = []
        out.append(_obj(obj.name, obj.key_prefix, [*own, *extra], set_audit_fields, **_flags(obj)))
    return [*out, *_reference_objects()]


#: objects whose records carry a record type in both orgs
RECORD_TYPE_OBJECTS = frozenset({"Account", "Case"})
#: objects without an OwnerId (an EmailMessage belongs to its parent record, a link to its
#: document) or with a read-only one (ContentDocument: its first version's owner)
NO_OWNER_OBJECTS = frozenset({"EmailMessage", "ContentDocumentLink", "ContentDocument"})
#: what a file may be linked to and published first on (real orgs: nearly any record)
LINKABLE = ("Account", "Case", "Contact", "User")


def _file_objects(v2: bool) -> list[ObjectDef]:
    """ContentDocument, ContentVersion and ContentDocumentLink (files.py has the behaviour).

    V2 has Legacy_Id__c on ContentVersion (a custom field a real org needs created on
    ContentVersion); ContentDocument and ContentDocumentLink take no custom fields.
    """
    ro = {"createable": False, "updateable": False}
    once = {"updateable": False}  # set on create, then read-only
    legacy = [_legacy_id()] if v2 else []
    document = _obj(
        "ContentDocument",
        "069",
        [
            _s("Title", 255, nillable=False, **ro),
            FieldDef(
                "OwnerId",
                "reference",
                18,
                reference_to="User",
                relationship_name="Owner",
                **ro,  # type: ignore[arg-type]
            ),
            FieldDef(
                "LatestPublishedVersionId",
                "reference",
                18,
                reference_to="ContentVersion",
                relationship_name="LatestPublishedVersion",
                **ro,  # type: ignore[arg-type]
            ),
            _s("FileExtension", 40, **ro),
            _s("FileType", 20, **ro),
            FieldDef("ContentSize", "int", 0, **ro),  # type: ignore[arg-type]
        ],
        createable=False,
    )
    version = _obj(
        "ContentVersion",
        "068",
        [
            _s("Title", 255, nillable=False, defaulted_on_create=True),
            _s("Description", 1000, type="textarea"),
            _s("PathOnClient", 500, nillable=False, **once),
            FieldDef("VersionData", "base64", 0, nillable=False, **once),  # type: ignore[arg-type]
            _ref(
                "ContentDocumentId",
                "ContentDocument",
                "ContentDocument",
                "ContentVersions",
                **once,
            ),
            _ref(
                "FirstPublishLocationId",
                LINKABLE[0],
                "FirstPublishLocation",
                "",
                also_to=LINKABLE[1:],
                polymorphic=True,
                label="First Publish Location ID",
                **once,
            ),
            _s("Checksum", 50, **ro),
            FieldDef("ContentSize", "int", 0, **ro),  # type: ignore[arg-type]
            _s("FileExtension", 40, **ro),
            _s("FileType", 20, **ro),
            _s("VersionNumber", 20, **ro),
            FieldDef("IsLatest", "boolean", 0, nillable=False, defaulted_on_create=True, **ro),  # type: ignore[arg-type]
            FieldDef(
                "ContentLocation",
                "picklist",
                255,
                picklist=("S", "E", "L"),
                restricted=True,
                defaulted_on_create=True,
                **once,  # type: ignore[arg-type]
            ),
            *legacy,
        ],
        deletable=False,
    )
    link = _obj(
        "ContentDocumentLink",
        "06A",
        [
            _ref(
                "ContentDocumentId",
                "ContentDocument",
                "ContentDocument",
                "ContentDocumentLinks",
                nillable=False,
                **once,
            ),
            _ref(
                "LinkedEntityId",
                LINKABLE[0],
                "LinkedEntity",
                "ContentDocumentLinks",
                also_to=LINKABLE[1:],
                polymorphic=True,
                label="Linked Entity ID",
                nillable=False,
                **once,
            ),
            FieldDef(
                "ShareType",
                "picklist",
                40,
                picklist=("V", "C", "I"),
                restricted=True,
                nillable=False,
                defaulted_on_create=True,
                default="V",
            ),
            FieldDef(
                "Visibility",
                "picklist",
                40,
                picklist=("AllUsers", "InternalUsers", "SharedUsers"),
                restricted=True,
                defaulted_on_create=True,
                default="AllUsers",
            ),
        ],
    )
    return [document, version, link]


TASK_STATUS = ("Not Started", "In Progress", "Completed")
TASK_PRIORITY = ("High", "Normal", "Low")
#: EmailMessage.Status as Salesforce stores it: 0 New, 1 Read, 2 Replied, 3 Sent, 4 Forwarded,
#: 5 Draft
EMAIL_STATUS = ("0", "1", "2", "3", "4", "5")


def _history_objects(v2: bool) -> list[ObjectDef]:
    """Task and EmailMessage, the same standard fields in both orgs; V2 restricts the picklists
    and adds Legacy_Id__c (custom fields on activities and e-mails are allowed in real orgs).

    Task.WhatId is polymorphic (Account or Case, in V1 also Meter__c; real orgs allow every
    object with activities enabled) and so
    is WhoId (Contact or Lead in real orgs; this sandbox has no Lead object, so Contact only).
    Their labels are the ones Salesforce puts in its errors ("Related To ID", "Name ID").
    """
    legacy = [_legacy_id()] if v2 else []
    task = _obj(
        "Task",
        "00T",
        [
            _s("Subject", 255),
            FieldDef(
                "Status",
                "picklist",
                255,
                picklist=TASK_STATUS,
                restricted=v2,
                nillable=False,
                defaulted_on_create=True,
                default="Not Started",
            ),
            FieldDef(
                "Priority",
                "picklist",
                255,
                picklist=TASK_PRIORITY,
                restricted=v2,
                nillable=False,
                defaulted_on_create=True,
                default="Normal",
            ),
            FieldDef("ActivityDate", "date", 0, label="Due Date Only"),
            _s("Description", 32000, type="textarea"),
            _ref(
                "WhatId",
                "Account",
                "What",
                "Tasks",
                # the legacy org has activities enabled on its meters, V2 not on Meter_Point__c:
                # a V1 task on a meter has no allowed WhatId type in V2 (not seeded: tests
                # create one through the V1 API)
                also_to=("Case",) if v2 else ("Case", "Meter__c"),
                polymorphic=True,
                label="Related To ID",
            ),
            _ref("WhoId", "Contact", "Who", "Tasks", polymorphic=True, label="Name ID"),
            *legacy,
        ],
    )
    email = _obj(
        "EmailMessage",
        "02s",
        [
            _ref("ParentId", "Case", "Parent", "EmailMessages", label="Case ID"),
            _s("Subject", 3000),
            _s("HtmlBody", 131072, type="textarea"),
            _s("TextBody", 131072, type="textarea"),
            _s("FromAddress", 255, type="email"),
            _s("FromName", 1000),
            _s("ToAddress", 4000),
            _s("CcAddress", 4000),
            FieldDef("MessageDate", "datetime", 0),
            _bool("Incoming"),
            FieldDef(
                "Status", "picklist", 255, picklist=EMAIL_STATUS, restricted=v2, nillable=False
            ),
            *legacy,
        ],
    )
    return [task, email]


def schema_for(
    org: str, extra_external_ids: tuple[str, ...] = (), set_audit_fields: bool | None = None
) -> OrgSchema:
    """Return the org's schema; `extra_external_ids` ("Object.Field") marks more fields as
    non-unique external ids (a test hook: real orgs may have those, and they give 300s).
    `set_audit_fields`: the org grants "Set Audit Fields upon Record Creation" (default: V2 does,
    V1 does not)."""
    grant = org == "v2" if set_audit_fields is None else set_audit_fields
    base = {"v1": v1_schema, "v2": v2_schema}[org](grant)
    if not extra_external_ids:
        return base
    objects = {}
    for name, obj in base.objects.items():
        fields = {}
        for fname, f in obj.fields.items():
            if f"{name}.{fname}" in extra_external_ids:
                f = FieldDef(**{**f.__dict__, "external_id": True})
            fields[fname] = f
        objects[name] = ObjectDef(name, obj.key_prefix, fields, **_flags(obj))
    return OrgSchema(org, objects)
