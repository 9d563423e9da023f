"""sObject Collections: create, update, delete, retrieve and upsert of up to 200 records per call.

Why: the loader upserts V2 records by external id in batches of 200; per-record results come back
in request order, and allOrNone rolls the whole batch back, as in real Salesforce.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import ids
from .errors import SfError, not_found
from .messages import ApiRequest, ApiResponse

if TYPE_CHECKING:
    from .api import Org

MAX_RECORDS = 200
_ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request "
    "was using AllOrNone header",
    "fields": [],
}


def _too_many() -> SfError:
    return SfError(
        400,
        "EXCEEDED_ID_LIMIT",
        "record limit reached. cannot submit more than 200 records into this call",
    )


def _flag(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


class CollectionsApi:
    def __init__(self, org: Org) -> None:
        self.org = org

    def dispatch(self, req: ApiRequest, seg: list[str]) -> tuple[str, ApiResponse]:
        m, n = req.method, len(seg)
        if n == 0 and m == "POST":
            return "composite_sobjects_create", self._batch(req, "create")
        if n == 0 and m == "PATCH":
            return "composite_sobjects_update", self._batch(req, "update")
        if n == 0 and m == "DELETE":
            return "composite_sobjects_delete", self._delete(req)
        if n == 1 and m in ("GET", "POST"):
            return "composite_sobjects_retrieve", self._retrieve(req, seg[0])
        if n == 2 and m == "PATCH":
            return "composite_sobjects_upsert", self._batch(req, "upsert", seg[0], seg[1])
        raise not_found()

    # -- helpers ------------------------------------------------------------------------------
    def _records(self, req: ApiRequest) -> tuple[list, bool]:
        body = req.body
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise SfError(400, "JSON_PARSER_ERROR", 'Expected a body like {"records": [...]}')
        if len(body["records"]) > MAX_RECORDS:
            raise _too_many()
        return body["records"], _flag(body.get("allOrNone", False))

    def _run(self, items: list, all_or_none: bool, one) -> list[dict]:
        """Apply `one` per item inside a transaction; roll all back on failure if allOrNone."""
        results: list[dict] = []
        failed = False
        with self.org.store.transaction() as tx:
            for item in items:
                try:
                    results.append(one(item))
                except SfError as exc:
                    failed = True
                    results.append(
                        {"id": _id_of(item), "success": False, "errors": [exc.collection_error()]}
                    )
            if failed and all_or_none:
                tx.rollback()
                for res in results:
                    if res["success"]:
                        res.update(id=None, success=False, errors=[dict(_ROLLED_BACK)])
                        res.pop("created", None)
        return results

    # -- operations ---------------------------------------------------------------------------
    def _batch(
        self, req: ApiRequest, op: str, sobject: str | None = None, ext_field: str | None = None
    ) -> ApiResponse:
        records, all_or_none = self._records(req)
        org = self.org
        if op == "upsert":
            obj = org.object(sobject or "")
            fdef = obj.field(ext_field or "")
            if fdef is None or not (fdef.external_id or fdef.name == "Id"):
                raise SfError(
                    400,
                    "INVALID_FIELD",
                    f"Field name provided, {ext_field} is not an "
                    f"External ID or indexed field for {obj.name}",
                )
            dupes = _duplicate_keys(records, fdef.name)

        def one(rec: object) -> dict:
            if not isinstance(rec, dict):
                raise SfError(400, "JSON_PARSER_ERROR", "each record must be a JSON object")
            body = dict(rec)
            if op == "upsert":
                return self._upsert(obj, fdef.name, body, dupes)
            robj = org.object(_type_of(body, sobject))
            if op == "create":
                if "Id" in body:
                    raise SfError(
                        400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"]
                    )
                return org.create(robj, body)
            raw_id = body.pop("Id", None)
            if raw_id is None:
                raise SfError(400, "MISSING_ARGUMENT", "Id not specified in an update call", [])
            rid = ids.normalize(raw_id)
            if rid is None:
                raise SfError(400, "MALFORMED_ID", f"malformed id {raw_id}", ["Id"])
            if org.store.get(robj.name, rid) is None:
                raise SfError(400, "ENTITY_IS_DELETED", "entity is deleted", [])
            org.update(robj, rid, body)
            return {"id": rid, "success": True, "errors": []}

        return ApiResponse(200, self._run(records, all_or_none, one))

    def _upsert(self, obj, fname: str, body: dict, dupes: set) -> dict:
        key = next((k for k in body if k.lower() == fname.lower()), None)
        value = body.pop(key) if key is not None else None
        if value in (None, ""):
            raise SfError(400, "MISSING_ARGUMENT", f"{fname} not specified", [fname])
        if fname == "Id":
            value = ids.normalize(value) or value
        if value in dupes:
            raise SfError(
                400, "DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {value}", [fname]
            )
        body.pop("attributes", None)
        matches = self.org.store.find_by(obj.name, fname, value)
        if len(matches) > 1:
            raise SfError(
                300,
                "DUPLICATE_EXTERNAL_ID",
                f"{fname}: more than one record found for external id field: {matches}",
                [fname],
            )
        if matches:
            self.org.update(obj, matches[0], body)
            return {"id": matches[0], "success": True, "errors": [], "created": False}
        if fname == "Id":
            raise SfError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        res = self.org.create(obj, {**body, fname: value}, upsert=True)
        return {**res, "created": True}

    def _delete(self, req: ApiRequest) -> ApiResponse:
        raw = [i for i in req.query.get("ids", "").split(",") if i]
        if not raw:
            raise SfError(400, "MISSING_ARGUMENT", "ids not specified")
        if len(raw) > MAX_RECORDS:
            raise _too_many()
        org = self.org

        def one(raw_id: str) -> dict:
            rid = ids.normalize(raw_id)
            obj = org.store.object_of(rid) if rid else None
            if rid is None:
                raise SfError(400, "MALFORMED_ID", f"malformed id {raw_id}", [])
            if obj is None:
                raise SfError(400, "ENTITY_IS_DELETED", "entity is deleted", [])
            org.delete(obj, rid, api=True)
            return {"id": rid, "success": True, "errors": []}

        results = self._run(raw, _flag(req.query.get("allOrNone", "false")), one)
        for res, raw_id in zip(results, raw, strict=True):
            res["id"] = res["id"] or ids.normalize(raw_id) if res["errors"] else res["id"]
        return ApiResponse(200, results)

    def _retrieve(self, req: ApiRequest, sobject: str) -> ApiResponse:
        obj = self.org.object(sobject)
        params = req.body if req.method == "POST" and isinstance(req.body, dict) else req.query
        raw_ids = params.get("ids", [])
        id_list = raw_ids.split(",") if isinstance(raw_ids, str) else list(raw_ids)
        fields = params.get("fields", "")
        fields = ",".join(fields) if isinstance(fields, list) else fields
        if not fields:
            raise SfError(400, "MISSING_ARGUMENT", "fields not specified")
        if len(id_list) > 2000:
            raise _too_many()
        out: list[dict | None] = []
        for raw in id_list:
            rid = ids.normalize(raw)
            found = rid is not None and self.org.store.get(obj.name, rid) is not None
            out.append(self.org.record(obj, rid, fields) if found else None)  # type: ignore[arg-type]
        return ApiResponse(200, out)


def _type_of(body: dict, default: str | None) -> str:
    attrs = body.pop("attributes", None)
    name = attrs.get("type") if isinstance(attrs, dict) else None
    if not name and not default:
        raise SfError(400, "INVALID_TYPE", "Must send a concrete entity type.", [])
    return name or default  # type: ignore[return-value]


def _id_of(item: object) -> str | None:
    if isinstance(item, dict):
        return ids.normalize(item.get("Id"))
    return None


def _duplicate_keys(records: list, fname: str) -> set:
    seen: set = set()
    dupes: set = set()
    for rec in records:
        if isinstance(rec, dict):
            key = next((k for k in rec if k.lower() == fname.lower()), None)
            value = rec.get(key) if key else None
            if value not in (None, ""):
                (dupes if value in seen else seen).add(value)
    return dupes
