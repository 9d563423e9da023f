"""Each org's concurrency budget for one holder, and Salesforce clients inside it for the work
that runs outside the worker (the CLI commands).

Why: the budget (``budget.py``) bounds the requests in flight to an org across every worker, but
only if everything that calls the org leases from it. ``verify``, ``resync``, ``preflight`` and
``enqueue --all-seeded`` built their own clients and went around it, so a command run beside
busy workers could take the org past its long-running request limit. With a database configured
they now lease as one more holder of the same budget (their fair share, within about a second),
and give their slots back on exit. Without a database there is no shared budget to lease from
(dev mode without ``make dev``'s PostgreSQL): the clients run without one, as before.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

from migration_app.audit.concurrency_leases import PostgresLeases
from migration_app.audit.store import AuditStore
from migration_app.client_config import ORGS, Org, audit_config, salesforce_config
from migration_app.salesforce.budget import LeaseStore, OrgBudget
from migration_app.salesforce.client import CallObserver, SalesforceClient
from migration_app.settings import Settings

#: the lease pool's connections: the two orgs' syncs run at once
LEASE_POOL_SIZE = 2


def holder_name(role: str) -> str:
    """A holder unique to this process (the console lists holders by it)."""
    return f"{role}:{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def org_budgets(
    settings: Settings, leases: LeaseStore, holder: str, orgs: Sequence[Org] = ORGS
) -> dict[Org, OrgBudget]:
    """Each org's budget for ``holder``; an org whose budget is 0 has none (turned off)."""
    return {
        org: OrgBudget(
            org,
            limit=settings.org(org).concurrent_requests,
            local_max=settings.sf_max_workers,
            holder=holder,
            leases=leases,
        )
        for org in orgs
        if settings.org(org).concurrent_requests > 0
    }


@asynccontextmanager
async def org_clients(
    settings: Settings,
    orgs: Sequence[Org] = ORGS,
    *,
    role: str = "cli",
    on_call: CallObserver | None = None,
) -> AsyncIterator[dict[Org, SalesforceClient]]:
    """Started clients of ``orgs`` whose every request holds one of the org's slots when a
    database is configured. On exit, in this order: the clients close (their requests are
    over), the slots go back and the budgets' tasks end, the lease pool closes."""
    async with AsyncExitStack() as stack:
        budgets: dict[Org, OrgBudget] = {}
        if settings.database_url:
            audit = AuditStore(audit_config(settings, pool_max=LEASE_POOL_SIZE))
            await audit.start()  # unreachable: the command fails, it does not go around
            stack.push_async_callback(audit.close)
            budgets = org_budgets(settings, PostgresLeases(audit), holder_name(role), orgs)
        for budget in budgets.values():
            budget.start()
            stack.push_async_callback(budget.stop)
        clients = {}
        for org in orgs:
            client = SalesforceClient(
                salesforce_config(settings, org), on_call=on_call, budget=budgets.get(org)
            )
            await client.start()
            stack.push_async_callback(client.close)
            clients[org] = client
        yield clients
