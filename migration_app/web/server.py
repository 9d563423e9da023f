"""The web server the worker serves with: Faust's aiohttp driver without Faust's built-in views,
and security headers on every response.

Faust's built-in blueprints are all off, whatever the settings or the ``APP_WEB_*`` environment
variables say (Faust reads those over the app's own settings):

- ``/table/...`` serves any table key to anyone: ``migration_state`` holds personal data.
- ``/router/...`` tells anyone which worker owns a key, and every worker's URL. ``@table_route``
  does not use it: the forwarding worker computes the owner itself (``app.router``, in process)
  and sends the request, headers and all, to the owner's same path, where the view checks the
  token again.
- ``/`` (Faust's index or its statistics), ``/graph``, ``/stats``, ``/performance``: the product
  does not need them; its own ``/`` sends browsers to the console.

The headers are set in aiohttp's ``on_response_prepare`` so no response escapes them: a page
rendered by another worker and forwarded by Faust's table router is rebuilt from its body,
content type and status only, and error pages are made by aiohttp itself.
"""

from __future__ import annotations

from typing import Any, ClassVar

from aiohttp import web as aiohttp_web
from faust.web.drivers.aiohttp import Web as AiohttpWeb

#: Set on every response (a view's own value is replaced: one policy for the whole server).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
#: Unless the view chose its own (the console's static files are cacheable): personal data must
#: never sit in a browser's or a proxy's cache.
DEFAULT_CACHE_CONTROL = "no-store"


async def add_security_headers(
    request: aiohttp_web.Request, response: aiohttp_web.StreamResponse
) -> None:
    """aiohttp ``on_response_prepare``: runs for every response, just before its headers go."""
    response.headers.update(SECURITY_HEADERS)
    response.headers.setdefault("Cache-Control", DEFAULT_CACHE_CONTROL)


class Web(AiohttpWeb):
    """Faust's aiohttp web driver with no built-in blueprint and the security headers."""

    default_blueprints: ClassVar[list[Any]] = []
    production_blueprints: ClassVar[list[Any]] = []
    debug_blueprints: ClassVar[list[Any]] = []
    optional_blueprints: ClassVar[list[Any]] = []

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.web_app.on_response_prepare.append(add_security_headers)


#: The settings that would turn Faust's built-in views on; ``create_app`` passes them all False
#: too, so the app's configuration says what the server does.
BUILT_IN_VIEWS_OFF = {
    "web_tables_enabled": False,
    "web_router_enabled": False,
    "web_stats_enabled": False,
    "web_graph_enabled": False,
    "web_metrics_enabled": False,
}
