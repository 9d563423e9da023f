"""The worker's long-lived clients, owned by one mode.Service started and stopped with the app.

One client per dependency (registry, two Salesforce orgs, PostgreSQL), each created at start with
explicit timeouts and closed at stop. Connecting is retried in the background with capped backoff,
so a dependency that is down at boot delays work (health says so) instead of crashing the worker.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from mode import Service

from migration_app import metrics
from migration_app.audit import AuditSettings, AuditStore
from migration_app.avro import AvroCodec
from migration_app.migration.spec import MappingSpec, load_mapping
from migration_app.registry import RegistryClient, RegistrySettings
from migration_app.salesforce import SalesforceClient, SalesforceSettings
from migration_app.salesforce_http import HttpSettings
from migration_app.schemas import CUSTOMER_SUBJECT, RESULT_SUBJECT, load_schema
from migration_app.settings import Settings

log = logging.getLogger(__name__)


def _sf_settings(settings: Settings, org: str) -> SalesforceSettings:
    return SalesforceSettings(
        name=org,
        url=getattr(settings, f"{org}_url"),
        username=getattr(settings, f"{org}_username"),
        password=getattr(settings, f"{org}_password"),
        security_token=getattr(settings, f"{org}_security_token"),
        api_version=settings.sf_api_version,
        http=HttpSettings(
            connect_timeout=settings.sf_connect_timeout,
            read_timeout=settings.sf_read_timeout,
            pool_maxsize=settings.sf_max_workers,
        ),
        max_workers=settings.sf_max_workers,
        max_retries=settings.sf_max_retries,
    )


class Runtime(Service):
    """Clients shared by the agent, the web views, health checks and CLI commands."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.worker_name = socket.gethostname()
        self.spec: MappingSpec = load_mapping(settings.mapping_file or None)
        self.registry = RegistryClient(
            RegistrySettings(
                url=settings.registry_url,
                username=settings.registry_username or None,
                password=settings.registry_password.reveal() or None,
                total_timeout=settings.registry_timeout,
                connect_timeout=min(2.0, settings.registry_timeout),
            )
        )
        self.codec = AvroCodec(
            self.registry,
            {
                CUSTOMER_SUBJECT: load_schema(CUSTOMER_SUBJECT),
                RESULT_SUBJECT: load_schema(RESULT_SUBJECT),
            },
        )
        self.sf1 = SalesforceClient(_sf_settings(settings, "sf1"), on_call=self._count_call)
        self.sf2 = SalesforceClient(_sf_settings(settings, "sf2"), on_call=self._count_call)
        self.audit = AuditStore(
            AuditSettings(
                dsn=settings.database_url.reveal(),
                pool_max=settings.database_pool_size,
                timeout=settings.database_timeout,
            )
        )
        self.ready_event = asyncio.Event()

    def _count_call(self, org: str, endpoint: str, status: int) -> None:
        """Every Salesforce HTTP response: a metric, and the remaining daily allocation."""
        metrics.SALESFORCE_API_CALLS.labels(org=org, endpoint=endpoint, status=str(status)).inc()
        client = self.sf1 if org == "sf1" else self.sf2
        if client.api_remaining is not None:
            metrics.SALESFORCE_API_REMAINING.labels(org=org).set(client.api_remaining)

    async def on_start(self) -> None:
        await self.registry.start()
        await self.sf1.start()
        await self.sf2.start()
        self.add_future(self._connect())

    async def _connect(self) -> None:
        """Register schemas and prepare the audit schema, retrying until both work."""
        delay = 0.5
        pending = {"registry": self.codec.start, "database": self.audit.start}
        while pending and not self.should_stop:
            for name, start in list(pending.items()):
                try:
                    await start()
                except Exception as exc:
                    log.warning("runtime: %s not ready (%s); retrying in %.1fs", name, exc, delay)
                else:
                    del pending[name]
            if pending:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        self.ready_event.set()
        log.info("runtime: registry and database ready")

    async def wait_ready(self) -> None:
        await self.ready_event.wait()

    async def on_stop(self) -> None:
        await self.sf1.close()
        await self.sf2.close()
        await self.registry.close()
        await self.audit.close()
