"""The sampling profiler's own CPU share at the default interval (bound: < 5% of one core).

A worker in miniature: 16 idle executor threads (two pools of eight, named like the Salesforce
ones), an asyncio loop thread waking every millisecond, and optionally one thread spinning in
Python. Each scene is profiled for --seconds in both modes; the sampler's thread CPU time
(``time.thread_time`` in the sampler thread) over the window is its share of one core.

Run: PYTHONPATH=. .venv/bin/python -m benchmarks.profiler_overhead [--seconds 5]
Writes benchmarks/results/profiler_overhead.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from migration_app.ops.debug.profiler import DEFAULT_INTERVAL, sample_stacks

RESULTS = Path(__file__).parent / "results" / "profiler_overhead.json"


def _spin(stop: threading.Event) -> None:
    total = 0
    while not stop.is_set():
        for i in range(2000):
            total += i * i


def _loop(stop: threading.Event) -> None:
    async def tick() -> None:
        # the loop wakes every millisecond, like a worker's timers: a tick, not a wait
        ticks = 0
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    asyncio.run(tick())


@contextmanager
def scene(spinning: bool) -> Iterator[None]:
    """Idle pools sf1/sf2 (8 threads each), a ticking loop thread, and maybe a spinning one."""
    stop = threading.Event()
    pools = [ThreadPoolExecutor(8, thread_name_prefix=f"salesforce-sf{n}") for n in (1, 2)]
    barrier = threading.Barrier(17)
    threads = [threading.Thread(target=_loop, args=(stop,), name="loop", daemon=True)]
    if spinning:
        threads.append(threading.Thread(target=_spin, args=(stop,), name="spin", daemon=True))
    try:
        for pool in pools:
            for _ in range(8):
                pool.submit(barrier.wait, 30)
        barrier.wait(30)
        for t in threads:
            t.start()
        yield
    finally:
        stop.set()
        for t in threads:
            if t.ident is not None:
                t.join(30)
        for pool in pools:
            pool.shutdown(wait=True)


def measure(seconds: float) -> list[dict[str, Any]]:
    rows = []
    for spinning in (False, True):
        for mode in ("cpu", "wall"):
            with scene(spinning):
                prof = sample_stacks(seconds, DEFAULT_INTERVAL, threading.Event(), None, mode)
            rows.append(
                {
                    "scene": "one thread spinning" if spinning else "idle",
                    "mode": mode,
                    "threads_sampled": len(prof.threads),
                    "seconds": round(prof.seconds, 2),
                    "rounds": prof.samples,
                    "mean_interval_ms": round(prof.mean_interval * 1000, 2),
                    "samples_kept": prof.kept,
                    "sampler_cpu_s": prof.sampler_cpu_seconds,
                    "sampler_share_of_one_core_pct": round(prof.sampler_share * 100, 2),
                    "process_cpu_s": prof.process_cpu_seconds,
                }
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = measure(args.seconds)
    print(f"{'scene':<22}{'mode':<6}{'rounds':>7}{'mean ms':>9}{'sampler CPU % of a core':>26}")
    for r in rows:
        print(
            f"{r['scene']:<22}{r['mode']:<6}{r['rounds']:>7}{r['mean_interval_ms']:>9}"
            f"{r['sampler_share_of_one_core_pct']:>26}"
        )
    report = {
        "interval_ms": DEFAULT_INTERVAL * 1000,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "rows": rows,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
