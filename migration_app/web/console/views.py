"""The console's Faust web views (``@app.page``), rendered with Jinja2.

Routes (all under /migrations/, registered before web.py's ``/migrations/{customer_id}`` so its
placeholder does not swallow them):

    /                                             browsers: 302 here; scripts: {"status": "OK"}
    /migrations/                                  overview, no token (aggregates only)
    /migrations/overview.json, /overview/live     the same as JSON / as the refreshed fragment
    /migrations/customers                         list: filters, search, server-side pages (token)
    /migrations/customers/{id}                    one customer, rendered by its owning worker
    /migrations/customers/{id}/actions/{action}   GET confirmation, POST performs (operator)
    /migrations/login, /migrations/logout         token -> HttpOnly SameSite=Strict cookie
    /migrations/static/{name}                     the console's own CSS/JS (no CDN)
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import faust
import jinja2
from faust.types import TableT
from faust.web import Request, Response, View

import migration_app.audit.console_queries as queries
from migration_app.audit.errors import AuditError
from migration_app.contracts.customer_status import CustomerStatus
from migration_app.contracts.events import MIGRATE, ROLLBACK
from migration_app.contracts.schemas import CUSTOMER_TOPIC
from migration_app.ops import faust_introspection
from migration_app.ops.health import Health
from migration_app.settings import Settings
from migration_app.verify.execution import audit_rows, verify_customers
from migration_app.web.console.auth import (
    ANONYMOUS,
    COOKIE_PATH,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    Authenticator,
    Principal,
    safe_next,
    same_origin,
)
from migration_app.web.console.format import FILTERS
from migration_app.web.console.sessions import SessionSync
from migration_app.web.state_views import ROUTING_UNAVAILABLE, ensure_routing_metadata
from migration_app.worker import publisher as enqueue
from migration_app.worker.runtime import Runtime
from migration_app.worker.state_counts import StateCounts

log = logging.getLogger(__name__)

DB_TIMEOUT = 3.0  # every console query; the pool's statement timeout is the backstop
ACTION_TIMEOUT = 20.0  # publishing an event (registry + broker)
OVERVIEW_TTL = 2.0  # seconds an overview is reused: refreshing browsers cost one query set
DEPENDENCIES = ("sf1", "sf2", "database", "registry", "kafka")
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


@dataclass(frozen=True)
class ActionSpec:
    """An operator action; ``available`` False shows it disabled with ``reason``."""

    name: str
    label: str
    description: str
    available: bool
    reason: str = ""
    #: the operator must type the customer id to confirm (an action that deletes V2 records)
    typed_confirmation: bool = False


ACTIONS: dict[str, ActionSpec] = {
    "remigrate": ActionSpec(
        "remigrate",
        "Re-migrate",
        "Publish a forced migration event: the customer is read from V1 and upserted into V2 "
        "again (by external id, so no duplicates), even if it is COMPLETED.",
        True,
    ),
    "dry_run": ActionSpec(
        "dry_run",
        "Dry run",
        "Publish a dry-run event: transform and validate without writing to V2.",
        True,
    ),
    "verify": ActionSpec(
        "verify",
        "Verify",
        "Re-read both orgs and compare field by field (as `migration-app verify`).",
        True,
    ),
    "rollback": ActionSpec(
        "rollback",
        "Rollback",
        "Delete what the migration created for this customer in V2 (as `migration-app "
        "rollback --yes`): the owning worker deletes, marks it ROLLED_BACK and audits it.",
        True,
        typed_confirmation=True,
    ),
}


def confirmation_problem(spec: ActionSpec, customer_id: str, form: Any) -> str:
    """'' when the operator confirmed the action; else what is missing. The typed customer id
    of a rollback is checked here, on the server: the form's ``required`` is only a hint."""
    if form.get("confirm") != "yes":
        return "not confirmed (send confirm=yes)"
    if spec.typed_confirmation and str(form.get("confirm_id", "")).strip() != customer_id:
        return (
            f"{spec.label} deletes this customer's V2 records: type the customer id to confirm "
            "(confirm_id)"
        )
    return ""


def templates() -> jinja2.Environment:
    """The packaged templates, autoescaped; undefined names fail loudly in tests."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("migration_app.web.console", "templates"),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


def static_files() -> dict[str, bytes]:
    """The static assets, read once at build: served from memory, never from a path."""
    folder = resources.files("migration_app.web.console").joinpath("static")
    return {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and any(entry.name.endswith(ext) for ext in STATIC_TYPES)
    }


class Console:
    """State shared by the views: settings, clients, templates, the overview cache."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        table: TableT,
        runtime: Runtime,
        health: Health,
        counts: StateCounts | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.table = table
        self.counts = counts if counts is not None else StateCounts()
        self.runtime = runtime
        self.health = health
        self.auth = Authenticator(
            settings.operator_token.reveal(),
            settings.console_read_token.reveal(),
            public=settings.console_public,
        )
        self.sessions = SessionSync(self.auth, runtime.audit)
        self.env = templates()
        self.static = static_files()
        self._overview: tuple[float, queries.Overview] | None = None
        self._overview_lock = asyncio.Lock()
        self._refresh_task: asyncio.Future[queries.Overview] | None = None

    def who(self, request: Request) -> Principal:
        """The caller of ``request`` (a wrong Bearer token counts against its address)."""
        return self.auth.principal(request.headers, request.cookies, client_address(request))

    def can_read(self, request: Request) -> bool:
        """For other views that show personal data (web.py's state JSON)."""
        return self.who(request).can_read

    # -- data --

    async def overview(self) -> queries.Overview:
        """The latest snapshot: a page view never waits on the queries once one exists (an
        expired snapshot is served while one refresh runs in the background), so the overview
        costs the same at 100,000 customers as at 10; the first view waits for the first one."""
        cached = self._overview
        if cached is not None:
            if time.monotonic() - cached[0] >= OVERVIEW_TTL and not self._overview_lock.locked():
                self._refresh_task = asyncio.ensure_future(self._refresh())
            return cached[1]
        return await self._refresh()

    async def _refresh(self) -> queries.Overview:
        async with self._overview_lock:  # single flight
            cached = self._overview
            if cached and time.monotonic() - cached[0] < OVERVIEW_TTL:
                return cached[1]
            try:
                async with asyncio.timeout(DB_TIMEOUT):
                    result = await queries.overview(self.runtime.audit)
            except (AuditError, TimeoutError) as exc:
                result = queries.Overview({}, {}, {}, [0] * 60, [], None, {})
                result.errors.append(f"audit database unavailable ({type(exc).__name__})")
                self._overview = None  # an outage is shown, not a stale picture
                return result
            self._overview = (time.monotonic(), result)
            return result

    async def dependencies(self) -> list[dict[str, Any]]:
        _, doc = await self.health.report()
        out = []
        for name in DEPENDENCIES:
            entry = doc.get(name) or {}
            out.append(
                {
                    "name": name,
                    "status": entry.get("status", "UNKNOWN"),
                    "latency_ms": entry.get("latency_ms"),
                    "error": entry.get("error"),
                }
            )
        return out

    def local_summary(self) -> dict[str, int]:
        """Counts by status of the partitions this worker owns (its heartbeat): kept at each
        write by ``state_counts``, never a walk of the table."""
        return self.counts.by_status()

    def local_lag(self) -> dict[str, int]:
        lag = faust_introspection.consumer_lag(self.app)
        return {f"{t}:{p}": n for (t, p), n in lag.items() if t == CUSTOMER_TOPIC}

    def api_allocation(self) -> dict[str, dict[str, int]]:
        out = {}
        for org, client in (("sf1", self.runtime.sf1), ("sf2", self.runtime.sf2)):
            if client.api_used is not None and client.api_max is not None:
                out[org] = {"used": client.api_used, "max": client.api_max}
        return out

    # -- rendering --

    def render(
        self,
        view: View,
        template: str,
        principal: Principal,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> Response:
        html = self.env.get_template(template).render(
            principal=principal,
            actions_enabled=self.auth.actions_enabled,
            worker=self.runtime.worker_name,
            **context,
        )
        # CSP, nosniff, Cache-Control: no-store: on every response, by web_server (pages
        # forwarded by the table router included)
        return view.html(html, status=status, headers=headers)

    def refuse(self, view: View, request: Request, principal: Principal) -> Response:
        """401: browsers get the login form (with a way back), scripts a JSON error."""
        if wants_json(request):
            return view.json(
                {"error": "a console token is required (Authorization: Bearer ...)"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="migration-console"'},
            )
        return self.render(
            view,
            "login.html",
            principal,
            status=401,
            next=str(request.rel_url),
            message="Customer data is personal data: sign in with a console token.",
        )


def client_address(request: Request) -> str:
    """The peer's address (behind an ingress: the proxy's; X-Forwarded-For is not trusted, any
    client could write one to dodge the sign-in throttle)."""
    return str(getattr(request, "remote", "") or "")


def wants_json(request: Request) -> bool:
    accept = request.headers.get("Accept", "")
    return request.query.get("format") == "json" or (
        "application/json" in accept and "text/html" not in accept
    )


def redirect(view: View, location: str, status: int = 303) -> Response:
    return view.text("", status=status, headers={"Location": location})


async def _verify(console: Console, customer_id: str) -> str:
    """Verify one customer now with the worker's clients; the verdict goes to the audit."""
    runtime = console.runtime
    (verdict,) = await verify_customers(
        [customer_id], runtime.spec, runtime.sf1, runtime.sf2, runtime.reference.snapshot()
    )
    await runtime.audit.record_verifications(audit_rows([verdict], "console"))
    return verdict.verdict


def register(
    app: faust.App,
    settings: Settings,
    table: TableT,
    runtime: Runtime,
    health: Health,
    counts: StateCounts | None = None,
) -> Console:
    """Register every console view on the app; returns the shared Console."""
    console = Console(app, settings, table, runtime, health, counts)

    @app.page("/", name="console-root")
    class RootView(View):
        """Browsers go to the console; scripts and probes keep Faust's ``{"status": "OK"}``."""

        async def get(self, request: Request) -> Response:
            if "text/html" in request.headers.get("Accept", ""):
                return redirect(self, "/migrations/", status=302)
            return self.json({"status": "OK", "console": "/migrations/"})

    @app.page("/migrations/static/{name}", name="console-static")
    class StaticView(View):
        """The console's CSS and JS from memory (a fixed set: no path from the request)."""

        async def get(self, request: Request, name: str) -> Response:
            body = console.static.get(name)
            if body is None:
                return self.text("not found", status=404)
            kind = next(v for k, v in STATIC_TYPES.items() if name.endswith(k))
            return self.bytes(
                body,
                headers={
                    "Cache-Control": "public, max-age=300",
                    "Content-Type": kind,
                    "X-Content-Type-Options": "nosniff",
                },
            )

    @app.page("/migrations/", name="console-overview")
    class OverviewView(View):
        async def get(self, request: Request) -> Response:
            principal = console.who(request)
            return console.render(
                self,
                "overview.html",
                principal,
                ov=await console.overview(),
                deps=await console.dependencies(),
            )

    @app.page("/migrations/overview/live", name="console-overview-live")
    class OverviewFragmentView(View):
        """The overview's live part, swapped in by console.js every few seconds."""

        async def get(self, request: Request) -> Response:
            principal = console.who(request)
            return console.render(
                self,
                "_overview_live.html",
                principal,
                ov=await console.overview(),
                deps=await console.dependencies(),
            )

    @app.page("/migrations/overview.json", name="console-overview-json")
    class OverviewJsonView(View):
        async def get(self, request: Request) -> Response:
            ov = await console.overview()
            return self.json(
                {
                    "source": "audit database (migration_run, console_worker)",
                    "seen": ov.seen,
                    "finished": ov.finished,
                    "by_status": ov.by_status,
                    "customers_with": ov.customers_with,
                    "finished_last_hour": ov.last_hour,
                    "per_minute": ov.per_minute,
                    "rate_per_min": ov.rate_per_min,
                    "queued": ov.queued,
                    "eta_seconds": ov.eta_seconds,
                    "api": ov.api,
                    "workers": [w["worker"] for w in ov.workers],
                    "dependencies": await console.dependencies(),
                    "errors": ov.errors,
                },
            )

    @app.page("/migrations/customers", name="console-customers")
    class CustomersView(View):
        async def get(self, request: Request) -> Response:
            principal = console.who(request)
            if not principal.can_read:
                return console.refuse(self, request, principal)
            flt = _filter(request)
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

    @app.page("/migrations/customers/{customer_id}", name="console-customer")
    class CustomerView(View):
        """Rendered by the worker that owns the customer's partition (its table state)."""

        async def get(self, request: Request, customer_id: str) -> Response:
            principal = console.who(request)
            if not principal.can_read:
                return console.refuse(self, request, principal)
            try:
                await ensure_routing_metadata(app, table)
                return await self._routed(request, customer_id=customer_id)
            except ROUTING_UNAVAILABLE as exc:
                log.info("console: owner of a customer not reachable yet: %r", exc)
                return await self._render(
                    request,
                    customer_id,
                    principal,
                    state_error="owning worker not reachable "
                    "(partition assignment in progress): state unavailable, audit shown",
                )

        @app.table_route(table=table, match_info="customer_id")
        async def _routed(self, request: Request, customer_id: str) -> Response:
            principal = console.who(request)
            if not principal.can_read:  # the owner checks again: never trust the forwarder
                return console.refuse(self, request, principal)
            return await self._render(request, customer_id, principal)

        async def _render(
            self, request: Request, customer_id: str, principal: Principal, state_error: str = ""
        ) -> Response:
            value = table.get(customer_id.encode()) if not state_error else None
            state = value.asdict() if value is not None else None
            audit = console.runtime.audit
            error = ""
            runs: list[dict[str, Any]] = []
            ids: list[dict[str, Any]] = []
            id_source = "migration_record"
            verification = None
            history: list[dict[str, Any]] = []
            try:
                async with asyncio.timeout(DB_TIMEOUT):
                    runs = await queries.runs(audit, customer_id)
                    ids = await queries.id_map(audit, customer_id)
                    verification = await audit.latest_verification(customer_id)
                    history = await queries.actions(audit, customer_id)
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
                history=history,
                actions=list(ACTIONS.values()),
                done=request.query.get("done", ""),
                error=error,
            )

    @app.page("/migrations/customers/{customer_id}/actions/{action}", name="console-action")
    class ActionView(View):
        """GET: the confirmation step (a form with a CSRF token). POST: do it, log it."""

        async def get(self, request: Request, customer_id: str, action: str) -> Response:
            principal = console.who(request)
            spec = ACTIONS.get(action)
            if spec is None:
                return self.text("unknown action", status=404)
            if not principal.can_act:
                return self._forbidden(request, principal)
            return console.render(
                self,
                "confirm.html",
                principal,
                customer_id=customer_id,
                spec=spec,
                csrf=console.auth.csrf_token(principal, customer_id, action),
            )

        async def post(self, request: Request, customer_id: str, action: str) -> Response:
            principal = console.who(request)
            spec = ACTIONS.get(action)
            if spec is None:
                return self.json({"error": "unknown action"}, status=404)
            if not principal.can_act:
                return self._forbidden(request, principal)
            form = await request.post()  # type: ignore[attr-defined]
            if not console.auth.csrf_ok(
                principal,
                customer_id,
                action,
                str(form.get("csrf", "")),
                request.headers,
                request.headers.get("Host", ""),
            ):
                return self.json({"error": "CSRF check failed: confirm from the form"}, status=403)
            problem = confirmation_problem(spec, customer_id, form)
            if problem:
                return self.json({"error": problem}, status=400)
            if not spec.available:
                return self.json({"error": f"{spec.label}: {spec.reason}"}, status=409)
            outcome, detail = "enqueued", ""
            try:
                async with asyncio.timeout(ACTION_TIMEOUT):
                    if action == "verify":
                        outcome, detail = "verified", await _verify(console, customer_id)
                    else:
                        await enqueue.publish(
                            console.settings,
                            [customer_id],
                            force=action == "remigrate",
                            dry_run=action == "dry_run",
                            action=ROLLBACK if action == "rollback" else MIGRATE,
                            requested_by=f"console:{principal.name}",
                        )
            except Exception as exc:  # broker or registry down: say so, log it, keep serving
                outcome, detail = "failed", type(exc).__name__
            try:
                async with asyncio.timeout(DB_TIMEOUT):
                    await queries.record_action(
                        console.runtime.audit,
                        actor=principal.name,
                        action=action,
                        customer_id=customer_id,
                        outcome=outcome,
                        detail=detail,
                    )
            except (AuditError, TimeoutError) as exc:
                log.warning("console: action log write failed: %s", type(exc).__name__)
                outcome, detail = "failed", f"action log unavailable ({type(exc).__name__})"
            log.info("console: %s by %s: %s", action, principal.name, outcome)
            status = {"enqueued": 202, "verified": 200}.get(outcome, 503)
            if wants_json(request) or principal.via == "bearer":
                return self.json(
                    {
                        "action": action,
                        "customer_id": customer_id,
                        "outcome": outcome,
                        "detail": detail or None,
                        "by": principal.name,
                    },
                    status=status,
                )
            query = urlencode({"done": f"{spec.label}: {outcome}"})
            return redirect(self, f"/migrations/customers/{customer_id}?{query}")

        def _forbidden(self, request: Request, principal: Principal) -> Response:
            if not console.auth.actions_enabled:
                message = "actions are disabled: no MIGRATION_OPERATOR_TOKEN is configured"
            else:
                message = "an operator token is required"
            if wants_json(request) or request.method == "POST":
                return self.json({"error": message}, status=403 if principal.can_read else 401)
            return console.render(
                self,
                "login.html",
                principal,
                status=403 if principal.can_read else 401,
                next=str(request.rel_url),
                message=message,
            )

    @app.page("/migrations/login", name="console-login")
    class LoginView(View):
        async def get(self, request: Request) -> Response:
            principal = console.who(request)
            return console.render(
                self,
                "login.html",
                principal,
                next=safe_next(request.query.get("next")),
                message="",
            )

        async def post(self, request: Request) -> Response:
            form = await request.post()  # type: ignore[attr-defined]
            target = safe_next(str(form.get("next", "")))
            if not same_origin(request.headers, request.headers.get("Host", "")):
                return self.json({"error": "cross-site login refused"}, status=403)
            address = client_address(request)
            wait = console.auth.throttle.retry_after(address)
            if wait:
                return console.render(
                    self,
                    "login.html",
                    ANONYMOUS,
                    status=429,
                    headers={"Retry-After": str(max(1, round(wait)))},
                    next=target,
                    message="Too many failed sign-ins from your address: wait a minute.",
                )
            token = console.auth.by_secret(str(form.get("token", "")))
            if token is None:
                console.auth.failed_sign_in(address, "form")
                return console.render(
                    self,
                    "login.html",
                    ANONYMOUS,
                    status=401,
                    next=target,
                    message="That token is not valid.",
                )
            console.auth.throttle.succeeded(address)
            log.info("console: %s signed in from %s", token.name, address or "unknown address")
            response = redirect(self, target)
            response.set_cookie(  # type: ignore[attr-defined]
                SESSION_COOKIE,
                console.auth.new_session(token),
                path=COOKIE_PATH,
                max_age=SESSION_MAX_AGE,
                httponly=True,
                samesite="Strict",
                secure=request.headers.get("X-Forwarded-Proto") == "https"
                or request.url.scheme == "https",
            )
            return response

    @app.page("/migrations/logout", name="console-logout")
    class LogoutView(View):
        async def post(self, request: Request) -> Response:
            """The session ends here at once, on the other workers at their next sync."""
            if not same_origin(request.headers, request.headers.get("Host", "")):
                return self.json({"error": "cross-site sign-out refused"}, status=403)
            session = console.auth.end_session(request.cookies.get(SESSION_COOKIE, ""))
            if session is not None:
                await console.sessions.share(session)
                log.info("console: %s signed out", session.name)
            response = redirect(self, "/migrations/")
            response.del_cookie(SESSION_COOKIE, path=COOKIE_PATH)  # type: ignore[attr-defined]
            return response

    return console


def _filter(request: Request) -> queries.CustomerFilter:
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
