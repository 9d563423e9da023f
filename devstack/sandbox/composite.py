"""Composite (<= 25 subrequests, @{ref.field} references, allOrNone) and composite/graph.

Why: clients chain dependent writes in one round trip; the subrequests run through Org.dispatch
like real calls, inside one store transaction so allOrNone can roll them all back.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from .errors import SfError
from .messages import ApiRequest, ApiResponse, request_from_url

if TYPE_CHECKING:
    from .api import Org

MAX_SUBREQUESTS = 25
MAX_GRAPH_NODES = 500
MAX_GRAPHS = 75
_REF = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_HALTED = [
    {
        "errorCode": "PROCESSING_HALTED",
        "message": "The transaction was rolled back since another operation in the same "
        "transaction failed.",
    }
]


class _RefError(Exception):
    pass


def _resolve_path(value: object, path: str) -> object:
    for name, index in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        if name:
            if not isinstance(value, dict) or name not in value:
                raise _RefError(name)
            value = value[name]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                raise _RefError(index)
            value = value[int(index)]
    return value


def _substitute(obj: object, results: dict[str, object]) -> object:
    """Replace @{ref.path} in strings (recursively through dicts and lists)."""
    if isinstance(obj, str):
        whole = _REF.fullmatch(obj)
        if whole:
            return _lookup(whole, results)
        return _REF.sub(lambda m: str(_lookup(m, results)), obj)
    if isinstance(obj, dict):
        return {k: _substitute(v, results) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_substitute(v, results) for v in obj]
    return obj


def _lookup(m: re.Match, results: dict[str, object]) -> object:
    ref = m.group(1)
    if ref not in results:
        raise _RefError(m.group(0))
    try:
        return _resolve_path(results[ref], m.group(2))
    except _RefError as exc:
        raise _RefError(m.group(0)) from exc


class CompositeApi:
    def __init__(self, org: Org) -> None:
        self.org = org

    def composite(self, req: ApiRequest) -> ApiResponse:
        body = req.body if isinstance(req.body, dict) else {}
        subs = body.get("compositeRequest")
        if not isinstance(subs, list) or not subs:
            raise SfError(400, "JSON_PARSER_ERROR", "compositeRequest must be a non-empty list")
        if len(subs) > MAX_SUBREQUESTS:
            raise SfError(
                400,
                "LIMIT_EXCEEDED",
                f"Composite request cannot have more than "
                f"{MAX_SUBREQUESTS} subrequests (got {len(subs)})",
            )
        all_or_none = body.get("allOrNone") is True
        responses, _ = self._execute(subs, all_or_none)
        return ApiResponse(200, {"compositeResponse": responses})

    def graph(self, req: ApiRequest) -> ApiResponse:
        body = req.body if isinstance(req.body, dict) else {}
        graphs = body.get("graphs")
        if not isinstance(graphs, list) or not graphs:
            raise SfError(400, "JSON_PARSER_ERROR", "graphs must be a non-empty list")
        nodes = sum(len(g.get("compositeRequest") or []) for g in graphs if isinstance(g, dict))
        if len(graphs) > MAX_GRAPHS or nodes > MAX_GRAPH_NODES:
            raise SfError(
                400,
                "LIMIT_EXCEEDED",
                f"Composite graph allows up to {MAX_GRAPHS} "
                f"graphs and {MAX_GRAPH_NODES} nodes (got {len(graphs)} and {nodes})",
            )
        out = []
        for g in graphs:
            subs = g.get("compositeRequest") if isinstance(g, dict) else None
            if not isinstance(subs, list) or not subs:
                raise SfError(400, "JSON_PARSER_ERROR", "each graph needs a compositeRequest list")
            responses, ok = self._execute(subs, True)
            out.append(
                {
                    "graphId": g.get("graphId"),
                    "isSuccessful": ok,
                    "graphResponse": {"compositeResponse": responses},
                }
            )
        return ApiResponse(200, {"graphs": out})

    def _execute(self, subs: list, all_or_none: bool) -> tuple[list[dict], bool]:
        results: dict[str, object] = {}
        responses: list[dict] = []
        failed = False
        with self.org.store.transaction() as tx:
            for sub in subs:
                ref_id = sub.get("referenceId") if isinstance(sub, dict) else None
                if failed and all_or_none:
                    responses.append(_response(ref_id, 400, _HALTED))
                    continue
                status, payload = self._one(sub, results)
                responses.append(_response(ref_id, status, payload))
                if status >= 400:
                    failed = True
                    if all_or_none:
                        tx.rollback()
                        for earlier in responses[:-1]:
                            earlier.update(body=_HALTED, httpStatusCode=400, httpHeaders={})
                elif ref_id:
                    results[ref_id] = payload
        return responses, not failed

    def _one(self, sub: object, results: dict[str, object]) -> tuple[int, object]:
        if not isinstance(sub, dict) or not sub.get("method") or not sub.get("url"):
            return 400, SfError(400, "JSON_PARSER_ERROR", "subrequest needs method and url").body()
        try:
            url = _substitute(sub["url"], results)
            body = _substitute(sub.get("body"), results)
        except _RefError as exc:
            return 400, [
                {
                    "errorCode": "PROCESSING_HALTED",
                    "message": f"Invalid reference specified. No value for {exc} found.",
                }
            ]
        try:
            req = request_from_url(sub["method"], str(url), body, sub.get("httpHeaders") or {})
            if req.path.startswith("composite") and req.path.split("/")[1:2] != ["sobjects"]:
                raise SfError(400, "INVALID_TYPE", "composite requests cannot be nested")
            _, resp = self.org.dispatch(req)
        except SfError as exc:
            return exc.status, exc.body()
        return resp.status, json.loads(json.dumps(resp.body)) if resp.body is not None else None


def _response(ref_id: object, status: int, body: object) -> dict:
    return {"body": body, "httpHeaders": {}, "httpStatusCode": status, "referenceId": ref_id}
