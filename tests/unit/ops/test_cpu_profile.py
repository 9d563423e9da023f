"""The CPU profile samples threads on a CPU; the wall profile every thread; both export cleanly.

The scene is a worker in miniature: one thread spinning in a CPU loop and eight idle executor
threads named like the Salesforce pools. No timed assertions: the sampler's overhead is measured
in benchmarks/profiler_overhead.py.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import pytest

from migration_app.compat import python_internals
from migration_app.ops.debug import threadstate
from migration_app.ops.debug.heap import HeapProfiler
from migration_app.ops.debug.profiler import Profile, SamplingProfiler, sample_stacks
from migration_app.ops.debug.tasks import Frame
from migration_app.ops.debug.threads import format_threads, pool_of
from migration_app.ops.debug.views import DebugEndpoints

SCHEMA = json.loads((Path(__file__).parent / "speedscope" / "file-format-schema.json").read_text())
# speedscope's collapsed-stack importer (bg-flamegraph) takes exactly the lines matching this
SPEEDSCOPE_COLLAPSED_LINE = re.compile(r"^(.*) (\d+)$")
IDLE_EXECUTORS = 8
SECONDS = 0.6
HANG_GUARD = 30.0


def spin(stop: threading.Event) -> None:
    """The CPU loop: pure Python work until told to stop."""
    total = 0
    while not stop.is_set():
        for i in range(2000):
            total += i * i


@pytest.fixture
def worker_like() -> Iterator[None]:
    """One spinning thread and eight idle ``salesforce-sf1_N`` executor threads."""
    stop = threading.Event()
    spinner = threading.Thread(target=spin, args=(stop,), name="spin-loop", daemon=True)
    pool = ThreadPoolExecutor(IDLE_EXECUTORS, thread_name_prefix="salesforce-sf1")
    started = threading.Barrier(IDLE_EXECUTORS + 1)
    try:
        # each task waits for all the others, so the pool really starts eight threads
        for _ in range(IDLE_EXECUTORS):
            pool.submit(started.wait, HANG_GUARD)
        started.wait(HANG_GUARD)
        spinner.start()
        yield
    finally:
        stop.set()
        if spinner.ident is not None:
            spinner.join(HANG_GUARD)
        pool.shutdown(wait=True)


def leaf_share(profile: Profile, function: str) -> float:
    hits = sum(n for stack, n in profile.stacks.items() if any(k[0] == function for k in stack))
    return hits / profile.kept if profile.kept else 0.0


def stack_lines(collapsed: str) -> list[str]:
    return [line for line in collapsed.splitlines() if not line.startswith("#")]


def test_cpu_mode_attributes_the_samples_to_the_loop(worker_like: None) -> None:
    profile = sample_stacks(SECONDS, 0.005, threading.Event(), None, "cpu")
    assert profile.kept > 0
    assert leaf_share(profile, f"{__name__}.spin") >= 0.8, profile.collapsed()
    # idle executor threads are not on a CPU, so they are not in the CPU profile
    assert not any(
        line.startswith("thread:salesforce-sf1_") for line in stack_lines(profile.collapsed())
    ), profile.collapsed()


def test_cpu_mode_without_proc_falls_back_to_dropping_known_waits(
    worker_like: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threadstate, "available", lambda: False)
    profile = sample_stacks(SECONDS, 0.005, threading.Event(), None, "cpu")
    assert profile.method.startswith("no /proc")
    assert leaf_share(profile, f"{__name__}.spin") >= 0.8, profile.collapsed()
    assert "concurrent.futures.thread._worker" not in profile.collapsed()


def test_wall_mode_shows_the_idle_executor_threads(worker_like: None) -> None:
    profile = sample_stacks(SECONDS, 0.005, threading.Event(), None, "wall")
    idle = {
        line.split(";", 1)[0]
        for line in stack_lines(profile.collapsed())
        if line.startswith("thread:salesforce-sf1_")
        and line.rsplit(" ", 1)[0].endswith("concurrent.futures.thread._worker")
    }
    assert len(idle) == IDLE_EXECUTORS, profile.collapsed()
    assert profile.collapsed().startswith("# migration_app wall-clock profile (mode=wall)")
    assert leaf_share(profile, f"{__name__}.spin") < 0.5  # the spinner is one thread of nine


def test_the_header_states_interval_samples_per_thread_and_cpu(worker_like: None) -> None:
    profile = sample_stacks(SECONDS, 0.005, threading.Event(), None, "cpu")
    header = [line for line in profile.collapsed().splitlines() if line.startswith("#")]
    text = "\n".join(header)
    assert header[0].startswith("# migration_app CPU profile (mode=cpu)")
    assert "asked 5.0 ms" in text and "sampling rounds" in text
    assert re.search(r"process CPU \d+\.\d+ s over the window", text), text
    assert "the sampler's own" in text
    spinner = next(t for t in profile.threads if t.label == "thread:spin-loop")
    assert f"# thread thread:spin-loop: {spinner.samples} on-CPU samples" in text
    if threadstate.available():
        assert spinner.cpu_seconds is not None and spinner.cpu_seconds > 0
        assert profile.process_cpu_seconds is not None and profile.process_cpu_seconds > 0
    # no header line may look like a stack to speedscope or flamegraph.pl
    assert not any(SPEEDSCOPE_COLLAPSED_LINE.match(line) for line in header)
    assert 0 <= profile.sampler_share < 1


@pytest.mark.parametrize("mode", ["cpu", "wall"])
def test_both_formats_load_as_speedscope_reads_them(worker_like: None, mode: str) -> None:
    profile = sample_stacks(SECONDS, 0.005, threading.Event(), None, mode)
    doc = json.loads(json.dumps(profile.speedscope()))
    jsonschema.Draft7Validator(SCHEMA).validate(doc)
    frames = doc["shared"]["frames"]
    for prof in doc["profiles"]:
        assert len(prof["samples"]) == len(prof["weights"])
        assert all(0 <= i < len(frames) for s in prof["samples"] for i in s)
    assert doc["migration_app"]["mode"] == mode
    assert "sampling rounds" in doc["name"]
    # collapsed: every stack line is one speedscope imports, every header line one it skips
    lines = profile.collapsed().splitlines()
    stacks = [m for line in lines if (m := SPEEDSCOPE_COLLAPSED_LINE.match(line))]
    assert len(stacks) == len(profile.stacks)
    assert sum(int(m[2]) for m in stacks) == profile.kept
    assert all(line.startswith("#") for line in lines if not SPEEDSCOPE_COLLAPSED_LINE.match(line))


def test_threads_view_shows_state_cpu_and_pool(worker_like: None) -> None:
    text = format_threads(threading.get_ident())
    assert f"executor pools: sf1 {IDLE_EXECUTORS} threads" in text
    assert text.count("[pool sf1]") == IDLE_EXECUTORS
    if threadstate.available():
        spinner = next(line for line in text.splitlines() if '"spin-loop"' in line)
        assert re.search(r"\(([RS])\), \d+\.\d\d CPU s, native id \d+$", spinner), spinner
        idle = next(line for line in text.splitlines() if '"salesforce-sf1_0"' in line)
        assert "sleeping (S)" in idle


def test_pool_of_needs_the_executor_worker_on_the_stack() -> None:
    worker = [Frame("concurrent.futures.thread._worker", "thread.py", 81)]
    assert pool_of("salesforce-sf2_3", worker) == "sf2"
    assert pool_of("asyncio_0", worker) == "asyncio"
    assert pool_of("salesforce-sf2_3", [Frame("x.run", "x.py", 1)]) is None


def test_parse_stat_survives_a_command_with_spaces_and_parens() -> None:
    line = b"42 (a) b (c)) S 1 42 42 0 -1 4194560 1 0 0 0 150 50 0 0 20 0 1 0 9 0 0\n"
    state, cpu = threadstate.parse_stat(line)
    assert state == "S"
    assert cpu == pytest.approx(200 / threadstate._TICKS_PER_SECOND)


def test_the_wait_leaves_include_idle_executors_selectors_and_socket_reads() -> None:
    import concurrent.futures.thread
    import selectors
    import socket

    codes = python_internals.wait_leaf_codes()
    assert concurrent.futures.thread._worker.__code__ in codes
    assert selectors.SelectSelector.select.__code__ in codes
    assert socket.SocketIO.readinto.__code__ in codes


async def test_the_endpoint_takes_a_mode_and_labels_it(worker_like: None) -> None:
    endpoints = DebugEndpoints("t", SamplingProfiler(interval=0.005), HeapProfiler())
    auth = "Bearer t"
    assert (await endpoints.handle("/profile", {"mode": "offcpu"}, auth)).status == 400
    wall = await endpoints.handle("/profile", {"seconds": "0.3", "mode": "wall"}, auth)
    assert wall.status == 200 and wall.headers["X-Profile-Mode"] == "wall"
    assert "wall-clock profile" in wall.body
    cpu = await endpoints.handle("/profile", {"seconds": "0.3"}, auth)
    assert cpu.headers["X-Profile-Mode"] == "cpu"
    assert float(cpu.headers["X-Profile-Sampler-CPU-Share"]) >= 0
    counts = Counter(line.split(";", 1)[0] for line in stack_lines(cpu.body))
    assert "thread:spin-loop" in counts
    index = (await endpoints.handle("/", {}, auth)).body
    assert "CPU profile: only threads on a CPU" in index and "mode=wall" in index
