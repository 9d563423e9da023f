"""aiohttp routes: logins, the REST API under /services/data, and /__admin/.

Why one thin layer: everything cross-cutting (session check, API limit, fault injection, stats,
the Sforce-Limit-Info header) happens here once; the resources themselves live in api.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web

from . import auth, bulk, files
from .api import Org
from .config import SandboxConfig
from .cost_model import Concurrency, CostModel
from .errors import SfError
from .faults import Faults, HangInterrupted, RecordFaults
from .messages import ApiRequest, ApiResponse
from .seed import seed_v1

VERSIONS = [
    {"label": label, "url": f"/services/data/v{version}", "version": version}
    for label, version in (
        ("Winter '24", "59.0"),
        ("Spring '24", "60.0"),
        ("Summer '24", "61.0"),
        ("Winter '25", "62.0"),
        ("Spring '25", "63.0"),
        ("Summer '25", "64.0"),
        ("Winter '26", "65.0"),
        ("Spring '26", "66.0"),
    )
]


@dataclass
class Stats:
    by_endpoint: Counter = field(default_factory=Counter)

    def count(self, kind: str) -> None:
        self.by_endpoint[kind] += 1

    def to_json(self) -> dict:
        return {"total": sum(self.by_endpoint.values()), "by_endpoint": dict(self.by_endpoint)}


@dataclass
class SandboxState:
    """Everything the handlers share; one per app (one org)."""

    org: Org
    sessions: auth.Sessions
    faults: Faults
    stats: Stats = field(default_factory=Stats)
    shutdown: asyncio.Event = field(default_factory=asyncio.Event)
    customers: list[str] = field(default_factory=list)
    jwt_key: object | None = None  # the External Client App's public key (JWT bearer flow)
    #: the org cost model (replaced as a whole by POST /__admin/cost-model)
    cost: CostModel = field(default_factory=CostModel)
    concurrency: Concurrency = field(init=False)
    bulk: bulk.BulkIngest = field(init=False)

    def __post_init__(self) -> None:
        self.concurrency = Concurrency(lambda: self.cost)
        self.bulk = bulk.BulkIngest(self.org, lambda: self.cost, self.org.files.root / "bulk")
        self.org.usage.bulk_batches_used = self.bulk.batches_used


STATE = web.AppKey("sandbox_state", SandboxState)


def _json(status: int, body: object, headers: dict | None = None) -> web.Response:
    if status == 204:
        return web.Response(status=204, headers=headers)
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


def _classify(method: str, path: str) -> str:
    """Endpoint kind of a request that failed before dispatch (for /__admin/stats)."""
    head = path.strip("/").split("/")[0]
    if head in ("query", "queryAll"):
        return head.lower() if path.strip("/").count("/") == 0 else "query_more"
    kinds = {"sobjects": "sobjects", "composite": "composite", "limits": "limits", "jobs": "bulk"}
    return {**kinds, "tooling": "tooling"}.get(head, "other")


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


# -- REST API ---------------------------------------------------------------------------------
async def api_handler(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    org = state.org
    tail = request.match_info["tail"]
    kind: str | None = None
    headers: dict[str, str] = {}
    ticket = None
    try:
        user_id = state.sessions.check(request.headers.get("Authorization"))
        # beyond the concurrent long-running request limit: refused before it counts as a call
        ticket = state.concurrency.enter()
        org.usage.check()
        org.usage.consume()
        headers["Sforce-Limit-Info"] = org.usage.header()
        await state.faults.apply(state.shutdown, lambda: request.transport is None)
        path = tail.strip("/")
        if path == "jobs/ingest" or path.startswith("jobs/ingest/"):
            kind, resp = await _bulk(request, state, path, user_id)
            await _charge(state)
            return await _respond(request, resp, headers)
        body, upload = await _read_body(request, org.files)
        req = ApiRequest(
            request.method,
            tail.strip("/"),
            request.query,
            body,
            request.headers,
            request.match_info["version"],
            user_id,
        )
        # dispatch is synchronous, so the records it counts are this request's alone
        org.take_records_processed()
        org.take_processed_by_object()
        try:
            kind, resp = org.dispatch(req)
        finally:
            if upload is not None:  # an upload no record took (a failed save)
                upload.path.unlink(missing_ok=True)
        await _charge(state)
        if isinstance(resp.body, files.BinaryBody):
            return await _stream_file(request, resp.body, headers)
        return _json(resp.status, resp.body, headers)
    except SfError as exc:
        if exc.status != 401:
            headers["Sforce-Limit-Info"] = org.usage.header()
        if ticket is not None:
            await _charge(state)
        return _json(exc.status, exc.body(), headers)
    except HangInterrupted:
        return _json(503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "shutting down"}])
    finally:
        if ticket is not None:
            ticket.exit()
        state.stats.count(kind or _classify(request.method, tail))


async def _bulk(
    request: web.Request, state: SandboxState, path: str, user_id: str | None
) -> tuple[str, ApiResponse]:
    """Bulk API 2.0 ingest (bulk.py): the upload streamed to the job's file, the rest JSON."""
    seg = path.split("/")[2:]
    if request.method == "PUT" and len(seg) == 2 and seg[1] == "batches":
        await state.bulk.upload(
            seg[0],
            request.headers.get("Content-Type", ""),
            request.content.iter_chunked(files.CHUNK),
        )
        return "bulk_upload", ApiResponse(201)
    body = await _read_json(request) if request.can_read_body else None
    req = ApiRequest(
        request.method,
        path,
        request.query,
        body,
        request.headers,
        request.match_info["version"],
        user_id,
    )
    return state.bulk.dispatch(req, seg)


async def _respond(
    request: web.Request, resp: ApiResponse, headers: dict[str, str]
) -> web.StreamResponse:
    if isinstance(resp.body, bulk.CsvBody):
        out = web.StreamResponse(
            status=resp.status, headers={**headers, "Content-Type": "text/csv; charset=UTF-8"}
        )
        await out.prepare(request)
        if resp.body.path is not None:
            with resp.body.path.open("rb") as src:
                while chunk := src.read(files.CHUNK):
                    await out.write(chunk)
        await out.write_eof()
        return out
    if resp.body is None and resp.status != 204:
        return web.Response(status=resp.status, headers=headers)
    return _json(resp.status, resp.body, headers)


async def _charge(state: SandboxState) -> None:
    """The server time of the request just dispatched: the flat per-record fault time and the
    cost model's overhead + time per record by object, as one asyncio sleep each."""
    org = state.org
    n, by_object = org.take_records_processed(), org.take_processed_by_object()
    await state.faults.records_saved(n)
    ms = state.cost.request_ms(by_object)
    if ms > 0:
        await asyncio.sleep(ms / 1000)


async def _read_body(
    request: web.Request, store: files.FileStore
) -> tuple[object, files.Blob | None]:
    """The request's JSON body, or a multipart/form-data body's JSON part with its binary part
    written to disk (returned as the Blob the body names)."""
    if not request.can_read_body:
        return None, None
    if request.content_type == "multipart/form-data":
        return await _read_multipart(request, store)
    return await _read_json(request), None


async def _read_json(request: web.Request) -> object:
    """A non-multipart body: at most 50 MB ("Insert or Update Blob Data"), read in chunks so a
    larger one is refused before it is held."""
    if (request.content_length or 0) > files.JSON_BODY_MAX:
        raise _body_too_large(request.content_length or 0)
    chunks = []
    size = 0
    async for chunk in request.content.iter_chunked(files.CHUNK):
        size += len(chunk)
        if size > files.JSON_BODY_MAX:
            raise _body_too_large(size)
        chunks.append(chunk)
    raw = b"".join(chunks)
    del chunks
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise SfError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from exc


def _body_too_large(size: int) -> SfError:
    return SfError(
        413,
        "MAXIMUM_SIZE_OF_DOCUMENT",
        f"The request body is {size} bytes; a non-multipart request takes at most "
        f"{files.JSON_BODY_MAX} bytes (send files as multipart/form-data)",
    )


async def _read_multipart(
    request: web.Request, store: files.FileStore
) -> tuple[object, files.Blob | None]:
    """multipart/form-data as "Insert or Update Blob Data" documents it: first a JSON part
    (named `entity_content` for ContentVersion; any `entity_*` name or application/json part is
    taken) with the record's fields, then the binary part named after the blob field
    (`VersionData`), streamed to a file under the state dir and hashed as it arrives (at most
    2 GB). A body cut short (a client killed mid-upload) leaves no file behind."""
    reader = await request.multipart()
    body: dict | None = None
    blob: files.Blob | None = None
    try:
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                raise SfError(400, "JSON_PARSER_ERROR", "nested multipart bodies are not supported")
            name = part.name or ""
            is_json = name.startswith("entity_") or (
                part.headers.get("Content-Type", "").split(";")[0].strip() == "application/json"
            )
            if is_json and body is None:
                raw = await part.read()
                try:
                    body = json.loads(raw) if raw.strip() else {}
                except ValueError as exc:
                    raise SfError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from exc
                if not isinstance(body, dict):
                    raise SfError(400, "JSON_PARSER_ERROR", "the JSON part must be an object")
                continue
            if blob is not None:
                raise SfError(400, "JSON_PARSER_ERROR", "one binary part per request")
            blob = await _write_part(part, store)
            if body is None:
                body = {}
            body[name or "VersionData"] = blob
    except BaseException:
        if blob is not None:
            blob.path.unlink(missing_ok=True)
        raise
    return body, blob


async def _write_part(part: BodyPartReader, store: files.FileStore) -> files.Blob:
    path = store.new_upload()
    md5 = hashlib.md5()
    size = 0
    try:
        with path.open("wb") as out:
            while chunk := await part.read_chunk(files.CHUNK):
                size += len(chunk)
                if size > files.MULTIPART_BLOB_MAX:
                    raise files.too_large(size, files.MULTIPART_BLOB_MAX, "multipart/form-data")
                md5.update(chunk)
                out.write(chunk)
    except BaseException:
        store.discard_upload(path)
        raise
    return files.Blob(path, size, md5.hexdigest())


async def _stream_file(
    request: web.Request, body: files.BinaryBody, headers: dict[str, str]
) -> web.StreamResponse:
    """The bytes of a file, read and sent a chunk at a time (no copy of the file in memory)."""
    resp = web.StreamResponse(
        status=200,
        headers={**headers, "Content-Type": body.content_type, "Content-Length": str(body.size)},
    )
    await resp.prepare(request)
    with body.path.open("rb") as src:
        while chunk := src.read(files.CHUNK):
            await resp.write(chunk)
    await resp.write_eof()
    return resp


async def versions_handler(request: web.Request) -> web.Response:
    return _json(200, VERSIONS)


# -- logins -----------------------------------------------------------------------------------
async def soap_login(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.stats.count("login")
    cfg = state.org.config
    version = request.match_info["version"]
    if not cfg.soap_login or _version_tuple(version) >= auth.FIRST_VERSION_WITHOUT_SOAP_LOGIN:
        # The fault code and text Salesforce sends here could not be confirmed from public
        # docs; the shape (a LoginFault with an exceptionCode) is the partner API's.
        why = (
            f"SOAP API login() is not available in API version {version}"
            if cfg.soap_login
            else "SOAP API login() is disabled in this org; use an External Client App (OAuth)"
        )
        return _xml(500, auth.soap_fault("INVALID_OPERATION", why))
    try:
        username, password = auth.soap_credentials(await request.read())
    except ValueError as exc:
        return _xml(500, auth.soap_fault("INVALID_LOGIN", str(exc)))
    user_id = state.org.active_user(username)
    if user_id is None or not auth.check_password(cfg, username, password, with_token=True):
        return _xml(500, auth.soap_fault("INVALID_LOGIN", auth.INVALID_LOGIN))
    server_url = f"{_base_url(request)}/services/Soap/u/{version}/{state.org.org_id[:15]}"
    xml = auth.soap_login_ok(
        server_url, state.sessions.issue(user_id), user_id, state.org.org_id, username
    )
    return _xml(200, xml)


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


def _xml(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/xml", charset="utf-8")


def _client_credentials(request: web.Request, form: Mapping[str, object]) -> tuple[str, str]:
    """client_id/secret from the form, or from HTTP Basic auth (client_credentials flow)."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode()
        except ValueError:
            return "", ""
        cid, _, secret = decoded.partition(":")
        return cid, secret
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))


async def oauth_token(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.stats.count("oauth_token")
    cfg = state.org.config
    form = await request.post()
    grant = form.get("grant_type")
    client_id, client_secret = _client_credentials(request, form)
    client_ok = client_id == cfg.client_id and client_secret == cfg.client_secret
    # the integration user: who the password flows log in as, and the client credentials
    # flow's run-as user; None once it is no active user of the org
    user_id = state.org.active_user(str(cfg.username))
    if grant == "password":
        ok = client_ok and auth.check_password(
            cfg, str(form.get("username", "")), str(form.get("password", "")), with_token=False
        )
    elif grant == "client_credentials":
        ok = client_ok
        if not ok and client_id != cfg.client_id:
            return _json(
                400,
                {"error": "invalid_client_id", "error_description": "client identifier invalid"},
            )
        if not ok:
            return _json(
                400, {"error": "invalid_client", "error_description": "invalid client credentials"}
            )
    elif grant == auth.JWT_GRANT:
        try:
            user_id = auth.verify_jwt_assertion(
                str(form.get("assertion", "")),
                state.jwt_key,
                cfg,
                _base_url(request),
                state.org.active_user,
            )
        except auth.OAuthError as exc:
            return _json(400, {"error": exc.error, "error_description": exc.description})
        ok = True
    else:
        return _json(
            400,
            {"error": "unsupported_grant_type", "error_description": "grant type not supported"},
        )
    if not ok or user_id is None:
        return _json(400, {"error": "invalid_grant", "error_description": "authentication failure"})
    base = _base_url(request)
    return _json(
        200,
        {
            "access_token": state.sessions.issue(user_id),
            "instance_url": base,
            "id": f"{base}/id/{state.org.org_id}/{user_id}",
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
            "signature": "c2FuZGJveA==",
        },
    )


# -- admin ------------------------------------------------------------------------------------
async def admin_ready(request: web.Request) -> web.Response:
    return _json(200, {"status": "ready", "org": request.app[STATE].org.config.org})


async def admin_stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return _json(200, {**state.stats.to_json(), "hanging": state.faults.hanging})


async def admin_stats_reset(request: web.Request) -> web.Response:
    request.app[STATE].stats.by_endpoint.clear()
    return _json(200, {"total": 0, "by_endpoint": {}})


def _faults_json(state: SandboxState) -> dict:
    usage = state.org.usage
    return {
        **state.faults.to_json(),
        "limit_after": usage.limit_after,
        "api_daily_max": usage.daily_max,
        "api_used": usage.used,
    }


async def admin_faults(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.method == "POST":
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            state.faults.update(data)
            if "limit_after" in data:
                n = data["limit_after"]
                state.org.usage.set_limit_after(None if n is None else int(n))
            if "api_daily_max" in data:
                state.org.usage.daily_max = int(data["api_daily_max"])
        except (ValueError, TypeError) as exc:
            return _json(400, {"error": str(exc)})
    return _json(200, _faults_json(state))


async def admin_record_faults(request: web.Request) -> web.Response:
    """GET: the record faults; POST {"Contact": {"rate": 0.1, "code": ..., "field": "Email"}}
    replaces them all ({} clears). 400 (nothing changes) on a bad object, field or rate."""
    org = request.app[STATE].org
    if request.method == "POST":
        try:
            org.set_record_faults(RecordFaults.from_json(await request.json()))
        except (ValueError, TypeError) as exc:
            return _json(400, {"error": str(exc)})
    return _json(200, {"seed": org.record_faults.seed, "faults": org.record_faults.to_json()})


async def admin_expire(request: web.Request) -> web.Response:
    return _json(200, {"expired": request.app[STATE].sessions.expire_all()})


async def admin_sessions(request: web.Request) -> web.Response:
    """POST {"username": "..."}: a session as that active user of the org, without a login flow
    (a test acting as an agent in an org that has no JWT certificate, e.g. the dev stack's V1).
    Sandbox only: real orgs hand out sessions through a login. 400 for no active user."""
    state = request.app[STATE]
    try:
        data = await request.json()
        name = str(data["username"]) if isinstance(data, dict) else ""
    except (ValueError, KeyError) as exc:
        return _json(400, {"error": f"expected {{'username': ...}}: {exc}"})
    user_id = state.org.active_user(name)
    if user_id is None:
        return _json(400, {"error": f"no active user {name!r} in this org"})
    base = _base_url(request)
    return _json(
        200,
        {
            "access_token": state.sessions.issue(user_id),
            "instance_url": base,
            "id": f"{base}/id/{state.org.org_id}/{user_id}",
            "user_id": user_id,
        },
    )


async def admin_concurrency(request: web.Request) -> web.Response:
    """GET: requests in flight, long-running ones, their peaks since start or the last reset,
    and the requests refused with ConcurrentPerOrgLongTxn. POST .../reset: peaks := now."""
    c = request.app[STATE].concurrency
    if request.method == "POST":
        c.reset_peaks()
    return _json(200, c.to_json())


async def admin_cost_model(request: web.Request) -> web.Response:
    """GET: the cost model's options; POST {...}: a partial update (400, nothing changes, on a
    bad option)."""
    state = request.app[STATE]
    if request.method == "POST":
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            state.cost = state.cost.updated(data)
        except (ValueError, TypeError) as exc:
            return _json(400, {"error": str(exc)})
    return _json(200, state.cost.to_json())


async def admin_bulk(request: web.Request) -> web.Response:
    """GET: Bulk API 2.0 jobs by state, the rolling 24 h allocation used, batches processing now
    and their peak. POST {"daily_records_max": n, "daily_batches_max": n}: lower the daily
    allocation (tests)."""
    ingest = request.app[STATE].bulk
    if request.method == "POST":
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            if "daily_records_max" in data:
                ingest.daily_records_max = int(data["daily_records_max"])
            if "daily_batches_max" in data:
                ingest.daily_batches_max = int(data["daily_batches_max"])
                request.app[STATE].org.usage.bulk_batches_max = ingest.daily_batches_max
        except (ValueError, TypeError) as exc:
            return _json(400, {"error": str(exc)})
    return _json(200, ingest.admin_json())


async def admin_clock(request: web.Request) -> web.Response:
    """POST {"advance_s": n}: move the org's clock forward (Bulk API 2.0 jobs expire after 7
    days, the daily allocations roll over 24 h)."""
    ingest = request.app[STATE].bulk
    if request.method == "POST":
        try:
            data = await request.json()
            ingest.clock.advance(float(data.get("advance_s", 0)))
        except (ValueError, TypeError, AttributeError) as exc:
            return _json(400, {"error": str(exc)})
        ingest.expire()
    return _json(200, {"now": bulk._iso(ingest.clock.now()), "offset_s": ingest.clock.offset_s})


async def admin_customers(request: web.Request) -> web.Response:
    return _json(200, request.app[STATE].customers)


async def admin_counts(request: web.Request) -> web.Response:
    return _json(200, request.app[STATE].org.store.counts())


# -- app --------------------------------------------------------------------------------------
def build_app(config: SandboxConfig) -> web.Application:
    """The aiohttp app of one org, seeded (v1: `customers` customers) and ready to serve."""
    org = Org(config)
    cfg = org.config
    state = SandboxState(
        org,
        auth.Sessions(org.org_id, cfg.session_ttl_s),
        Faults(latency_ms=cfg.latency_ms, jitter_ms=cfg.jitter_ms, per_record_ms=cfg.per_record_ms),
        cost=cfg.cost_model,
    )
    state.faults.rng.seed(cfg.seed)
    if cfg.jwt_cert:
        state.jwt_key = auth.load_verification_key(cfg.jwt_cert)
    if cfg.customers:
        if cfg.org != "v1":
            raise ValueError("only the v1 org is seeded with customers")
        seed_v1(
            org.store,
            cfg.customers,
            cfg.seed,
            cfg.dirty_rate,
            org.reference_ids,
            cfg.seed_options(),
            org.files,
        )
        state.customers = list(org.store.table("Account").rows)
    # bodies are read by _read_json / _read_multipart with their own (Salesforce's) limits
    app = web.Application(client_max_size=files.JSON_BODY_MAX + 1024 * 1024)
    app[STATE] = state

    async def on_shutdown(_: web.Application) -> None:
        state.shutdown.set()  # releases hung requests

    async def on_cleanup(_: web.Application) -> None:
        state.bulk.close()
        org.files.close()  # a temporary state dir goes; a given one keeps its files

    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    r = app.router
    r.add_post(r"/services/Soap/u/{version:[^/]+}{rest:/?.*}", soap_login)
    r.add_post(r"/services/oauth2/token{slash:/?}", oauth_token)
    r.add_get(r"/services/data{slash:/?}", versions_handler)
    r.add_route("*", r"/services/data/v{version:\d+\.\d+}{tail:(/.*)?}", api_handler)
    r.add_get("/__admin/ready", admin_ready)
    r.add_get("/__admin/stats", admin_stats)
    r.add_post("/__admin/stats/reset", admin_stats_reset)
    r.add_route("GET", "/__admin/faults", admin_faults)
    r.add_route("POST", "/__admin/faults", admin_faults)
    r.add_route("GET", "/__admin/faults/records", admin_record_faults)
    r.add_route("POST", "/__admin/faults/records", admin_record_faults)
    r.add_post("/__admin/expire-sessions", admin_expire)
    r.add_post("/__admin/sessions", admin_sessions)
    r.add_get("/__admin/concurrency", admin_concurrency)
    r.add_post("/__admin/concurrency/reset", admin_concurrency)
    r.add_route("GET", "/__admin/cost-model", admin_cost_model)
    r.add_route("POST", "/__admin/cost-model", admin_cost_model)
    r.add_route("GET", "/__admin/bulk", admin_bulk)
    r.add_route("POST", "/__admin/bulk", admin_bulk)
    r.add_route("GET", "/__admin/clock", admin_clock)
    r.add_route("POST", "/__admin/clock", admin_clock)
    r.add_get("/__admin/customers", admin_customers)
    r.add_get("/__admin/counts", admin_counts)
    return app
