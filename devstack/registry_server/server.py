"""aiohttp routes for the Confluent Schema Registry REST subset our clients use.

Covers what python-schema-registry-client 2.6 and confluent-kafka 2.16 (SchemaRegistryClient,
AvroSerializer/AvroDeserializer) call. Unknown routes answer Jersey-style JSON 404s, which is also
what confluent-kafka's association lookup (``GET /associations/resources/...``) needs: it treats a
404 as "no associations" and falls back to TopicNameStrategy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from .store import RegistryError, Store, subject_not_found

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
STORE_KEY: web.AppKey[Store] = web.AppKey("store", Store)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def reply(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type=CONTENT_TYPE)


def error_reply(status: int, error_code: int, message: str) -> web.Response:
    return reply({"error_code": error_code, "message": message}, status)


def qbool(request: web.Request, name: str) -> bool:
    """Query-string booleans, case-insensitive like Jersey's (``?permanent=TRUE``)."""
    return request.query.get(name, "false").strip().lower() == "true"


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RegistryError as exc:
        return error_reply(exc.status, exc.error_code, exc.message)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return error_reply(exc.status, exc.status, f"HTTP {exc.status} {exc.reason}")
        raise
    except Exception:
        log.exception("registry handler failed: %s %s", request.method, request.path)
        return error_reply(500, 50001, "Error in the backend data store")


async def read_json(request: web.Request) -> Any:
    text = await request.text()
    try:
        return json.loads(text) if text else {}
    except ValueError:
        raise RegistryError(400, 400, "Unrecognized JSON body") from None


class Routes:
    """Handlers; each reads the request, calls the store, persists mutations, replies."""

    def __init__(self, store: Store, persist: Callable[[], Awaitable[None]]) -> None:
        self.store = store
        self.persist = persist

    async def root(self, request: web.Request) -> web.Response:
        return reply({})

    async def schema_types(self, request: web.Request) -> web.Response:
        return reply(["AVRO"])

    async def subjects(self, request: web.Request) -> web.Response:
        names = self.store.subject_names(deleted=qbool(request, "deleted"))
        if qbool(request, "deleted_only"):
            live = set(self.store.subject_names())
            names = [n for n in names if n not in live]
        prefix = request.query.get("subjectPrefix")
        if prefix:
            names = [n for n in names if n.startswith(prefix)]
        return reply(names)

    async def versions(self, request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        return reply(self.store.version_numbers(subject, deleted=qbool(request, "deleted")))

    async def register(self, request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        parsed = self.store.parse_request(await read_json(request))
        schema_id = self.store.register(subject, parsed)
        await self.persist()
        return reply({"id": schema_id})

    async def lookup(self, request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        deleted = qbool(request, "deleted")
        if subject not in self.store.subject_names(deleted=deleted):
            raise subject_not_found(subject)
        parsed = self.store.parse_request(await read_json(request))
        version = self.store.lookup(subject, parsed, deleted=deleted)
        return reply(self._version_body(subject, version.version, version.schema_id))

    async def get_version(self, request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        version = self.store.get_version(
            subject, request.match_info["version"], deleted=qbool(request, "deleted")
        )
        return reply(self._version_body(subject, version.version, version.schema_id))

    async def get_version_schema(self, request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        version = self.store.get_version(
            subject, request.match_info["version"], deleted=qbool(request, "deleted")
        )
        return reply(json.loads(self.store.schemas[version.schema_id].canonical))

    async def delete_subject(self, request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        versions = self.store.delete_subject(subject, permanent=qbool(request, "permanent"))
        await self.persist()
        return reply(versions)

    async def delete_version(self, request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        version = self.store.delete_version(
            subject, request.match_info["version"], permanent=qbool(request, "permanent")
        )
        await self.persist()
        return reply(version)

    async def schema_by_id(self, request: web.Request) -> web.Response:
        parsed = self.store.schema_by_id(self._schema_id(request))
        return reply({"schema": parsed.canonical})

    async def schema_text_by_id(self, request: web.Request) -> web.Response:
        parsed = self.store.schema_by_id(self._schema_id(request))
        return reply(json.loads(parsed.canonical))

    async def schema_versions_by_id(self, request: web.Request) -> web.Response:
        schema_id = self._schema_id(request)
        self.store.schema_by_id(schema_id)
        pairs = self.store.versions_of_id(schema_id, deleted=qbool(request, "deleted"))
        return reply([{"subject": s, "version": v} for s, v in pairs])

    async def schema_subjects_by_id(self, request: web.Request) -> web.Response:
        schema_id = self._schema_id(request)
        self.store.schema_by_id(schema_id)
        pairs = self.store.versions_of_id(schema_id, deleted=qbool(request, "deleted"))
        return reply(sorted({s for s, _ in pairs}))

    async def compatibility(self, request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        raw_version = request.match_info.get("version")
        parsed = self.store.parse_request(await read_json(request))
        messages = self.store.incompatibilities(subject, parsed, raw_version)
        body: dict[str, Any] = {"is_compatible": not messages}
        if qbool(request, "verbose"):
            body["messages"] = messages
        return reply(body)

    async def get_config(self, request: web.Request) -> web.Response:
        subject = request.match_info.get("subject")
        if not subject:
            return reply({"compatibilityLevel": self.store.global_level})
        level = self.store.subject_levels.get(subject)
        if level is None:
            if not qbool(request, "defaultToGlobal"):
                raise RegistryError(
                    404,
                    40408,
                    f"Subject '{subject}' does not have subject-level compatibility configured",
                )
            level = self.store.global_level
        return reply({"compatibilityLevel": level})

    async def put_config(self, request: web.Request) -> web.Response:
        subject = request.match_info.get("subject")
        level = self.store.normalise_level(await read_json(request))
        if subject:
            self.store.subject_levels[subject] = level
        else:
            self.store.global_level = level
        await self.persist()
        return reply({"compatibility": level})

    async def delete_config(self, request: web.Request) -> web.Response:
        subject = request.match_info.get("subject")
        if not subject:
            old, self.store.global_level = self.store.global_level, "BACKWARD"
        else:
            old = self.store.subject_levels.pop(subject, None)
            if old is None:
                raise subject_not_found(subject)
        await self.persist()
        return reply({"compatibilityLevel": old})

    async def mode(self, request: web.Request) -> web.Response:
        return reply({"mode": "READWRITE"})

    async def associations(self, request: web.Request) -> web.Response:
        # Data-contract associations are not implemented; confluent-kafka 2.16's default subject
        # name strategy asks here first and falls back to TopicNameStrategy on any 404.
        return error_reply(404, 404, "HTTP 404 Not Found")

    def _version_body(self, subject: str, version: int, schema_id: int) -> dict[str, Any]:
        return {
            "subject": subject,
            "version": version,
            "id": schema_id,
            "schema": self.store.schemas[schema_id].canonical,
        }

    @staticmethod
    def _schema_id(request: web.Request) -> int:
        try:
            return int(request.match_info["id"])
        except ValueError:
            raise RegistryError(404, 40403, "Schema not found") from None


def _add_routes(app: web.Application, r: Routes) -> None:
    add = app.router.add_route
    add("GET", "/", r.root)
    add("GET", "/schemas/types", r.schema_types)
    for path in ("/subjects", "/subjects/"):
        add("GET", path, r.subjects)
    add("GET", "/subjects/{subject}/versions", r.versions)
    add("POST", "/subjects/{subject}/versions", r.register)
    add("POST", "/subjects/{subject}", r.lookup)
    add("DELETE", "/subjects/{subject}", r.delete_subject)
    add("GET", "/subjects/{subject}/versions/{version}", r.get_version)
    add("GET", "/subjects/{subject}/versions/{version}/schema", r.get_version_schema)
    add("DELETE", "/subjects/{subject}/versions/{version}", r.delete_version)
    add("GET", "/schemas/ids/{id}", r.schema_by_id)
    add("GET", "/schemas/ids/{id}/schema", r.schema_text_by_id)
    add("GET", "/schemas/ids/{id}/versions", r.schema_versions_by_id)
    add("GET", "/schemas/ids/{id}/subjects", r.schema_subjects_by_id)
    add("POST", "/compatibility/subjects/{subject}/versions", r.compatibility)
    add("POST", "/compatibility/subjects/{subject}/versions/{version}", r.compatibility)
    for path in ("/config", "/config/", "/config/{subject}", "/config/{subject}/"):
        add("GET", path, r.get_config)
        add("PUT", path, r.put_config)
        add("DELETE", path, r.delete_config)
    for path in ("/mode", "/mode/"):
        add("GET", path, r.mode)
    add("GET", "/associations/{tail:.*}", r.associations)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write-then-rename so a crash never leaves a half-written store behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_app(data_file: str | os.PathLike[str] | None = None) -> web.Application:
    """The registry as an aiohttp app; with ``data_file`` state survives restarts.

    The file is read once here (start-up, before the loop serves anything) and rewritten in a
    worker thread after every mutation, so handlers never block the loop on disk I/O.
    """
    store = Store()
    path = Path(data_file) if data_file else None
    if path is not None and path.exists():
        store.restore(json.loads(path.read_text(encoding="utf-8")))
    lock = asyncio.Lock()

    async def persist() -> None:
        if path is None:
            return
        snapshot = store.snapshot()
        async with lock:
            await asyncio.to_thread(write_json_atomic, path, snapshot)

    app = web.Application(middlewares=[errors_middleware])
    app[STORE_KEY] = store
    _add_routes(app, Routes(store, persist))
    return app


@dataclass
class RunningRegistry:
    """A started server: its URL and how to stop it."""

    runner: web.AppRunner
    url: str
    port: int

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_registry(
    host: str = "127.0.0.1", port: int = 0, data_file: str | os.PathLike[str] | None = None
) -> RunningRegistry:
    """Start serving on ``host:port`` (0 = ephemeral) in the running loop."""
    runner = web.AppRunner(
        build_app(data_file), access_log=None, handle_signals=False, shutdown_timeout=1.0
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = int(runner.addresses[0][1])
    return RunningRegistry(runner=runner, url=f"http://{host}:{bound}", port=bound)
