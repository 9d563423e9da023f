"""The health framework: parallel checks, timeouts that cancel, TTL cache, single flight, status."""

from __future__ import annotations

import asyncio

import pytest

from migration_app.ops.health import (
    DEGRADED,
    DOWN,
    UP,
    AppState,
    CheckRegistry,
    Health,
    HealthAggregator,
    format_uptime,
)
from migration_app.ops.redaction import Scrubber


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counting:
    """A check that counts its calls and can be told to fail or hang."""

    def __init__(self, *, fail: Exception | None = None, hang: bool = False, delay: float = 0.0):
        self.calls = 0
        self.cancelled = 0
        self.fail = fail
        self.hang = hang
        self.delay = delay
        self.started = asyncio.Event()

    async def __call__(self) -> dict[str, int]:
        self.calls += 1
        self.started.set()
        try:
            if self.hang:
                await asyncio.Event().wait()
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.fail:
            raise self.fail
        return {"calls": self.calls}


def aggregator(registry: CheckRegistry, **kw) -> HealthAggregator:  # type: ignore[no-untyped-def]
    return HealthAggregator(registry, timeout=kw.pop("timeout", 0.2), ttl=kw.pop("ttl", 5.0), **kw)


async def test_up_result_carries_latency_and_details() -> None:
    reg = CheckRegistry()
    reg.register("database", Counting(delay=0.05))
    results = await aggregator(reg).results()
    check, result = results["database"]
    assert result.status == UP
    doc = result.asdict(check.critical)
    # the latency is measured around the check: at least the 50 ms the check itself slept
    assert isinstance(doc["latency_ms"], float) and doc.pop("latency_ms") >= 50
    assert doc == {"status": "UP", "calls": 1}


async def test_checks_run_in_parallel() -> None:
    """Each check waits until all five are in flight: run one after another, the first would
    wait alone until its (hang-guard) timeout and be reported DOWN."""
    names = ("sf1", "sf2", "database", "kafka", "registry")
    in_flight: set[str] = set()
    all_started = asyncio.Event()

    def rendezvous(name: str):  # type: ignore[no-untyped-def]
        async def check() -> dict[str, int]:
            in_flight.add(name)
            if len(in_flight) == len(names):
                all_started.set()
            await all_started.wait()
            return {"peers": len(in_flight)}

        return check

    reg = CheckRegistry()
    for name in names:
        reg.register(name, rendezvous(name))
    results = await aggregator(reg, timeout=5.0).results()
    assert {n: (r.status, r.details) for n, (_, r) in results.items()} == {
        n: (UP, {"peers": 5}) for n in names
    }


async def test_timeout_cancels_the_check_and_leaves_no_task() -> None:
    reg = CheckRegistry()
    hanging = Counting(hang=True)
    reg.register("registry", hanging)
    before = len(asyncio.all_tasks())
    # hang guard only: the aggregator's own 0.05 s timeout must end the check long before
    results = await asyncio.wait_for(aggregator(reg, timeout=0.05).results(), 10)
    _, result = results["registry"]
    assert result.status == DOWN
    assert result.error == "timed out after 0.05s (cancelled)"
    assert hanging.cancelled == 1
    assert len(asyncio.all_tasks()) == before


async def test_error_text_is_scrubbed() -> None:
    reg = CheckRegistry()
    reg.register(
        "database",
        Counting(
            fail=ConnectionError("postgresql://audit:s3cr3t-pw@db:5432/x refused token=abc123")
        ),
    )
    agg = aggregator(reg, scrub=Scrubber(["s3cr3t-pw"]))
    _, result = (await agg.results())["database"]
    assert result.error is not None
    assert "s3cr3t" not in result.error and "abc123" not in result.error
    assert result.error.startswith("ConnectionError: postgresql://audit:***@db:5432/x")


def test_scrubber_patterns() -> None:
    scrub = Scrubber(["hunter22"])
    assert scrub("Authorization: Bearer eyJhbGciOi.x.y") == "Authorization: Bearer ***"
    assert scrub("login failed for pw hunter22") == "login failed for pw ***"
    assert scrub('{"password": "abc", "user": "u"}') == '{"password": "***", "user": "u"}'
    assert scrub("https://user:pa55@host/x?sid=00D!AQ&x=1") == "https://user:***@host/x?sid=***&x=1"
    assert len(scrub("x" * 2000)) == 503


async def test_results_are_cached_for_the_ttl() -> None:
    reg = CheckRegistry()
    check = Counting()
    reg.register("sf1", check)
    clock = FakeClock()
    agg = aggregator(reg, ttl=5.0, clock=clock)
    await agg.results()
    clock.now += 4.9
    await agg.results()
    assert check.calls == 1
    clock.now += 0.2
    await agg.results()
    assert check.calls == 2


async def test_concurrent_callers_share_one_run_per_dependency() -> None:
    reg = CheckRegistry()
    checks = {name: Counting(delay=0.05) for name in ("sf1", "sf2", "registry")}
    for name, fn in checks.items():
        reg.register(name, fn)
    agg = aggregator(reg)
    await asyncio.gather(*(agg.results() for _ in range(1000)))
    assert {name: c.calls for name, c in checks.items()} == {"sf1": 1, "sf2": 1, "registry": 1}
    assert agg.runs == 3


async def test_a_caller_that_goes_away_does_not_cancel_the_shared_run() -> None:
    reg = CheckRegistry()
    check = Counting(delay=0.05)
    reg.register("sf2", check)
    agg = aggregator(reg)
    first = asyncio.create_task(agg.results())
    await asyncio.wait_for(check.started.wait(), 5)  # the shared run is in flight
    first.cancel()
    _, result = (await agg.results())["sf2"]
    assert result.up and check.calls == 1 and check.cancelled == 0


async def test_close_cancels_in_flight_checks() -> None:
    reg = CheckRegistry()
    check = Counting(hang=True)
    reg.register("kafka", check)
    agg = aggregator(reg, timeout=10)
    waiter = asyncio.create_task(agg.results())
    await asyncio.wait_for(check.started.wait(), 5)
    await agg.close()
    assert check.cancelled == 1
    with pytest.raises(asyncio.CancelledError):
        await waiter


class Stats:
    def asdict(self) -> dict[str, int]:
        return {"tasks": 3, "threads": 2, "open_fds": 9, "rss_bytes": 100}


async def report(reg: CheckRegistry, leak=None):  # type: ignore[no-untyped-def]
    health = Health(aggregator(reg), stats=Stats, leak=lambda: leak, started_at=0.0)
    return await health.report()


async def test_critical_failure_is_down_503_and_optional_failure_is_degraded_200() -> None:
    reg = CheckRegistry()
    reg.register("database", Counting())
    reg.register("sf1", Counting(fail=RuntimeError("boom"), delay=0.02), critical=False)
    status, doc = await report(reg)
    assert (status, doc["status"]) == (200, DEGRADED)
    assert doc["sf1"].pop("latency_ms") >= 20  # measured around the failing call too
    assert doc["sf1"] == {"status": "DOWN", "error": "RuntimeError: boom", "critical": False}
    reg.register("registry", Counting(fail=RuntimeError("down")))
    status, doc = await report(reg)
    assert (status, doc["status"]) == (503, DOWN)


async def test_report_shape_and_leak_makes_it_degraded() -> None:
    reg = CheckRegistry()
    reg.register("kafka", Counting())
    status, doc = await report(reg)
    assert status == 200 and doc["status"] == UP
    assert list(doc)[:9] == [
        "status",
        "uptime",
        "tasks",
        "threads",
        "open_fds",
        "rss_bytes",
        "loop_lag_ms",
        "version",
        "kafka",
    ]
    assert set(doc["version"]) == {"python", "migration_app", "faust"}
    status, doc = await report(reg, leak={"grew": {"tasks": {"from": 1, "to": 9}}})
    assert (status, doc["status"]) == (200, DEGRADED)
    assert doc["leak_suspect"]["grew"]["tasks"]["to"] == 9


async def test_ready_needs_critical_dependencies_and_a_settled_app() -> None:
    reg = CheckRegistry()
    reg.register("database", Counting())
    reg.register("sf1", Counting(fail=RuntimeError("x")), critical=False)
    state = AppState(rebalancing=False, recovering=False, assigned_partitions=4)
    health = Health(aggregator(reg), stats=Stats, app_state=lambda: state)
    assert (await health.ready())[0] == 200
    state = AppState(rebalancing=True, recovering=True, assigned_partitions=0)
    status, doc = await health.ready()
    assert status == 503
    assert doc["problems"] == ["rebalancing", "recovering tables", "no partitions assigned"]


async def test_ready_reports_recovery_progress_while_live_stays_up() -> None:
    """During a table recovery the ready document says what is left; liveness is unaffected."""
    reg = CheckRegistry()
    reg.register("database", Counting())
    progress = {
        "partitions_remaining": 2,
        "offsets_remaining": 1500,
        "partitions": {"migration-app-migration_state-changelog[0]": 1000},
    }
    state = AppState(
        recovering=True,
        assigned_partitions=4,
        recovery=progress,
        replayed={"active": 300, "standby": 0},
    )
    health = Health(aggregator(reg), stats=Stats, app_state=lambda: state)
    status, doc = await health.ready()
    assert status == 503
    assert doc["problems"] == [
        "recovering tables: 2 partition(s), 1500 changelog offset(s) remaining"
    ]
    assert doc["recovery"] == progress
    assert doc["changelog_replayed"] == {"active": 300, "standby": 0}
    assert health.live()[0] == 200


def test_live_does_not_touch_dependencies() -> None:
    reg = CheckRegistry()
    check = Counting()
    reg.register("database", check)
    status, doc = Health(aggregator(reg), stats=Stats).live()
    assert (status, doc["status"], check.calls) == (200, UP, 0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(82467.491, "22h54m27.49s"), (65.5, "1m5.50s"), (3.0, "3.00s"), (3600, "1h0m0.00s")],
)
def test_uptime_is_go_duration_style(seconds: float, text: str) -> None:
    assert format_uptime(seconds) == text


def test_scrubber_authorization_without_scheme() -> None:
    assert Scrubber()("authorization=abcdef0123") == "authorization=***"


async def test_only_changes_are_logged_and_the_start_is_not_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A dependency down for many probes is one warning; the probes before the clients have
    started (the first result) are INFO, not a wall of DOWN warnings at every boot."""
    reg = CheckRegistry()
    check = Counting(fail=RuntimeError("client not started"))
    reg.register("database", check)
    clock = FakeClock()
    agg = aggregator(reg, ttl=1.0, clock=clock)

    caplog.set_level("INFO", logger="migration_app.ops.health")
    await agg.results()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "health check database is not up yet: RuntimeError: client not started")
    ]
    check.fail = None
    for expected in (
        [("INFO", "health check database is UP again")],
        [],  # still up: nothing
    ):
        caplog.clear()
        clock.now += 2
        await agg.results()
        assert [(r.levelname, r.getMessage()) for r in caplog.records] == expected
    check.fail = ConnectionError("refused")
    logged = []
    for _ in range(5):
        caplog.clear()
        clock.now += 2
        await agg.results()
        logged += [(r.levelname, r.getMessage()) for r in caplog.records]
    assert logged == [("WARNING", "health check database is DOWN: ConnectionError: refused")]
    assert check.calls == 8
