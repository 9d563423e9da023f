"""The route table (``web.routes``): every blueprint mounted where it says, and each path matched
by its own view, not by a placeholder registered before it (``/migrations/{customer_id}``)."""

from __future__ import annotations

import faust
import pytest
from aiohttp.test_utils import make_mocked_request

from migration_app.app import build
from migration_app.settings import Settings
from migration_app.web import routes, state_views
from migration_app.web.console import actions, assets, customers, overview, root, session


@pytest.fixture(scope="module")
def app() -> faust.App:
    return build(Settings.from_env({"MIGRATION_DEV_MODE": "true"})).app


def test_every_blueprint_route_is_served_at_its_prefix(app: faust.App) -> None:
    wanted = {
        prefix.rstrip("/") + "/" + route.uri.lstrip("/")
        for blueprint, prefix in routes.BLUEPRINTS
        for route in blueprint.routes
    }
    served = {path for path in app.web.views if not path.startswith(("/health", "/metrics"))}
    assert {p for p in served if not p.startswith("/debug/")} == wanted


def test_the_state_views_placeholder_is_registered_last(app: faust.App) -> None:
    order = list(app.web.views)
    assert order[-1] == "/migrations/{customer_id}"
    assert order.index("/migrations/summary") < order.index("/migrations/{customer_id}")


@pytest.mark.parametrize(
    ("method", "path", "view"),
    [
        ("GET", "/", root.RootView),
        ("GET", "/migrations/static/console.css", assets.StaticView),
        ("GET", "/migrations/", overview.OverviewView),
        ("GET", "/migrations/overview/live", overview.OverviewFragmentView),
        ("GET", "/migrations/overview.json", overview.OverviewJsonView),
        ("GET", "/migrations/customers", customers.CustomersView),
        ("GET", "/migrations/customers/001A", customers.CustomerView),
        ("POST", "/migrations/customers/001A/actions/verify", actions.ActionView),
        ("GET", "/migrations/login", session.LoginView),
        ("POST", "/migrations/logout", session.LogoutView),
        ("GET", "/migrations/summary", state_views.SummaryView),
        ("GET", "/migrations/001A", state_views.MigrationView),
    ],
)
async def test_each_path_is_matched_by_its_own_view(
    app: faust.App, method: str, path: str, view: type
) -> None:
    match = await app.web.web_app.router.resolve(make_mocked_request(method, path))
    assert match.http_exception is None, (method, path)
    assert type(app.web.views[match.route.resource.canonical]) is view


def test_a_console_view_cannot_be_mounted_without_the_console() -> None:
    bare = faust.App("routes-test", web_enabled=True)
    with pytest.raises(LookupError, match="no Console"):
        overview.blueprint.register(bare, url_prefix="/migrations")
