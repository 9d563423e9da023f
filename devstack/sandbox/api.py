"""The REST resources under /services/data/vXX.X/, as plain functions over one Org.

Why transport-free: composite and composite/graph run their subrequests through the same dispatch
as real HTTP calls, so every resource behaves identically in both.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from . import duplicates, files, ids, reference_data, setup_objects, validation
from .composite import CompositeApi
from .config import SandboxConfig
from .errors import SfError, entity_is_deleted, not_found
from .faults import ApiUsage, RecordFault, RecordFaults, parse_record_fault
from .ids import IdFactory
from .messages import ApiRequest, ApiResponse
from .schema import API_VERSION, ObjectDef, schema_for
from .sobject_collections import CollectionsApi
from .soql import BoolOp, Comparison, Query, parse
from .soql_eval import CompiledQuery, Evaluator
from .store import Store

DEFAULT_BATCH = 2000
MAX_CURSORS = 1000


@dataclass
class _Cursor:
    cq: CompiledQuery
    rids: list[str]
    batch: int


class Org:
    """One sandbox org: schema, records, query cursors, API usage."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config.resolved()
        self.schema = schema_for(
            self.config.org, self.config.extra_external_ids, self.config.set_audit_fields
        )
        self.ids = IdFactory(self.config.org_code)
        self.store = Store(self.schema, self.ids)
        #: the bytes of ContentVersions, under the state dir (a temporary one when none is set)
        self.files = files.FileStore(
            None if self.config.state_dir is None else Path(self.config.state_dir) / "files"
        )
        self.org_id = self.ids.new_id("00D")
        # the API user first (its id is the first 005 id, as before users were records); it
        # is its own creator, and the creator of everything seeded without a named user
        self.user_id = self.store.insert(
            "User", reference_data.integration_user(str(self.config.username))
        )
        self.store.default_user = self.user_id
        self.reference_ids = reference_data.seed_reference(self.store, self.config.org)
        self.policy = validation.OrgPolicy(
            allow_inactive_owners=self.config.allow_inactive_owners,
            allow_hierarchy_loops=self.config.allow_hierarchy_loops,
        )
        self.usage = ApiUsage(self.config.api_daily_max)
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self.record_faults = RecordFaults(self.config.seed)
        self.set_record_faults([parse_record_fault(s) for s in self.config.fail_records])
        self.duplicate_rules = duplicates.parse_rules(self.config.duplicate_rules, self.schema)
        #: records create()/update() processed since the last take_records_processed()
        self.records_processed = 0
        #: the same, by object (what the cost model charges)
        self.processed_by_object: Counter[str] = Counter()
        # of the request being dispatched (dispatch is synchronous: no other request interleaves)
        self._allow_save = False
        self._version = API_VERSION
        #: the session's user: every save of the request is stamped with it
        self._user = self.user_id

        self._collections = CollectionsApi(self)
        self._composite = CompositeApi(self)

    # -- configuration at run time ------------------------------------------------------------
    def set_record_faults(self, faults: list[RecordFault]) -> None:
        """Replace the record faults (object and field names checked against the schema)."""
        checked = []
        for fault in faults:
            obj = self.schema.get(fault.sobject)
            if obj is None:
                raise ValueError(f"record fault on unknown object {fault.sobject!r}")
            fdef = obj.field(fault.field) if fault.field else None
            if fault.field and fdef is None:
                raise ValueError(f"record fault on unknown field {obj.name}.{fault.field}")
            checked.append(replace(fault, sobject=obj.name, field=fdef.name if fdef else None))
        self.record_faults.replace(checked)

    def take_records_processed(self) -> int:
        n, self.records_processed = self.records_processed, 0
        return n

    def take_processed_by_object(self) -> Counter[str]:
        out, self.processed_by_object = self.processed_by_object, Counter()
        return out

    def active_user(self, username: str) -> str | None:
        """Id of the org's active User with that username (case-insensitive), else None."""
        wanted = username.casefold()
        for rid, row in self.store.table("User").rows.items():
            if str(row.get("Username", "")).casefold() == wanted and row.get("IsActive"):
                return rid
        return None

    @contextmanager
    def _request_context(self, req: ApiRequest) -> Iterator[None]:
        """Sforce-Duplicate-Rule-Header of a request applies to its subrequests and records, and
        so does its session's user (subrequests carry none of their own)."""
        saved = self._allow_save, self._version, self._user
        self._allow_save = self._allow_save or duplicates.allow_save(req.headers)
        self._version = req.version
        self._user = req.user_id or self._user
        try:
            yield
        finally:
            self._allow_save, self._version, self._user = saved

    # -- dispatch -----------------------------------------------------------------------------
    def dispatch(self, req: ApiRequest) -> tuple[str, ApiResponse]:
        """Route one request: returns (endpoint kind for stats, response). Raises SfError."""
        with self._request_context(req):
            return self._dispatch(req)

    def _dispatch(self, req: ApiRequest) -> tuple[str, ApiResponse]:
        seg = [s for s in req.path.split("/") if s] if req.path else []
        m = req.method
        n = len(seg)
        if n == 0 and m == "GET":
            return "resources", ApiResponse(200, self._resources(req.version))
        head = seg[0] if n else ""
        if head == "limits" and n == 1 and m == "GET":
            return "limits", ApiResponse(200, self.usage.limits_body())
        if head in ("query", "queryAll") and m == "GET":
            kind = head.lower() if n == 1 else "query_more"
            return kind, self._query(req, seg[1] if n > 1 else None)
        if head == "sobjects":
            return self._sobjects(req, seg[1:])
        if head == "composite":
            if n == 1 and m == "POST":
                return "composite", self._composite.composite(req)
            if n == 2 and seg[1] == "graph" and m == "POST":
                return "composite_graph", self._composite.graph(req)
            if n >= 2 and seg[1] == "sobjects":
                return self._collections.dispatch(req, seg[2:])
        if head == "tooling" and n == 2 and seg[1] == "query" and m == "GET":
            return "tooling_query", self._tooling_query(req)
        raise not_found()

    def _resources(self, version: str) -> dict:
        base = f"/services/data/v{version}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "tooling")
        return {k: f"{base}/{k}" for k in names}

    # -- sobjects -----------------------------------------------------------------------------
    def object(self, name: str) -> ObjectDef:
        obj = self.schema.get(name)
        if obj is None:
            raise not_found()
        return obj

    def _sobjects(self, req: ApiRequest, seg: list[str]) -> tuple[str, ApiResponse]:
        m, n = req.method, len(seg)
        if n == 0 and m == "GET":
            return "describe_global", ApiResponse(
                200,
                {
                    "encoding": "UTF-8",
                    "maxBatchSize": 200,
                    "sobjects": [o.summary() for o in self.schema.objects.values()],
                },
            )
        obj = self.object(seg[0])
        if n == 1 and m == "GET":
            return "sobject_info", ApiResponse(
                200, {"objectDescribe": obj.summary(), "recentItems": []}
            )
        if n == 1 and m == "POST":
            return "sobject_create", ApiResponse(201, self.create(obj, req.body))
        if n == 2 and seg[1] == "describe" and m == "GET":
            return "describe", ApiResponse(200, obj.describe())
        if n == 2:
            rid = self._existing_id(obj, seg[1])
            if m == "GET":
                return "sobject_get", ApiResponse(
                    200, self.record(obj, rid, req.query.get("fields"))
                )
            if m == "PATCH":
                self.update(obj, rid, req.body)
                return "sobject_update", ApiResponse(204)
            if m == "DELETE":
                self.delete(obj, rid, api=True)
                return "sobject_delete", ApiResponse(204)
        if n == 3 and m == "GET" and (blob := obj.field(seg[2])) and blob.type == "base64":
            rid = self._existing_id(obj, seg[1])
            return "sobject_blob", ApiResponse(200, self._blob(obj, rid))
        if n == 3:
            fdef = obj.field(seg[1])
            if fdef is None or not (fdef.external_id or fdef.name == "Id"):
                raise not_found(
                    f"Provided external ID field does not exist or is not accessible: {seg[1]}"
                )
            value = seg[2]
            if fdef.name == "Id":
                value = ids.normalize(value) or value
            matches = self.store.find_by(obj.name, fdef.name, value)
            if m == "PATCH":
                return "sobject_upsert", self._upsert_one(obj, fdef.name, value, matches, req)
            if len(matches) > 1:
                return "sobject_get_by_external_id", ApiResponse(
                    300, [self.url(obj, r, req.version) for r in matches]
                )
            if not matches:
                raise not_found()
            if m == "GET":
                return "sobject_get_by_external_id", ApiResponse(
                    200, self.record(obj, matches[0], req.query.get("fields"))
                )
            if m == "DELETE":
                self.delete(obj, matches[0], api=True)
                return "sobject_delete", ApiResponse(204)
        raise not_found()

    def _existing_id(self, obj: ObjectDef, raw: str) -> str:
        rid = ids.normalize(raw)
        if rid is None:
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {raw}"
            )
        if rid[:3] != obj.key_prefix:
            raise not_found()
        if self.store.get(obj.name, rid) is None:
            if self.store.is_deleted(obj.name, rid):
                raise entity_is_deleted()
            raise not_found()
        return rid

    def _upsert_one(
        self, obj: ObjectDef, fname: str, value: str, matches: list[str], req: ApiRequest
    ) -> ApiResponse:
        if len(matches) > 1:
            return ApiResponse(300, [self.url(obj, r, req.version) for r in matches])
        body = dict(req.body) if isinstance(req.body, dict) else req.body
        if isinstance(body, dict):
            given = next((k for k in body if k.lower() == fname.lower()), None)
            if given is not None and str(body.pop(given)) != value:
                raise SfError(
                    400,
                    "INVALID_FIELD",
                    f"The value of {fname} in the request body does not match the value in the URL",
                )
        if matches:
            self.update(obj, matches[0], body)
            return ApiResponse(
                200, {"id": matches[0], "success": True, "errors": [], "created": False}
            )
        if fname == "Id":
            raise not_found()
        rid = self.create(obj, {**(body or {}), fname: value}, upsert=True)["id"]
        return ApiResponse(201, {"id": rid, "success": True, "errors": [], "created": True})

    # -- record operations (shared with collections and composite) ----------------------------
    # Order of checks, as Salesforce's order of execution: system validation (validation.py),
    # custom validation rules (here: the record faults), duplicate rules, then the save.
    def create(self, obj: ObjectDef, body: object, *, upsert: bool = False) -> dict:
        """Insert a record as the session's user. `upsert`: the insert of an upsert, where the
        audit fields are refused whatever the org grants (validation.prepare)."""
        self.records_processed += 1
        self.processed_by_object[obj.name] += 1
        if not obj.createable:
            raise files.unsupported(obj.name, "insert")
        values = validation.prepare(
            self.store,
            obj,
            body,
            "create",
            policy=self.policy,  # type: ignore[arg-type]
            audit_fields=not upsert,
        )
        if "OwnerId" in obj.fields and values.get("OwnerId") is None:
            values["OwnerId"] = self._user  # Salesforce: the running user owns what it creates
        key = self._fault_key(obj, values, None)
        if key is not None:
            self.record_faults.check(obj.name, key)
        self._check_duplicates(obj, values, None)
        if obj.name == "ContentDocumentLink":
            files.check_link(self.store, values)
        with self.store.transaction() as tx:
            if obj.name == "ContentVersion":  # its document, links and bytes too
                rid = files.insert_version(self.store, self.files, values, user=self._user)
            else:
                rid = self.store.insert(obj.name, values, user=self._user)
            if key is None and obj.name in self.record_faults.by_object:
                try:  # no external id value: the record is keyed by the Id it just got
                    self.record_faults.check(obj.name, rid)
                except SfError:
                    tx.rollback()  # the insert is undone for good (never in the recycle bin)
                    raise
        return {"id": rid, "success": True, "errors": []}

    def update(self, obj: ObjectDef, rid: str, body: object) -> None:
        """Update a record as the session's user; a save that changes nothing still stamps
        LastModifiedById, LastModifiedDate and SystemModstamp, as Salesforce's does."""
        self.records_processed += 1
        self.processed_by_object[obj.name] += 1
        values = validation.prepare(
            self.store,
            obj,
            body,
            "update",
            rid,
            policy=self.policy,  # type: ignore[arg-type]
        )
        merged = {**(self.store.get(obj.name, rid) or {}), **values}
        self.record_faults.check(obj.name, self._fault_key(obj, merged, rid) or rid)
        self._check_duplicates(obj, merged, rid)
        self.store.update(obj.name, rid, values, user=self._user)

    def _fault_key(self, obj: ObjectDef, record: dict, rid: str | None) -> str | None:
        """What a record fault hashes: the record's external id value (the unique one, e.g.
        Legacy_Id__c, first), else its Id (None for a record not inserted yet)."""
        ext = [f for f in obj.fields.values() if f.external_id]
        for f in sorted(ext, key=lambda f: not f.unique):
            value = record.get(f.name)
            if value not in (None, ""):
                return str(value)
        return rid

    def _check_duplicates(self, obj: ObjectDef, record: dict, rid: str | None) -> None:
        if self.duplicate_rules and not self._allow_save:
            duplicates.check(self.duplicate_rules, self.store, obj.name, record, rid, self._version)

    def delete(self, obj: ObjectDef, rid: str, *, api: bool = False) -> None:
        """Delete a record into the recycle bin, as the session's user; children of cascading
        relationships go with it (keeping their reference to it, so queryAll still shows their
        AccountId), lookups to it are cleared (as the describe's cascadeDelete says).
        `api`: a client's delete (not a cascade), refused for an object that is not deletable
        (a ContentVersion goes with its ContentDocument)."""
        if api and not obj.deletable:
            raise files.unsupported(obj.name, "delete")
        if api:  # the cost model charges a client's delete like a save (cascades included)
            self.processed_by_object[obj.name] += 1
        for rel in obj.child_relationships:
            for child in list(self.store.children(rel.child_sobject, rel.field, rid)):
                if self.store.get(rel.child_sobject, child) is None:
                    continue
                if rel.cascade_delete:
                    self.delete(self.schema.objects[rel.child_sobject], child)
                else:
                    self.store.update(rel.child_sobject, child, {rel.field: None}, user=self._user)
        self.store.delete(obj.name, rid, user=self._user)

    def _blob(self, obj: ObjectDef, rid: str) -> files.BinaryBody:
        """GET /sobjects/ContentVersion/{id}/VersionData: the version's bytes, streamed."""
        row = self.store.get(obj.name, rid) or {}
        return files.BinaryBody(
            self.files.path(rid),
            int(row.get("ContentSize") or 0),
            files.content_type(str(row.get("FileExtension") or "")),
        )

    def record(self, obj: ObjectDef, rid: str, fields: str | None = None) -> dict:
        row = self.store.get(obj.name, rid) or {}
        names = (
            list(obj.fields)
            if not fields
            else [
                (obj.field(f.strip()) or _raise_invalid(f.strip(), obj)).name
                for f in fields.split(",")
                if f.strip()
            ]
        )
        rec: dict = {"attributes": {"type": obj.name, "url": self.url(obj, rid)}}
        rec.update({name: row.get(name) for name in names})
        for name in obj.blob_fields.intersection(names):  # the URL of its bytes, as in GETs
            if rec[name] is not None:
                rec[name] = f"{self.url(obj, rid, self._version)}/{name}"
        return rec

    def url(self, obj: ObjectDef, rid: str, version: str = API_VERSION) -> str:
        return f"/services/data/v{version}/sobjects/{obj.name}/{rid}"

    # -- query --------------------------------------------------------------------------------
    def _query(self, req: ApiRequest, locator: str | None) -> ApiResponse:
        """query, queryAll and their next pages. queryAll also returns the records in the
        recycle bin (IsDeleted = true), as the REST API's QueryAll resource does."""
        evaluator = Evaluator(self.store, req.version)
        if locator is not None:
            return ApiResponse(200, self._next_page(evaluator, req, locator))
        text = req.query.get("q")
        if not text:
            raise SfError(400, "MALFORMED_QUERY", "A query string has to be specified")
        q = parse(text)
        if q.sobject.lower() in setup_objects.DATA_OBJECTS:
            return ApiResponse(200, self._setup_query(req, q))
        cq = evaluator.compile(q, include_deleted=req.path.split("/")[0] == "queryAll")
        if cq.obj.name == "ContentDocumentLink" and not _filters_on(
            q, ("ContentDocumentId", "LinkedEntityId", "Id")
        ):
            raise SfError(400, "MALFORMED_QUERY", files.LINK_QUERY_RESTRICTION)
        rids = evaluator.run(cq)
        if cq.counts:
            if cq.is_count_only:
                return ApiResponse(200, {"totalSize": len(rids), "done": True, "records": []})
            recs = evaluator.aggregate(cq, rids)
            return ApiResponse(200, {"totalSize": len(recs), "done": True, "records": recs})
        cursor = _Cursor(cq, rids, _batch_size(req.headers))
        return ApiResponse(200, self._page(evaluator, req, cursor, 0, None))

    # -- setup objects: DuplicateRule (/query), ValidationRule, EntityDefinition (Tooling) -----
    def _setup_query(self, req: ApiRequest, q: Query, tooling: bool = False) -> dict:
        """One page (setup rows are few) from a store built from the current configuration."""
        store = setup_objects.setup_store(
            self.schema,
            self.config.org_code,
            self.duplicate_rules,
            list(self.record_faults.by_object.values()),
        )
        evaluator = Evaluator(store, req.version)
        cq = evaluator.compile(q)
        rids = evaluator.run(cq)
        if cq.is_count_only:
            records: list[dict] = []
        elif cq.counts:
            records = evaluator.aggregate(cq, rids)
        else:
            records = evaluator.serialize(cq, rids)
        total = len(rids) if cq.is_count_only or not cq.counts else len(records)
        if not tooling:
            return {"totalSize": total, "done": True, "records": records}
        base = f"/services/data/v{req.version}/"
        return {
            "size": total,
            "totalSize": total,
            "done": True,
            "queryLocator": None,
            "entityTypeName": cq.obj.name,
            "records": _tooling_urls(records, base),
        }

    def _tooling_query(self, req: ApiRequest) -> ApiResponse:
        """GET tooling/query?q=SELECT ValidationName, Active, EntityDefinition.QualifiedApiName
        FROM ValidationRule (the shape simple-salesforce's toolingexecute/restful reads)."""
        text = req.query.get("q")
        if not text:
            raise SfError(400, "MALFORMED_QUERY", "A query string has to be specified")
        q = parse(text)
        if q.sobject.lower() not in setup_objects.TOOLING_OBJECTS:
            raise SfError(
                400,
                "INVALID_TYPE",
                f"sObject type '{q.sobject}' is not supported by this sandbox's Tooling API "
                "(it answers ValidationRule and EntityDefinition).",
            )
        return ApiResponse(200, self._setup_query(req, q, tooling=True))

    def _next_page(self, evaluator: Evaluator, req: ApiRequest, locator: str) -> dict:
        key, _, start = locator.partition("-")
        cursor = self._cursors.get(key)
        if cursor is None or not start.isdigit():
            raise SfError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(evaluator, req, cursor, int(start), key)

    def _page(
        self, evaluator: Evaluator, req: ApiRequest, cursor: _Cursor, start: int, key: str | None
    ) -> dict:
        end = start + cursor.batch
        page = evaluator.serialize(cursor.cq, cursor.rids[start:end])
        body: dict = {"totalSize": len(cursor.rids), "done": end >= len(cursor.rids)}
        if not body["done"]:
            if key is None:
                key = self.ids.new_id("01g")
                self._cursors[key] = cursor
                while len(self._cursors) > MAX_CURSORS:
                    self._cursors.popitem(last=False)
            # "/query/..." for queryAll too, as the REST API's QueryAll docs show ("Although the
            # nextRecordsUrl has query in the URL, it still provides remaining results from the
            # initial QueryAll request"): the cursor remembers that it includes deleted rows
            body["nextRecordsUrl"] = f"/services/data/v{req.version}/query/{key}-{end}"
        body["records"] = page
        return body


def _tooling_urls(value: object, base: str) -> object:
    """attributes.url of Tooling records says /tooling/sobjects/..., not /sobjects/..."""
    if isinstance(value, list):
        return [_tooling_urls(v, base) for v in value]
    if isinstance(value, dict):
        out = {k: _tooling_urls(v, base) for k, v in value.items()}
        url = out.get("url") if isinstance(out.get("url"), str) else None
        if url and url.startswith(base + "sobjects/"):
            out["url"] = base + "tooling/" + url[len(base) :]
        return out
    return value


def _filters_on(q: Query, names: tuple[str, ...]) -> bool:
    """The query's WHERE has a top-level `=` or `IN` on one of `names` (ANDed with the rest)."""
    where = q.where
    conjuncts = list(where.items) if isinstance(where, BoolOp) and where.op == "and" else [where]
    wanted = {n.lower() for n in names}
    return any(
        isinstance(c, Comparison) and c.op in ("=", "in") and c.path.lower() in wanted
        for c in conjuncts
    )


def _batch_size(headers: Mapping[str, str]) -> int:
    """Sforce-Query-Options: batchSize=N (Salesforce allows 200-2000; any 1-2000 is kept here)."""
    raw = headers.get("Sforce-Query-Options", "")
    for part in raw.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(1, min(DEFAULT_BATCH, int(value)))
    return DEFAULT_BATCH


def _raise_invalid(name: str, obj: ObjectDef) -> Callable:
    raise SfError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'.")
