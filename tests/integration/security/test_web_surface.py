"""What the worker's web server serves, decided by the web layer alone (in process).

Findings of issue 24 these guard:
1. Faust's built-in views (``/table``, ``/router``, its index and statistics) were on: ``/table``
   served ``migration_state`` values (personal data) to anyone.
5. Security headers were set by the console's own render only: JSON views, error pages and pages
   forwarded by Faust's table router (rebuilt from body, type and status) had none.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.integration.security.support import DEBUG, production_like, served

#: Every route the worker serves, by who may call it. A new route must be placed here: a test
#: below fails until it is (so nobody adds a data route without deciding who may see it).
OPEN = {
    "/",  # browsers -> the console; scripts: {"status": "OK"}
    "/health",
    "/health/live",
    "/health/ready",
    "/metrics",
    "/migrations/summary",  # counts only
    "/migrations/",  # overview: aggregates only
    "/migrations/overview.json",
    "/migrations/overview/live",
    "/migrations/static/{name}",
    "/migrations/login",
    "/migrations/logout",
}
CONSOLE_TOKEN = {
    "/migrations/customers",
    "/migrations/customers/{customer_id}",
    "/migrations/customers/{customer_id}/actions/{action}",
    "/migrations/{customer_id}",
}
DEBUG_TOKEN_PREFIX = "/debug/pprof"  # each profile its own route


def served_paths(app) -> set[str]:  # type: ignore[no-untyped-def]
    app.web.init_server()  # applies whatever blueprints the driver has, as the worker does
    return {
        route.resource.canonical
        for route in app.web.web_app.router.routes()
        if route.resource is not None
    }


async def test_no_built_in_faust_view_is_served_and_every_route_is_classified(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    # Faust reads APP_WEB_* over the app's settings: they must not bring the views back.
    for name in ("TABLES", "ROUTER", "STATS", "GRAPH", "METRICS"):
        monkeypatch.setenv(f"APP_WEB_{name}_ENABLED", "true")
    async with served(production_like(tmp_path)) as (components, base):
        paths = served_paths(components.app)
        built_in = sorted(
            p
            for p in paths
            if p.startswith(("/table", "/router", "/graph", "/stats", "/assignment", "/perf"))
        )
        assert built_in == []
        unclassified = {
            p for p in paths - OPEN - CONSOLE_TOKEN if not p.startswith(DEBUG_TOKEN_PREFIX)
        }
        assert unclassified == set(), "say who may call the new route (and guard it)"
        async with aiohttp.ClientSession() as http:
            for path in ("/table/", "/table/migration_state/", "/router/", "/router/topics"):
                async with http.get(base + path) as resp:
                    assert resp.status == 404, path
            async with http.get(base + "/", headers={"Accept": "application/json"}) as resp:
                assert await resp.json() == {"status": "OK", "console": "/migrations/"}


async def test_every_response_carries_the_security_headers(tmp_path: Path) -> None:
    async with served(production_like(tmp_path)) as (_, base):
        async with aiohttp.ClientSession() as http:
            for path, auth in (
                ("/health/live", None),
                ("/migrations/summary", None),
                ("/migrations/customers", None),  # 401, JSON or HTML
                ("/migrations/001000000000000AAA", None),  # 401 from the table-routed view
                ("/no/such/page", None),  # aiohttp's own 404
                ("/debug/pprof/", DEBUG),
            ):
                headers = {"Authorization": f"Bearer {auth}"} if auth else {}
                async with http.get(base + path, headers=headers) as resp:
                    got = resp.headers
                    assert "frame-ancestors 'none'" in got.get("Content-Security-Policy", ""), path
                    assert got.get("X-Content-Type-Options") == "nosniff", path
                    assert got.get("Cache-Control") == "no-store", path
            async with http.get(base + "/migrations/static/console.css") as resp:
                assert resp.status == 200
                assert resp.headers["Cache-Control"].startswith("public")  # its own choice
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
