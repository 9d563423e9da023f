"""The app's schema registry client: one long-lived aiohttp session, bounded, never blocking.

Not python-schema-registry-client: its sync client calls the registry synchronously on a cache
miss and both of its clients build a new httpx client per request (``with httpx.Client(...)`` in
``SchemaRegistryClient.request``, ``async with httpx.AsyncClient(...)`` in
``AsyncSchemaRegistryClient.request``). Here every call shares one session with explicit connect
and total timeouts and a pooled connector; schemas by id are immutable, so they are cached forever
and concurrent misses for one id share a single request.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from migration_app.registry.errors import RegistryRejected, RegistryUnavailable, SchemaNotFound

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
ACCEPT = f"{CONTENT_TYPE}, application/vnd.schemaregistry+json, application/json"
NEGATIVE_TTL = 10.0  # seconds an unknown id is remembered, so a flood of poison stays cheap
MAX_UNKNOWN = 1024

AvroSchema = dict[str, Any] | list[Any] | str


@dataclass(frozen=True)
class RegistrySettings:
    """Where the registry is and how long we wait for it."""

    url: str
    username: str | None = None
    password: str | None = None
    connect_timeout: float = 2.0
    total_timeout: float = 5.0
    pool_limit: int = 8

    def __repr__(self) -> str:
        secret = "***" if self.password else None
        return (
            f"RegistrySettings(url={self.url!r}, username={self.username!r}, "
            f"password={secret!r}, connect_timeout={self.connect_timeout}, "
            f"total_timeout={self.total_timeout}, pool_limit={self.pool_limit})"
        )

    __str__ = __repr__


class RegistryClient:
    """Async Confluent Schema Registry client; ``start()`` before use, ``close()`` at stop."""

    def __init__(self, settings: RegistrySettings) -> None:
        self.settings = settings
        self._base = settings.url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._schemas: dict[int, AvroSchema] = {}
        self._unknown: dict[int, float] = {}
        self._inflight: dict[int, asyncio.Task[AvroSchema]] = {}
        self.requests = 0  # HTTP requests sent, for tests and metrics

    async def start(self) -> None:
        if self._session is not None:
            return
        auth = None
        if self.settings.username is not None:
            auth = aiohttp.BasicAuth(self.settings.username, self.settings.password or "")
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(
                total=self.settings.total_timeout, sock_connect=self.settings.connect_timeout
            ),
            connector=aiohttp.TCPConnector(limit=self.settings.pool_limit),
            auth=auth,
            headers={"Accept": ACCEPT},
            raise_for_status=False,
        )

    async def close(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> RegistryClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ---- API -------------------------------------------------------------------------------
    async def register(self, subject: str, schema: AvroSchema) -> int:
        """Register (idempotent) and return the global id; 409/422 raise RegistryRejected."""
        body = {"schema": json.dumps(schema)}
        status, data = await self._request(
            "POST", f"/subjects/{quote(subject, safe='')}/versions", body
        )
        if status == 200:
            return int(data["id"])
        raise RegistryRejected(status, _error_code(data), _message(data), subject)

    def cached_schema(self, schema_id: int) -> AvroSchema | None:
        """The schema if already fetched; never does I/O (the codec's hot path)."""
        return self._schemas.get(schema_id)

    async def get_schema(self, schema_id: int) -> AvroSchema:
        """Writer schema by id: cached forever, concurrent misses single-flighted.

        Raises SchemaNotFound (a PoisonMessage) for ids the registry does not know and
        RegistryUnavailable when it cannot be asked.
        """
        cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        seen_missing = self._unknown.get(schema_id)
        if seen_missing is not None and time.monotonic() - seen_missing < NEGATIVE_TTL:
            raise SchemaNotFound(schema_id)
        task = self._inflight.get(schema_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(
                self._fetch(schema_id), name=f"registry-fetch-schema-{schema_id}"
            )
            self._inflight[schema_id] = task
            task.add_done_callback(lambda _t, key=schema_id: self._inflight.pop(key, None))
        # shield: one waiter being cancelled must not cancel the fetch the others wait on.
        return await asyncio.shield(task)

    async def ping(self) -> None:
        """Cheap health probe (``GET /config``); raises RegistryUnavailable on any failure."""
        status, _ = await self._request("GET", "/config")
        if status != 200:
            raise RegistryUnavailable(f"registry health probe answered HTTP {status}")

    # ---- internals -------------------------------------------------------------------------
    async def _fetch(self, schema_id: int) -> AvroSchema:
        status, data = await self._request("GET", f"/schemas/ids/{schema_id}")
        if status == 404:
            now = time.monotonic()
            if len(self._unknown) >= MAX_UNKNOWN:  # random garbage ids must not grow memory
                self._unknown = {k: t for k, t in self._unknown.items() if now - t < NEGATIVE_TTL}
            self._unknown[schema_id] = now
            raise SchemaNotFound(schema_id)
        if status != 200:
            raise RegistryUnavailable(
                f"registry answered HTTP {status} for schema {schema_id}: {_message(data)}"
            )
        try:
            schema = json.loads(data["schema"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RegistryUnavailable(f"registry sent a malformed schema {schema_id}") from exc
        self._schemas[schema_id] = schema
        return schema

    async def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        """Send one request; 5xx, 401/403, timeouts and transport errors -> RegistryUnavailable."""
        if self._session is None:
            raise RuntimeError("RegistryClient.start() was not awaited")
        url = self._base + path
        self.requests += 1
        try:
            async with self._session.request(
                method,
                url,
                data=None if body is None else json.dumps(body),
                headers=None if body is None else {"Content-Type": CONTENT_TYPE},
            ) as response:
                text = await response.text()
                status = response.status
        except TimeoutError as exc:
            raise RegistryUnavailable(
                f"registry {method} {path} timed out after {self.settings.total_timeout}s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise RegistryUnavailable(f"registry {method} {path} failed: {exc!r}") from exc
        if status >= 500 or status in (401, 403, 408, 429):
            raise RegistryUnavailable(f"registry {method} {path} answered HTTP {status}")
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = {"message": text[:200]}
        return status, data


def _error_code(data: Any) -> int | None:
    return data.get("error_code") if isinstance(data, dict) else None


def _message(data: Any) -> str:
    return str(data.get("message", "")) if isinstance(data, dict) else str(data)[:200]
