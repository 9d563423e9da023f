"""The /debug/pprof handlers, without a web server: guard, params, profile exclusivity."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from migration_app.ops.debug.heap import HeapProfiler
from migration_app.ops.debug.profiler import SamplingProfiler, sample_stacks
from migration_app.ops.debug.views import DebugEndpoints, authorize

TOKEN = "t0ken-for-tests"


@pytest.fixture
def endpoints() -> DebugEndpoints:
    return DebugEndpoints(TOKEN, SamplingProfiler(interval=0.002), HeapProfiler())


def test_guard() -> None:
    assert authorize("", f"Bearer {TOKEN}").status == 404  # type: ignore[union-attr]
    assert authorize(TOKEN, None).status == 401  # type: ignore[union-attr]
    assert authorize(TOKEN, "Bearer wrong").status == 401  # type: ignore[union-attr]
    assert authorize(TOKEN, f"Basic {TOKEN}").status == 401  # type: ignore[union-attr]
    refused = authorize(TOKEN, "Bearer nope")
    assert refused is not None and TOKEN not in refused.body
    assert authorize(TOKEN, f"Bearer {TOKEN}") is None
    assert authorize(TOKEN, f"bearer {TOKEN}") is None


async def test_tasks_and_bad_params(endpoints: DebugEndpoints) -> None:
    auth = f"Bearer {TOKEN}"
    reply = await endpoints.handle("/tasks", {"debug": "1"}, auth)
    assert reply.status == 200 and reply.body.startswith("task profile: total ")
    reply = await endpoints.handle("/tasks", {"debug": "2"}, auth)
    assert reply.status == 200 and reply.body.startswith("task dump: total ")
    assert (await endpoints.handle("/tasks", {"debug": "x"}, auth)).status == 400
    assert (await endpoints.handle("/profile", {"seconds": "600"}, auth)).status == 400
    assert (await endpoints.handle("/profile", {"format": "pprof"}, auth)).status == 400
    assert (await endpoints.handle("/heap", {"by": "nope"}, auth)).status == 400


async def test_one_profile_at_a_time(endpoints: DebugEndpoints) -> None:
    auth = f"Bearer {TOKEN}"
    first = asyncio.create_task(
        endpoints.handle("/profile", {"seconds": "1", "mode": "wall"}, auth)
    )
    await until(lambda: endpoints.profiler.running)
    second = await endpoints.handle("/profile", {"seconds": "0.1"}, auth)
    assert second.status == 409
    reply = await first
    assert reply.status == 200
    assert int(reply.headers["X-Profile-Samples"]) > 10
    # the wall profile sampled the event-loop thread while it awaited the sampler
    assert any(line.startswith("loop:MainThread;") for line in reply.body.splitlines())


async def until(condition, deadline: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Poll ``condition`` on the loop (yielding between tries) until it holds or time is up."""
    async with asyncio.timeout(deadline):
        while True:
            if condition():
                return
            await asyncio.sleep(0.001)  # nothing to wait on: the profiler has no event


def busy(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(range(1000))


def test_sampler_sees_a_busy_thread_and_exports_speedscope() -> None:
    stop = threading.Event()
    worker = threading.Thread(target=busy, args=(stop,), name="busy-worker")
    worker.start()
    try:
        profile = sample_stacks(0.2, 0.002, threading.Event(), None, "cpu")
    finally:
        stop.set()
        worker.join()
    collapsed = profile.collapsed()
    busy_lines = [line for line in collapsed.splitlines() if line.startswith("thread:busy-worker;")]
    assert collapsed.startswith("# migration_app CPU profile (mode=cpu)")
    assert busy_lines and any(f"{__name__}.busy" in line for line in busy_lines)
    doc = profile.speedscope()
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    prof = next(p for p in doc["profiles"] if p["name"].startswith("thread:busy-worker ("))
    assert "on-CPU samples" in prof["name"]
    assert len(prof["samples"]) == len(prof["weights"])
    assert all(0 <= i < len(doc["shared"]["frames"]) for s in prof["samples"] for i in s)
    json.dumps(doc)


async def test_heap_report_and_diff(endpoints: DebugEndpoints) -> None:
    auth = f"Bearer {TOKEN}"
    try:
        first = await endpoints.handle("/heap", {}, auth)
        assert first.status == 200 and "tracemalloc was just started" in first.body
        hoard = [bytearray(1024) for _ in range(2000)]  # ~2 MiB from this line
        diff = await endpoints.handle("/heap", {"diff": "1", "limit": "5"}, auth)
        assert "growth by lineno since the previous snapshot" in diff.body
        assert "hoard = [bytearray(1024)" in diff.body
        del hoard
    finally:
        assert (await endpoints.handle("/heap", {"stop": "1"}, auth)).status == 200
