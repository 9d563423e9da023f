"""``/``: browsers go to the console; scripts and probes keep Faust's ``{"status": "OK"}``."""

from __future__ import annotations

from faust.web import Blueprint, Request, Response, View

from migration_app.web.console.base import redirect

blueprint = Blueprint("console-root")


@blueprint.route("/", name="index")
class RootView(View):
    async def get(self, request: Request) -> Response:
        if "text/html" in request.headers.get("Accept", ""):
            return redirect(self, "/migrations/", status=302)
        return self.json({"status": "OK", "console": "/migrations/"})
