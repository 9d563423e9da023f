"""Dependency health checks: register, run in parallel with timeouts, cache, single-flight, report.

The app factory registers each client's check on the app's own registry (no global)::

    checks.register("registry", registry.ping, critical=True)

A check is ``async def () -> Mapping | None``: return (optionally with details to show) when the
dependency is usable, raise when it is not. The aggregator runs every check in its own task under
``timeout`` (a timed-out check is cancelled, nothing is left behind), keeps each result for ``ttl``
seconds and shares one in-flight run among all callers, so a storm of probes costs at most one call
per dependency per TTL. Critical checks that fail make the service DOWN (HTTP 503); non-critical
ones make it DEGRADED (still 200).
"""

from __future__ import annotations

import asyncio
import logging
import platform
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Protocol

import aiohttp

from migration_app.ops.redaction import Scrubber

log = logging.getLogger(__name__)

UP, DEGRADED, DOWN = "UP", "DEGRADED", "DOWN"

CheckFn = Callable[[], Awaitable[Mapping[str, Any] | None]]


@dataclass(frozen=True)
class Check:
    name: str
    fn: CheckFn
    critical: bool = True
    timeout: float | None = None  # None: the aggregator's default


class CheckRegistry:
    """The set of dependency checks; a later registration under the same name replaces it."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def register(
        self, name: str, fn: CheckFn, *, critical: bool = True, timeout: float | None = None
    ) -> Check:
        check = Check(name, fn, critical, timeout)
        self._checks[name] = check
        return check

    def unregister(self, name: str) -> None:
        self._checks.pop(name, None)

    def checks(self) -> list[Check]:
        return list(self._checks.values())


def http_check(
    session: aiohttp.ClientSession,
    url: str,
    *,
    timeout: float | None = None,
    healthy: Callable[[int], bool] = lambda status: status < 500,
) -> CheckFn:
    """A GET through a long-lived session (created at start, closed at stop: never one per call).

    The session should carry its own ``ClientTimeout``; ``timeout`` tightens it for this check.
    """
    request_timeout = aiohttp.ClientTimeout(total=timeout) if timeout else None

    async def check() -> Mapping[str, Any]:
        kwargs: dict[str, Any] = {"allow_redirects": False}
        if request_timeout is not None:
            kwargs["timeout"] = request_timeout
        async with session.get(url, **kwargs) as resp:
            if not healthy(resp.status):
                where = resp.url.with_user(None).with_query(None)
                raise RuntimeError(f"HTTP {resp.status} from {where}")
            return {"http_status": resp.status}

    return check


# --- running checks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    status: str
    latency_ms: float
    error: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def up(self) -> bool:
        return self.status == UP

    def asdict(self, critical: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "latency_ms": self.latency_ms}
        if self.error is not None:
            out["error"] = self.error
        if not critical:
            out["critical"] = False
        out.update(self.details)
        return out


async def run_check(check: Check, limit: float, scrub: Callable[[str], str]) -> CheckResult:
    """Run one check under ``limit`` seconds; never raises (except cancellation of the caller)."""
    start = time.perf_counter()
    deadline = asyncio.timeout(limit)
    try:
        async with deadline:
            details = await check.fn()
    except TimeoutError as exc:
        if deadline.expired():
            error = f"timed out after {limit:g}s (cancelled)"
        else:
            error = scrub(f"{type(exc).__name__}: {exc}".rstrip(": "))
        return CheckResult(DOWN, _ms_since(start), error)
    except Exception as exc:
        return CheckResult(
            DOWN, _ms_since(start), scrub(f"{type(exc).__name__}: {exc}".rstrip(": "))
        )
    safe = {k: scrub(v) if isinstance(v, str) else v for k, v in (details or {}).items()}
    return CheckResult(UP, _ms_since(start), details=safe)


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


class _Slot:
    """Cache and in-flight run of one dependency."""

    __slots__ = ("expires", "result", "task")

    def __init__(self) -> None:
        self.result: CheckResult | None = None
        self.expires = 0.0
        self.task: asyncio.Task[CheckResult] | None = None


ResultHook = Callable[[str, CheckResult], None]


class HealthAggregator:
    """Runs the registry's checks in parallel, cached for ``ttl`` and single-flighted."""

    def __init__(
        self,
        registry: CheckRegistry,
        *,
        timeout: float = 2.0,
        ttl: float = 5.0,
        scrub: Callable[[str], str] | None = None,
        on_result: ResultHook | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.timeout = timeout
        self.ttl = ttl
        self._scrub = scrub or Scrubber()
        self._on_result = on_result
        self._clock = clock
        self._slots: dict[str, _Slot] = {}
        self.runs = 0  # checks actually executed (tests and /debug use it)

    async def results(self) -> dict[str, tuple[Check, CheckResult]]:
        """Fresh cached results as they are; stale ones joined to (or starting) the one run.

        No task per caller: under a probe storm the only tasks are the runs themselves.
        """
        checks = self.registry.checks()
        now = self._clock()
        done: dict[str, CheckResult] = {}
        running: list[tuple[Check, asyncio.Task[CheckResult]]] = []
        for check in checks:
            slot = self._slots.setdefault(check.name, _Slot())
            if slot.result is not None and now < slot.expires:
                done[check.name] = slot.result
                continue
            if slot.task is None:
                slot.task = asyncio.create_task(
                    self._refresh(check, slot), name=f"health:{check.name}"
                )
            running.append((check, slot.task))
        if running:
            # shield: a caller that goes away (client disconnect) must not cancel a shared run
            results = await asyncio.gather(*(asyncio.shield(task) for _, task in running))
            done.update((check.name, r) for (check, _), r in zip(running, results, strict=True))
        return {c.name: (c, done[c.name]) for c in checks}

    async def _refresh(self, check: Check, slot: _Slot) -> CheckResult:
        try:
            self.runs += 1
            result = await run_check(check, check.timeout or self.timeout, self._scrub)
            previous = slot.result
            slot.result, slot.expires = result, self._clock() + self.ttl
            if self._on_result is not None:
                self._on_result(check.name, result)
            _log_transition(check.name, previous, result)
            return result
        finally:
            slot.task = None

    async def close(self) -> None:
        """Cancel in-flight checks (app stop)."""
        tasks = [s.task for s in self._slots.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _log_transition(name: str, previous: CheckResult | None, result: CheckResult) -> None:
    """Log changes, not every probe: a dependency down for an hour is one warning, not 720, and
    the checks that run while the worker is still starting (clients not started) are INFO."""
    if previous is None:
        if not result.up:
            log.info("health check %s is not up yet: %s", name, result.error)
    elif previous.up and not result.up:
        log.warning("health check %s is DOWN: %s", name, result.error)
    elif not previous.up and result.up:
        log.info("health check %s is UP again", name)
    elif not result.up and result.error != previous.error:
        log.warning("health check %s is still DOWN: %s", name, result.error)


def overall_status(results: Iterable[tuple[Check, CheckResult]], degraded: bool = False) -> str:
    status = DEGRADED if degraded else UP
    for check, result in results:
        if not result.up:
            if check.critical:
                return DOWN
            status = DEGRADED
    return status


def http_status(status: str) -> int:
    return 503 if status == DOWN else 200


# --- the /health documents ---------------------------------------------------------------------


def format_uptime(seconds: float) -> str:
    """Go's ``time.Duration`` style, as operators know it: ``22h54m27.49s``."""
    hours, rest = divmod(max(seconds, 0.0), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{int(hours)}h{int(minutes)}m{secs:.2f}s"
    if minutes:
        return f"{int(minutes)}m{secs:.2f}s"
    return f"{secs:.2f}s"


def versions() -> dict[str, str]:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "unknown"

    return {
        "python": platform.python_version(),
        "migration_app": version("migration-app"),
        "faust": version("faust-streaming"),
    }


class LagSource(Protocol):
    @property
    def lag_seconds(self) -> float | None: ...

    def stalled(self) -> bool: ...


@dataclass(frozen=True)
class AppState:
    """What readiness needs from the stream processor, beyond dependencies."""

    rebalancing: bool = False
    recovering: bool = False
    assigned_partitions: int | None = None  # None: unknown (no consumer)
    # While recovering: partitions and changelog offsets left (table_recovery.progress).
    recovery: Mapping[str, Any] | None = None
    # Changelog records this process replayed so far, {"active": n, "standby": m}.
    replayed: Mapping[str, int] | None = None

    def problems(self) -> list[str]:
        out = []
        if self.rebalancing:
            out.append("rebalancing")
        if self.recovering:
            left = self.recovery or {}
            out.append(
                "recovering tables"
                + (
                    f": {left['partitions_remaining']} partition(s), "
                    f"{left['offsets_remaining']} changelog offset(s) remaining"
                    if left
                    else ""
                )
            )
        if self.assigned_partitions == 0:
            out.append("no partitions assigned")
        return out


class Health:
    """Builds the /health, /health/live and /health/ready documents (views and aiomonitor)."""

    def __init__(
        self,
        aggregator: HealthAggregator,
        *,
        stats: Callable[[], Any],
        lag: LagSource | None = None,
        leak: Callable[[], Mapping[str, Any] | None] = lambda: None,
        app_state: Callable[[], AppState] = AppState,
        started_at: float | None = None,
    ) -> None:
        self.aggregator = aggregator
        self._stats = stats
        self._lag = lag
        self._leak = leak
        self._app_state = app_state
        self._started_at = time.time() if started_at is None else started_at
        self._versions = versions()

    def _lag_ms(self) -> float | None:
        lag = self._lag.lag_seconds if self._lag is not None else None
        return None if lag is None else round(lag * 1000, 2)

    async def report(self) -> tuple[int, dict[str, Any]]:
        results = await self.aggregator.results()
        leak = self._leak()
        status = overall_status(results.values(), degraded=bool(leak))
        doc: dict[str, Any] = {
            "status": status,
            "uptime": format_uptime(time.time() - self._started_at),
            **self._stats().asdict(),
            "loop_lag_ms": self._lag_ms(),
            "version": self._versions,
        }
        if leak:
            doc["leak_suspect"] = dict(leak)
        for name, (check, result) in results.items():
            doc[name] = result.asdict(check.critical)
        return http_status(status), doc

    def live(self) -> tuple[int, dict[str, Any]]:
        """Answering at all proves the loop runs; a stalled lag monitor means it barely does."""
        stalled = self._lag is not None and self._lag.stalled()
        doc = {"status": DOWN if stalled else UP, "loop_lag_ms": self._lag_ms()}
        return http_status(doc["status"]), doc

    async def ready(self) -> tuple[int, dict[str, Any]]:
        results = await self.aggregator.results()
        state = self._app_state()
        problems = state.problems() + [
            f"{name} is {result.status}"
            for name, (check, result) in results.items()
            if check.critical and not result.up
        ]
        doc = {
            "status": DOWN if problems else UP,
            "problems": problems,
            "rebalancing": state.rebalancing,
            "recovering": state.recovering,
            "assigned_partitions": state.assigned_partitions,
        }
        if state.recovery:
            doc["recovery"] = dict(state.recovery)
        if state.replayed is not None:
            doc["changelog_replayed"] = dict(state.replayed)
        return (503 if problems else 200), doc
