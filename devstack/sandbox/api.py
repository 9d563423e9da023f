"""The REST resources under /services/data/vXX.X/, as plain functions over one Org.

Why transport-free: composite and composite/graph run their subrequests through the same dispatch
as real HTTP calls, so every resource behaves identically in both.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from . import ids, validation
from .composite import CompositeApi
from .config import SandboxConfig
from .errors import SfError, not_found
from .faults import ApiUsage
from .ids import IdFactory
from .messages import ApiRequest, ApiResponse
from .schema import API_VERSION, ObjectDef, schema_for
from .sobject_collections import CollectionsApi
from .soql import parse
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
        self.schema = schema_for(self.config.org, self.config.extra_external_ids)
        self.ids = IdFactory(self.config.org_code)
        self.store = Store(self.schema, self.ids)
        self.org_id = self.ids.new_id("00D")
        self.user_id = self.ids.new_id("005")
        self.usage = ApiUsage(self.config.api_daily_max)
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()

        self._collections = CollectionsApi(self)
        self._composite = CompositeApi(self)

    # -- dispatch -----------------------------------------------------------------------------
    def dispatch(self, req: ApiRequest) -> tuple[str, ApiResponse]:
        """Route one request: returns (endpoint kind for stats, response). Raises SfError."""
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
        raise not_found()

    def _resources(self, version: str) -> dict:
        base = f"/services/data/v{version}"
        return {k: f"{base}/{k}" for k in ("sobjects", "query", "queryAll", "limits", "composite")}

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
                self.delete(obj, rid)
                return "sobject_delete", ApiResponse(204)
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
                self.delete(obj, matches[0])
                return "sobject_delete", ApiResponse(204)
        raise not_found()

    def _existing_id(self, obj: ObjectDef, raw: str) -> str:
        rid = ids.normalize(raw)
        if rid is None:
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {raw}"
            )
        if rid[:3] != obj.key_prefix or self.store.get(obj.name, rid) is None:
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
        rid = self.create(obj, {**(body or {}), fname: value})["id"]
        return ApiResponse(201, {"id": rid, "success": True, "errors": [], "created": True})

    # -- record operations (shared with collections and composite) ----------------------------
    def create(self, obj: ObjectDef, body: object) -> dict:
        values = validation.prepare(self.store, obj, body, "create")  # type: ignore[arg-type]
        rid = self.store.insert(obj.name, values)
        return {"id": rid, "success": True, "errors": []}

    def update(self, obj: ObjectDef, rid: str, body: object) -> None:
        values = validation.prepare(self.store, obj, body, "update", rid)  # type: ignore[arg-type]
        if values:
            self.store.update(obj.name, rid, values)

    def delete(self, obj: ObjectDef, rid: str) -> None:
        """Delete a record and, like Salesforce's cascade for these objects, its children."""
        for rel in obj.child_relationships:
            for child in list(self.store.children(rel.child_sobject, rel.field, rid)):
                if self.store.get(rel.child_sobject, child) is not None:
                    self.delete(self.schema.objects[rel.child_sobject], child)
        self.store.delete(obj.name, rid)

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
        return rec

    def url(self, obj: ObjectDef, rid: str, version: str = API_VERSION) -> str:
        return f"/services/data/v{version}/sobjects/{obj.name}/{rid}"

    # -- query --------------------------------------------------------------------------------
    def _query(self, req: ApiRequest, locator: str | None) -> ApiResponse:
        evaluator = Evaluator(self.store, req.version)
        if locator is not None:
            return ApiResponse(200, self._next_page(evaluator, req, locator))
        text = req.query.get("q")
        if not text:
            raise SfError(400, "MALFORMED_QUERY", "A query string has to be specified")
        cq = evaluator.compile(parse(text))
        rids = evaluator.run(cq)
        if cq.counts:
            if cq.is_count_only:
                return ApiResponse(200, {"totalSize": len(rids), "done": True, "records": []})
            recs = evaluator.aggregate(cq, rids)
            return ApiResponse(200, {"totalSize": len(recs), "done": True, "records": recs})
        cursor = _Cursor(cq, rids, _batch_size(req.headers))
        return ApiResponse(200, self._page(evaluator, req, cursor, 0, None))

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
            endpoint = "queryAll" if req.path.startswith("queryAll") else "query"
            body["nextRecordsUrl"] = f"/services/data/v{req.version}/{endpoint}/{key}-{end}"
        body["records"] = page
        return body


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
