"""What the console's views share: the ``Console`` (settings, clients, table, auth, templates,
the overview cache), the ``ConsoleView`` base class that finds it, and request helpers.

The views are module-level classes on blueprints, defined before any app exists; Faust makes
one instance per app when a blueprint is registered. ``routes.register`` attaches the app's
``Console`` to the app first, and each view reads it from its own app (``self.app``), as Faust's
own views read ``self.app.tables``.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.types import AppT, TableT
from faust.web import Request, Response, View

from migration_app.ops.health import Health
from migration_app.settings import Settings
from migration_app.web.console.assets import templates
from migration_app.web.console.auth import Authenticator, Principal
from migration_app.web.console.overview_cache import OverviewCache
from migration_app.web.console.sessions import SessionSync
from migration_app.worker.runtime import Runtime
from migration_app.worker.state_counts import StateCounts

DB_TIMEOUT = 3.0  # every console query; the pool's statement timeout is the backstop
#: where an app keeps its Console (faust.App has no slot of its own for it)
APP_ATTRIBUTE = "migration_console"


class Console:
    """State shared by the views of one app: settings, clients, table, auth, templates."""

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
        self.overview = OverviewCache(runtime.audit, health, timeout=DB_TIMEOUT)

    def attach(self) -> None:
        """Make this the Console the app's views read (before their blueprints register)."""
        setattr(self.app, APP_ATTRIBUTE, self)

    @classmethod
    def of(cls, app: AppT) -> Console:
        """The Console attached to ``app``; a view registered without one fails at build."""
        console = getattr(app, APP_ATTRIBUTE, None)
        if not isinstance(console, cls):
            raise LookupError("no Console on this app: register views with web.routes.register")
        return console

    def who(self, request: Request) -> Principal:
        """The caller of ``request`` (a wrong Bearer token counts against its address)."""
        return self.auth.principal(request.headers, request.cookies, client_address(request))

    def can_read(self, request: Request) -> bool:
        """For other views that show personal data (the state views' JSON)."""
        return self.who(request).can_read

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


class ConsoleView(View):
    """A view that reads its app's ``Console`` (found once, when Faust makes the view)."""

    console: Console

    def __post_init__(self) -> None:  # faust: called by View.__init__
        self.console = Console.of(self.app)


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
