"""The console's packaged files: Jinja2 templates and its own CSS and JS (no CDN), and the
view that serves the latter from memory (a fixed set: no path is taken from the request)."""

from __future__ import annotations

from importlib import resources

import jinja2
from faust.web import Blueprint, Request, Response, View

from migration_app.web.console.format import FILTERS

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}

blueprint = Blueprint("console-static")


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


@blueprint.route("/static/{name}", name="file")
class StaticView(View):
    """The console's CSS and JS, cacheable (every other response is ``no-store``)."""

    files: dict[str, bytes]

    def __post_init__(self) -> None:  # faust: once, when the route is registered
        self.files = static_files()

    async def get(self, request: Request, name: str) -> Response:
        body = self.files.get(name)
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
