"""The worker's long-lived clients, owned by one mode.Service started and stopped with the app.

One client per dependency (registry, two Salesforce orgs, PostgreSQL), each created at start with
explicit timeouts and closed at stop. Connecting is retried in the background with capped backoff,
so a dependency that is down at boot delays work (health says so) instead of crashing the worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from typing import Any

from mode import Service

from migration_app.audit.concurrency_leases import PostgresLeases
from migration_app.audit.store import AuditStore
from migration_app.backoff import backoff_delays
from migration_app.client_config import audit_config, registry_config, salesforce_config
from migration_app.contracts.schemas import CUSTOMER_SUBJECT, RESULT_SUBJECT, load_schema
from migration_app.migration.spec import MappingSpec, load_mapping
from migration_app.ops import metrics
from migration_app.registry.avro import AvroCodec
from migration_app.registry.client import RegistryClient
from migration_app.salesforce.client import SalesforceClient
from migration_app.salesforce.org_clients import org_budgets
from migration_app.settings import Settings
from migration_app.verify.execution import SampledVerifier
from migration_app.worker.reference_cache import ReferenceCache

log = logging.getLogger(__name__)


class Runtime(Service):
    """Clients shared by the agent, the web views, health checks and CLI commands."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.worker_name = socket.gethostname()
        self.spec: MappingSpec = load_mapping(settings.mapping_file or None)
        self.registry = RegistryClient(registry_config(settings))
        self.codec = AvroCodec(
            self.registry,
            {
                CUSTOMER_SUBJECT: load_schema(CUSTOMER_SUBJECT),
                RESULT_SUBJECT: load_schema(RESULT_SUBJECT),
            },
        )
        self.audit = AuditStore(audit_config(settings))
        #: each org's concurrency budget shared with the other workers (salesforce/budget.py)
        holder = f"{self.worker_name}:{os.getpid()}:{secrets.token_hex(3)}"
        self.budgets = org_budgets(settings, PostgresLeases(self.audit), holder)
        self.sf1 = SalesforceClient(
            salesforce_config(settings, "sf1"),
            on_call=self._count_call,
            budget=self.budgets.get("sf1"),
        )
        self.sf2 = SalesforceClient(
            salesforce_config(settings, "sf2"),
            on_call=self._count_call,
            budget=self.budgets.get("sf2"),
        )
        #: V2 users and record types for the transform (loaded before ready, then on a timer)
        self.reference = ReferenceCache(self.spec, self.sf2)
        self.verifier = SampledVerifier(
            settings.verify_sample,
            self.spec,
            self.sf1,
            self.sf2,
            self.audit,
            reference=self.reference.snapshot,
            integration_username=settings.sf2.username,
        )
        self.add_dependency(self.verifier)  # its background task stops with the runtime
        self.ready_event = asyncio.Event()

    def _count_call(self, org: str, endpoint: str, status: int) -> None:
        """Every Salesforce HTTP response: a metric, and the remaining daily allocation."""
        if endpoint == "request_limit_exceeded":  # the org refused a call (the client retries)
            metrics.REQUEST_LIMIT_EXCEEDED.labels(org=org).inc()
            return
        metrics.SALESFORCE_API_CALLS.labels(org=org, endpoint=endpoint, status=str(status)).inc()
        client = self.sf1 if org == "sf1" else self.sf2
        if client.api_remaining is not None:
            metrics.SALESFORCE_API_REMAINING.labels(org=org).set(client.api_remaining)

    def access_tokens(self) -> list[str | None]:
        """The credentials these clients hold right now (not configured anywhere): the orgs'
        current sessions, for the scrubber of error text."""
        return [self.sf1.access_token, self.sf2.access_token]

    async def on_start(self) -> None:
        await self.registry.start()
        await self.sf1.start()
        await self.sf2.start()
        for budget in self.budgets.values():
            budget.start()  # leases as soon as the audit database is there
        self.add_future(self._connect())

    async def _connect(self) -> None:
        """Register schemas and prepare the audit schema, retrying until both work."""
        delays = backoff_delays(0.5, 10.0)
        pending = {
            "registry": self.codec.start,
            "database": self.audit.start,
            "V2 reference data": self.reference.refresh,
        }
        while pending and not self.should_stop:
            delay = next(delays)
            for name, start in list(pending.items()):
                try:
                    await start()
                except Exception as exc:
                    log.warning("runtime: %s not ready (%s); retrying in %.1fs", name, exc, delay)
                else:
                    del pending[name]
            if pending:
                await asyncio.sleep(delay)
        self.ready_event.set()
        log.info("runtime: registry, database and V2 reference data ready")
        if self.spec.needs_reference_data and not self.should_stop:
            self.add_future(self._refresh_reference_data())

    async def _refresh_reference_data(self) -> None:
        """Re-read V2's users and record types every refresh_seconds (mapping); a failed refresh
        keeps the last snapshot. Service.sleep returns early when the service stops, and the
        future is cancelled with it."""
        interval = self.spec.refresh_seconds
        while not self.should_stop:
            await self.sleep(interval)
            if self.should_stop:
                break
            try:
                await self.reference.refresh()
            except Exception as exc:
                log.warning("reference data refresh failed (%s); keeping the last snapshot", exc)

    async def wait_ready(self) -> None:
        await self.ready_event.wait()

    async def on_stop(self) -> None:
        await self.sf1.close()
        await self.sf2.close()
        await self.registry.close()
        for budget in self.budgets.values():  # the clients' requests are over: slots back
            await budget.stop()
        await self.audit.close()

    def concurrency(self) -> dict[str, dict[str, int]]:
        """Each org's budget as this worker sees it (/metrics)."""
        return {org: budget.snapshot() for org, budget in self.budgets.items()}
