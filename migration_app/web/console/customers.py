"""The customers behind a console token (personal data): the list (filters, search,
server-side pages) and one customer's page, rendered by the worker that owns its partition (its
table state) beside its audit history."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlencode

from faust.web import Blueprint, Request, Response

import migration_app.audit.console_queries as queries
from migration_app.audit import pending_references
from migration_app.audit.errors import AuditError
from migration_app.contracts.customer_status import CustomerStatus
from migration_app.web.console.actions import ACTIONS
from migration_app.web.console.auth import Principal
from migration_app.web.console.base import DB_TIMEOUT, ConsoleView, wants_json
from migration_app.web.table_routing import ROUTING_UNAVAILABLE, at_owner

#: pending references shown on a customer page (a business may have many sites)
PENDING_SHOWN = 200

log = logging.getLogger(__name__)

blueprint = Blueprint("console-customers")


@blueprint.route("/customers", name="list")
class CustomersView(ConsoleView):
    async def get(self, request: Request) -> Response:
        console = self.console
        principal = console.who(request)
        if not principal.can_read:
            return console.refuse(self, request, principal)
        flt = customer_filter(request)
        error = ""
        rows: list[dict[str, Any]] = []
        total = 0
        options: dict[str, list[str]] = {"code": [], "object": []}
        try:
            async with asyncio.timeout(DB_TIMEOUT):
                rows, total = await queries.customers(console.runtime.audit, flt)
                options = await queries.filter_options(console.runtime.audit)
        except (AuditError, TimeoutError) as exc:
            error = f"audit database unavailable ({type(exc).__name__})"
        pages = max(1, -(-total // queries.PAGE_SIZE))
        if wants_json(request):
            return self.json(
                {
                    "total": total,
                    "page": flt.page,
                    "pages": pages,
                    "customers": [{k: v for k, v in r.items() if k != "total"} for r in rows],
                    "error": error or None,
                },
                headers={"Cache-Control": "no-store"},
            )

        def page_url(page: int) -> str:
            return "/migrations/customers?" + urlencode({**flt.params(), "page": page})

        return console.render(
            self,
            "customers.html",
            principal,
            rows=rows,
            total=total,
            flt=flt,
            pages=pages,
            page_url=page_url,
            options=options,
            statuses=[s.value for s in CustomerStatus],
            error=error,
        )


@blueprint.route("/customers/{customer_id}", name="detail")
class CustomerView(ConsoleView):
    """Rendered by the worker that owns the customer's partition (its table state)."""

    async def get(self, request: Request, customer_id: str) -> Response:
        principal = self.console.who(request)
        if not principal.can_read:
            return self.console.refuse(self, request, principal)
        try:
            return await at_owner(
                self,
                request,
                self.console.table,
                customer_id,
                lambda: self._owned(request, customer_id),
            )
        except ROUTING_UNAVAILABLE as exc:
            log.info("console: owner of a customer not reachable yet: %r", exc)
            return await self._render(
                request,
                customer_id,
                principal,
                state_error="owning worker not reachable "
                "(partition assignment in progress): state unavailable, audit shown",
            )

    async def _owned(self, request: Request, customer_id: str) -> Response:
        """On the owner (this worker, or the one a request was forwarded to)."""
        principal = self.console.who(request)
        if not principal.can_read:  # the owner checks again: never trust the forwarder
            return self.console.refuse(self, request, principal)
        return await self._render(request, customer_id, principal)

    async def _render(
        self, request: Request, customer_id: str, principal: Principal, state_error: str = ""
    ) -> Response:
        console = self.console
        value = console.table.get(customer_id.encode()) if not state_error else None
        state = value.asdict() if value is not None else None
        audit = console.runtime.audit
        error = ""
        runs: list[dict[str, Any]] = []
        ids: list[dict[str, Any]] = []
        id_source = "migration_record"
        verification = None
        history: list[dict[str, Any]] = []
        pending: list[dict[str, Any]] = []  # references to or from it not set in V2 yet
        try:
            async with asyncio.timeout(DB_TIMEOUT):
                runs = await queries.runs(audit, customer_id)
                ids = await queries.id_map(audit, customer_id)
                verification = await audit.latest_verification(customer_id)
                history = await queries.actions(audit, customer_id)
                pending = await pending_references.pending(audit, customer_id, PENDING_SHOWN)
        except (AuditError, TimeoutError) as exc:
            error = f"audit database unavailable ({type(exc).__name__})"
        if state is None and not runs and not error:
            status = 404
        else:
            status = 200
        if wants_json(request):
            return self.json(
                {
                    "customer_id": customer_id,
                    "state": state,
                    "state_error": state_error or None,
                    "runs": runs,
                    "ids": ids,
                    "id_source": id_source,
                    "verification": verification,
                    "pending_references": pending,
                },
                status=status,
                headers={"Cache-Control": "no-store"},
            )
        links = {
            "sf1": console.runtime.sf1.instance_url,
            "sf2": console.runtime.sf2.instance_url,
        }
        return console.render(
            self,
            "customer.html",
            principal,
            status=status,
            customer_id=customer_id,
            state=state,
            state_error=state_error,
            runs=runs,
            ids=ids,
            id_source=id_source,
            links=links,
            lightning=lightning_url,
            v1_object={o.target: o.source for o in console.runtime.spec.objects},
            v2_object={o.source: o.target for o in console.runtime.spec.objects},
            verification=verification,
            pending=pending,
            history=history,
            actions=list(ACTIONS.values()),
            done=request.query.get("done", ""),
            error=error,
        )


def customer_filter(request: Request) -> queries.CustomerFilter:
    """The list's filter from the query string (each value at most 100 characters)."""

    def arg(name: str) -> str | None:
        value = request.query.get(name, "").strip()
        return value[:100] or None

    try:
        page = max(1, int(request.query.get("page", "1")))
    except ValueError:
        page = 1
    return queries.CustomerFilter(
        status=arg("status"), code=arg("code"), object=arg("object"), q=arg("q"), page=page
    )


def lightning_url(instance_url: str | None, sobject: str | None, record_id: str | None) -> str:
    """``https://acme.lightning.force.com/lightning/r/Account/001.../view`` from the instance
    URL (``https://acme.my.salesforce.com``); other hosts (sandbox) keep their own."""
    if not instance_url or not sobject or not record_id:
        return ""
    base = instance_url.rstrip("/")
    if base.endswith(".my.salesforce.com"):
        base = base[: -len(".my.salesforce.com")] + ".lightning.force.com"
    return f"{base}/lightning/r/{sobject}/{record_id}/view"
