"""The overview, open to anyone (aggregates only): the page, its live part (swapped in by
console.js every few seconds) and the same data as JSON, all from one cached snapshot."""

from __future__ import annotations

from typing import ClassVar

from faust.web import Blueprint, Request, Response

from migration_app.web.console.base import ConsoleView

blueprint = Blueprint("console-overview")


class OverviewPage(ConsoleView):
    """An HTML rendering of the snapshot and the dependencies' health."""

    template: ClassVar[str]

    async def get(self, request: Request) -> Response:
        principal = self.console.who(request)
        return self.console.render(
            self,
            self.template,
            principal,
            ov=await self.console.overview.snapshot(),
            deps=await self.console.overview.dependencies(),
        )


@blueprint.route("/", name="page")
class OverviewView(OverviewPage):
    template = "overview.html"


@blueprint.route("/overview/live", name="live")
class OverviewFragmentView(OverviewPage):
    template = "_overview_live.html"


@blueprint.route("/overview.json", name="json")
class OverviewJsonView(ConsoleView):
    async def get(self, request: Request) -> Response:
        ov = await self.console.overview.snapshot()
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
                "concurrency": ov.concurrency,
                "workers": [w["worker"] for w in ov.workers],
                "dependencies": await self.console.overview.dependencies(),
                "errors": ov.errors,
            },
        )
