"""``/debug/pprof/*``: pprof-style endpoints, token-guarded.

Handlers are framework-neutral (``query``, ``authorization`` in; ``Reply`` out) so they are easy to
test; ``register`` mounts them as Faust views. Disabled (404) unless a debug token is configured,
then ``Authorization: Bearer <token>`` is required (401 otherwise, constant-time compare).
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

import faust
from faust.web import Request, Response, View

from migration_app.ops.debug.heap import HeapProfiler
from migration_app.ops.debug.profiler import MODES, ProfilerBusy, SamplingProfiler
from migration_app.ops.debug.tasks import (
    CreationSite,
    all_tasks,
    format_groups,
    format_tasks,
    group_tasks,
)
from migration_app.ops.debug.threads import format_threads
from migration_app.ops.process import process_stats

TEXT = "text/plain"
PREFIX = "/debug/pprof"


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    content_type: str = TEXT
    headers: Mapping[str, str] = field(default_factory=dict)


class BadRequest(ValueError):
    pass


def authorize(token: str, authorization: str | None) -> Reply | None:
    """None when allowed; the refusal otherwise. The token never appears in a reply or a log."""
    if not token:
        return Reply(404, "Not Found\n")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        return Reply(401, "Unauthorized\n", headers={"WWW-Authenticate": 'Bearer realm="debug"'})
    return None


def _number(query: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be between {lo:g} and {hi:g}")
    return value


def _flag(query: Mapping[str, str], name: str) -> bool:
    return query.get(name, "0").lower() in ("1", "true", "yes")


@dataclass
class DebugEndpoints:
    """The handlers, bound to the app's profiler, heap profiler and task creation sites."""

    token: str
    profiler: SamplingProfiler
    heap: HeapProfiler
    creation_site: CreationSite | None = None
    loop_thread_id: int | None = None
    loop: asyncio.AbstractEventLoop | None = None  # the app's loop (views may run elsewhere)

    def index(self, query: Mapping[str, str]) -> Reply:
        stats = process_stats(self.loop)
        rows = [
            ("tasks?debug=1", f"{stats.tasks} tasks, grouped by identical stack"),
            ("tasks?debug=2", "every task: name, state, stack, creation site"),
            (
                "threads",
                f"{stats.threads} OS threads; the Python ones' stacks, state, CPU seconds, pool",
            ),
            ("heap", "tracemalloc top allocations (?by=traceback, ?diff=1, ?limit=N, ?stop=1)"),
            (
                "profile?seconds=10",
                "CPU profile: only threads on a CPU at each sample, collapsed stacks "
                "(?format=speedscope)",
            ),
            (
                "profile?seconds=10&mode=wall",
                "wall-clock profile: every thread, running or waiting (idle executor threads, "
                "selectors, socket reads)",
            ),
        ]
        items = "\n".join(
            f'<tr><td><a href="{PREFIX}/{escape(p)}">{escape(p)}</a></td><td>{escape(d)}</td></tr>'
            for p, d in rows
        )
        body = (
            f"<html><head><title>{PREFIX}/</title></head><body>{PREFIX}/<br><br>"
            f"Types of profiles available (send Authorization: Bearer &lt;token&gt;):"
            f"<table>{items}</table></body></html>"
        )
        return Reply(200, body, "text/html")

    def tasks(self, query: Mapping[str, str]) -> Reply:
        debug = int(_number(query, "debug", 1, 0, 2))
        tasks = all_tasks(self.loop)
        if debug == 2:
            return Reply(200, format_tasks(tasks, self.creation_site))
        return Reply(200, format_groups(group_tasks(tasks)))

    def threads(self, query: Mapping[str, str]) -> Reply:
        return Reply(200, format_threads(self.loop_thread_id))

    async def heap_report(self, query: Mapping[str, str]) -> Reply:
        if _flag(query, "stop"):
            self.heap.stop()
            return Reply(200, "tracemalloc stopped\n")
        limit = int(_number(query, "limit", 25, 1, 500))
        by = query.get("by", "lineno")
        if by not in ("lineno", "traceback", "filename"):
            raise BadRequest("by must be lineno, traceback or filename")
        text = await asyncio.to_thread(
            self.heap.report, limit=limit, by=by, diff=_flag(query, "diff")
        )
        return Reply(200, text)

    async def profile(self, query: Mapping[str, str]) -> Reply:
        seconds = _number(query, "seconds", 10, 0.01, self.profiler.max_seconds)
        fmt = query.get("format", "collapsed")
        if fmt not in ("collapsed", "speedscope"):
            raise BadRequest("format must be collapsed or speedscope")
        mode = query.get("mode", "cpu")
        if mode not in MODES:
            raise BadRequest("mode must be cpu or wall")
        try:
            prof = await self.profiler.profile(seconds, mode)
        except ProfilerBusy:
            return Reply(409, "a profile is already running; try again when it ends\n")
        headers = {
            "X-Profile-Samples": str(prof.samples),
            "X-Profile-Seconds": f"{prof.seconds:.2f}",
            "X-Profile-Mode": prof.mode,
            "X-Profile-Kept-Samples": str(prof.kept),
            "X-Profile-Process-CPU-Seconds": f"{prof.process_cpu_seconds or 0:.3f}",
            "X-Profile-Sampler-CPU-Share": f"{prof.sampler_share:.4f}",
        }
        if fmt == "speedscope":
            return Reply(200, json.dumps(prof.speedscope()), "application/json", headers)
        return Reply(200, prof.collapsed(), TEXT, headers)

    def routes(self) -> dict[str, Callable[[Mapping[str, str]], Reply | Awaitable[Reply]]]:
        return {
            "/": self.index,
            "/tasks": self.tasks,
            "/threads": self.threads,
            "/heap": self.heap_report,
            "/profile": self.profile,
        }

    async def handle(
        self, route: str, query: Mapping[str, str], authorization: str | None
    ) -> Reply:
        refused = authorize(self.token, authorization)
        if refused is not None:
            return refused
        try:
            result = self.routes()[route](query)
            return await result if asyncio.iscoroutine(result) else result  # type: ignore[return-value]
        except BadRequest as exc:
            return Reply(400, f"{exc}\n")


def to_response(view: View, reply: Reply) -> Response:
    return view.text(
        reply.body,
        content_type=reply.content_type,
        status=reply.status,
        headers=dict(reply.headers),
    )


def register(app: faust.App, endpoints: DebugEndpoints) -> None:
    """Mount every route under ``/debug/pprof`` as a Faust view."""
    for route in endpoints.routes():
        paths = [PREFIX + route] + ([PREFIX] if route == "/" else [])
        for path in paths:
            app.page(path, name=f"debug-pprof{route.rstrip('/') or '-index'}:{path}")(
                _view(endpoints, route)
            )


def _view(endpoints: DebugEndpoints, route: str) -> type[View]:
    class DebugView(View):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            reply = await endpoints.handle(
                route,
                request.query,
                request.headers.get("Authorization"),  # type: ignore[attr-defined]
            )
            return to_response(self, reply)

    DebugView.__name__ = DebugView.__qualname__ = f"DebugView{route.replace('/', '_')}"
    return DebugView
