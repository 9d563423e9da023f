"""Wires health, metrics and the debug tools into a Faust app: one call from the app module.

    observability.install(app, settings)

registers ``/health``, ``/health/live``, ``/health/ready``, ``/metrics`` and ``/debug/pprof/*``,
the kafka health check, the events sensor, and a service started and stopped with the app that
owns the loop-lag monitor, the leak watchdog and aiomonitor.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import faust
import mode
from faust.web import Request, Response, View

from migration_app.ops import faust_introspection, metrics
from migration_app.ops.debug import views as debug_views
from migration_app.ops.debug.heap import HeapProfiler
from migration_app.ops.debug.looplag import LoopLagMonitor
from migration_app.ops.debug.monitor import AppMonitor, MonitorOps, start_monitor, stop_monitor
from migration_app.ops.debug.profiler import SamplingProfiler
from migration_app.ops.debug.tasks import source_traceback
from migration_app.ops.debug.watchdog import LeakDetector, Watchdog
from migration_app.ops.health import (
    AppState,
    CheckRegistry,
    CheckResult,
    Health,
    HealthAggregator,
)
from migration_app.ops.process import RecentStats
from migration_app.ops.redaction import Scrubber
from migration_app.ops.table_recovery import ReplayCounter
from migration_app.settings import Secret, Settings, variables

log = logging.getLogger(__name__)


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret, so the scrubber removes them verbatim from error text."""
    out = []
    for variable in variables():
        value = variable.value(settings)
        if variable.secret and value:
            out.append(_reveal(value))
    return out


def _reveal(value: str) -> str:
    """The plain value of a settings ``Secret`` (or of a plain str given in a test)."""
    return value.reveal() if isinstance(value, Secret) else str(value)


def _record_check(name: str, result: CheckResult) -> None:
    metrics.HEALTH_CHECK_UP.labels(dependency=name).set(1 if result.up else 0)


@dataclass
class Observability:
    """Everything install() built; start()/stop() are called by the app's service (or a test)."""

    settings: Settings
    health: Health
    lag: LoopLagMonitor
    watchdog: Watchdog
    profiler: SamplingProfiler
    heap: HeapProfiler
    debug: debug_views.DebugEndpoints
    monitor_locals: dict[str, Any] = field(default_factory=dict)
    migration_state: Callable[[str], Awaitable[dict[str, Any] | None]] | None = None
    audit_lookup: Callable[[str], Awaitable[Any]] | None = None
    consumer_lag: metrics.ConsumerLag | None = None
    customer_counts: metrics.CustomerCounts | None = None
    concurrency: metrics.Concurrency | None = None
    monitor: AppMonitor | None = None
    loop: asyncio.AbstractEventLoop | None = None
    stats: RecentStats = field(default_factory=RecentStats)

    def creation_site(self, task: asyncio.Task[Any]) -> list[traceback.FrameSummary] | None:
        site = self.monitor.creation_site(task) if self.monitor is not None else None
        return site or source_traceback(task)

    async def start(self) -> None:
        self.loop = self.debug.loop = self.stats.loop = asyncio.get_running_loop()
        self.profiler.loop_thread_id = self.debug.loop_thread_id = threading.get_ident()
        metrics.RUNTIME.bind(
            loop=self.loop,
            lag=lambda: self.lag.lag_seconds,
            consumer_lag=self.consumer_lag,
            customers=self.customer_counts,
            concurrency=self.concurrency,
        )
        self.lag.start()
        self.watchdog.start()
        s = self.settings
        if s.monitor_enabled:
            self.monitor = await start_monitor(
                host=s.monitor_host,
                port=s.monitor_port,
                console_port=s.monitor_console_port,
                webui_port=s.monitor_webui_port,
                hook_task_factory=s.monitor_hook_task_factory,
                locals=self.monitor_locals,
                ops=MonitorOps(
                    health=self._health_doc,
                    leaks=self._leaks_doc,
                    migration_state=self._migration_state,
                    audit=self.audit_lookup,
                ),
            )

    async def stop(self) -> None:
        if self.monitor is not None:
            await stop_monitor(self.monitor)
            self.monitor = None
        await self.watchdog.stop()
        await self.lag.stop()
        self.profiler.close()
        self.heap.stop()
        await self.health.aggregator.close()
        metrics.RUNTIME.unbind()

    async def _health_doc(self) -> dict[str, Any]:
        return (await self.health.report())[1]

    async def _leaks_doc(self) -> dict[str, Any]:
        verdict = self.watchdog.verdict
        return {"suspect": verdict.suspect, **(verdict.asdict() if verdict.suspect else {})}

    async def _migration_state(self, customer_id: str) -> dict[str, Any] | None:
        return await self.migration_state(customer_id) if self.migration_state else None


def build(
    settings: Settings,
    checks: CheckRegistry,
    *,
    app_state: Callable[[], AppState] = AppState,
    live_secrets: Callable[[], Iterable[str | None]] | None = None,
) -> Observability:
    """The framework-free part of install(): usable from a test or another web framework.

    ``live_secrets``: credentials that exist only while running (the Salesforce clients' access
    tokens), scrubbed from health errors like the configured ones."""
    aggregator = HealthAggregator(
        checks,
        timeout=settings.health_check_timeout,
        ttl=settings.health_cache_ttl,
        scrub=Scrubber(secret_values(settings), live=live_secrets),
        on_result=_record_check,
    )
    lag = LoopLagMonitor()
    watchdog = Watchdog(
        LeakDetector(settings.watchdog_window, windows=settings.watchdog_windows),
        interval=settings.watchdog_interval,
        on_change=lambda suspect: metrics.LEAK_SUSPECT.set(1 if suspect else 0),
    )
    profiler = SamplingProfiler()
    heap = HeapProfiler()
    stats = RecentStats()
    health = Health(
        aggregator,
        stats=stats,
        lag=lag,
        leak=watchdog.suspect,
        app_state=app_state,
    )
    obs = Observability(
        settings=settings,
        health=health,
        lag=lag,
        watchdog=watchdog,
        profiler=profiler,
        heap=heap,
        debug=debug_views.DebugEndpoints(_reveal(settings.debug_token), profiler, heap),
        stats=stats,
    )
    obs.debug.creation_site = obs.creation_site
    return obs


class ObservabilityService(mode.Service):
    """Started first and stopped last with the app (it is the app's first dependency)."""

    def __init__(self, obs: Observability, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.obs = obs

    async def on_start(self) -> None:
        await self.obs.start()

    async def on_stop(self) -> None:
        await self.obs.stop()


def install(
    app: faust.App,
    settings: Settings,
    checks: CheckRegistry,
    *,
    audit_lookup: Callable[[str], Awaitable[Any]] | None = None,
    events_topics: Iterable[str] = ("customer",),
    table_name: str = "migration_state",
    replays: ReplayCounter | None = None,
    customer_counts: metrics.CustomerCounts | None = None,
    concurrency: metrics.Concurrency | None = None,
    live_secrets: Callable[[], Iterable[str | None]] | None = None,
) -> Observability:
    """Register the views, the kafka check, the events sensor and the start/stop service."""
    checks.register("kafka", faust_introspection.kafka_check(app), critical=True)
    obs = build(
        settings,
        checks,
        app_state=lambda: faust_introspection.app_state(app, replays),
        live_secrets=live_secrets,
    )
    obs.audit_lookup = audit_lookup
    obs.consumer_lag = lambda: faust_introspection.consumer_lag(app)
    obs.customer_counts = customer_counts
    obs.concurrency = concurrency
    obs.monitor_locals.update({"app": app, "tables": app.tables, "obs": obs})

    async def migration_state(customer_id: str) -> dict[str, Any] | None:
        table = app.tables.get(table_name)
        value = table.get(customer_id.encode()) if table is not None else None
        return value.asdict() if value is not None else None

    obs.migration_state = migration_state
    register_views(app, obs)
    app.sensors.add(faust_introspection.EventsSensor(events_topics))
    app.add_dependency(ObservabilityService(obs))
    return obs


def register_views(app: faust.App, obs: Observability) -> None:
    """/health, /health/live, /health/ready, /metrics and /debug/pprof/* as Faust views."""

    def json_view(name: str, fn: Callable[[], Awaitable[tuple[int, dict[str, Any]]]]) -> type[View]:
        class HealthView(View):
            async def get(self, request: Request, **kwargs: Any) -> Response:
                status, doc = await fn()
                return self.json(doc, status=status, headers={"Cache-Control": "no-store"})

        HealthView.__name__ = HealthView.__qualname__ = name
        return HealthView

    async def live() -> tuple[int, dict[str, Any]]:
        return obs.health.live()

    app.page("/health", name="health")(json_view("HealthView", obs.health.report))
    app.page("/health/live", name="health-live")(json_view("LiveView", live))
    app.page("/health/ready", name="health-ready")(json_view("ReadyView", obs.health.ready))

    @app.page("/metrics", name="metrics")
    class MetricsView(View):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            return self.bytes(
                metrics.generate_latest(), headers={"Content-Type": metrics.CONTENT_TYPE_LATEST}
            )

    debug_views.register(app, obs.debug)
