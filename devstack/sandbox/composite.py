"""Composite (<= 25 subrequests, @{ref.field} references, allOrNone) and composite/graph.

Why: clients chain dependent writes in one round trip; the subrequests run through Org.dispatch
like real calls, inside one store transaction so allOrNone can roll them all back.

Composite graph limits, from the REST API Developer Guide ("Composite Graph Limits"): at most
75 graphs and 500 nodes per payload (summed over its graphs), at most 15 different nodes per
payload, where nodes differ by API version, HTTP method or sObject type (the current guide; older
versions of it named only version and object type), and at most 14 graph failures: past them
"processing is halted for the remaining graphs" and their status is PROCESSING_HALTED. The whole
request counts as one API call (the server counts HTTP requests, never subrequests).

Not confirmed from the docs, chosen here: the status and error code of a payload over a limit
(400 LIMIT_EXCEEDED, like the other limits here), the exact wording of the halted graphs'
message and that their nodes answer 400, that halting starts right after the 14th failed graph
(the guide says both "maximum of 14 failures" and "exceeds the maximum limit of 14"), and the
maximum graph depth of 15, which is not enforced.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from .errors import SfError
from .files import BinaryBody
from .messages import ApiRequest, ApiResponse, request_from_url

if TYPE_CHECKING:
    from .api import Org

MAX_SUBREQUESTS = 25
MAX_GRAPH_NODES = 500
MAX_GRAPHS = 75
MAX_GRAPH_NODE_TYPES = 15
MAX_GRAPH_FAILURES = 14
_NODE_TYPE = re.compile(r"^/services/data/v(\d+\.\d+)/sobjects/([^/?]+)")
_REF = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_HALTED = [
    {
        "errorCode": "PROCESSING_HALTED",
        "message": "The transaction was rolled back since another operation in the same "
        "transaction failed.",
    }
]
_NOT_PROCESSED = [
    {
        "errorCode": "PROCESSING_HALTED",
        "message": f"This graph was not processed: the request reached the maximum of "
        f"{MAX_GRAPH_FAILURES} failed graphs, so processing was halted for the remaining graphs.",
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
        for g in graphs:
            subs = g.get("compositeRequest") if isinstance(g, dict) else None
            if not isinstance(subs, list) or not subs:
                raise SfError(400, "JSON_PARSER_ERROR", "each graph needs a compositeRequest list")
        # nodes per payload, summed over all graphs (not per graph)
        nodes = sum(len(g["compositeRequest"]) for g in graphs)
        if len(graphs) > MAX_GRAPHS or nodes > MAX_GRAPH_NODES:
            raise SfError(
                400,
                "LIMIT_EXCEEDED",
                f"Composite graph allows up to {MAX_GRAPHS} "
                f"graphs and {MAX_GRAPH_NODES} nodes (got {len(graphs)} and {nodes})",
            )
        types = node_types(graphs)
        if len(types) > MAX_GRAPH_NODE_TYPES:
            raise SfError(
                400,
                "LIMIT_EXCEEDED",
                f"Composite graph allows up to {MAX_GRAPH_NODE_TYPES} different nodes per "
                f"request (API version, HTTP method and sObject type; got {len(types)})",
            )
        out = []
        failures = 0
        for g in graphs:
            subs = g["compositeRequest"]
            if failures >= MAX_GRAPH_FAILURES:
                responses = [
                    _response(s.get("referenceId") if isinstance(s, dict) else None, 400, None)
                    for s in subs
                ]
                for r in responses:
                    r["body"] = [dict(e) for e in _NOT_PROCESSED]
                ok = False
            else:
                responses, ok = self._execute(subs, True)
                failures += not ok
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
            if isinstance(resp.body, BinaryBody):
                raise SfError(
                    400, "INVALID_TYPE", "a blob (VersionData) can't be read in a composite request"
                )
        except SfError as exc:
            return exc.status, exc.body()
        return resp.status, json.loads(json.dumps(resp.body)) if resp.body is not None else None


def node_types(graphs: list[dict]) -> set[tuple[str, str, str]]:
    """The different nodes of a (checked) graph payload: (API version, HTTP method, sObject type
    in lower case) of every node whose url is an sObject resource."""
    types = set()
    for g in graphs:
        for sub in g["compositeRequest"]:
            if not isinstance(sub, dict):
                continue
            m = _NODE_TYPE.match(str(sub.get("url", "")))
            if m:
                types.add((m.group(1), str(sub.get("method", "")).upper(), m.group(2).lower()))
    return types


def _response(ref_id: object, status: int, body: object) -> dict:
    return {"body": body, "httpHeaders": {}, "httpStatusCode": status, "referenceId": ref_id}
