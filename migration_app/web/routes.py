"""The route table: every product view of the worker's web server, in the order aiohttp tries
them, written here once. ``app.build`` calls ``register`` after ``console.install``.

Order matters where a placeholder could swallow a fixed path: the console's pages
(``/migrations/customers``, ``/migrations/login``, ...) and ``/migrations/summary`` come before
the state view's ``/migrations/{customer_id}``. ``/health``, ``/metrics`` and ``/debug/pprof/*``
are the ops layer's (``ops.observability``), registered with it; none shares a prefix with these.
"""

from __future__ import annotations

from faust.types import AppT
from faust.web import Blueprint

from migration_app.web import state_views
from migration_app.web.console import actions, assets, customers, overview, root, session
from migration_app.web.console.base import Console

#: (blueprint, URL prefix), matched first to last.
BLUEPRINTS: tuple[tuple[Blueprint, str], ...] = (
    (root.blueprint, "/"),  # browsers -> the console; scripts: {"status": "OK"}
    (assets.blueprint, "/migrations"),  # /static/{name}
    (overview.blueprint, "/migrations"),  # /, /overview/live, /overview.json
    (customers.blueprint, "/migrations"),  # /customers, /customers/{customer_id}
    (actions.blueprint, "/migrations"),  # /customers/{customer_id}/actions/{action}
    (session.blueprint, "/migrations"),  # /login, /logout
    (state_views.blueprint, "/migrations"),  # /summary, then /{customer_id}: last
)


def register(app: AppT, console: Console) -> None:
    """Attach ``console`` to the app (its views read it from there), then mount every view."""
    if console.app is not app:
        raise ValueError("the console was made for another app")
    console.attach()
    for blueprint, prefix in BLUEPRINTS:
        blueprint.register(app, url_prefix=prefix)
