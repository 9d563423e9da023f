"""`make bench-recovery`'s cost arithmetic: idle CPU per second, CPU per summary call, latencies,
and the issue's goals."""

from __future__ import annotations

import pytest

from benchmarks.recovery import (
    GOAL_IDLE_CPU_S_PER_S,
    GOAL_SUMMARY_CPU_MS,
    cpu_per_second,
    goals_met,
    latency_figures,
    per_call_ms,
    print_costs,
)


def test_cpu_per_second_and_per_call() -> None:
    assert cpu_per_second(6.15, 25.0) == pytest.approx(0.246)  # the idle worker at 30k
    assert cpu_per_second(1.0, 0.0) == 0.0
    assert per_call_ms(0.04, 20) == pytest.approx(2.0)
    assert per_call_ms(0.04, 0) == 0.0


def test_latency_figures_median_nearest_rank_p95_and_max() -> None:
    seconds = [0.001 * i for i in range(1, 21)]  # 1..20 ms
    assert latency_figures(seconds) == {"median_ms": 10.5, "p95_ms": 19.0, "max_ms": 20.0}
    assert latency_figures([0.002]) == {"median_ms": 2.0, "p95_ms": 2.0, "max_ms": 2.0}
    assert latency_figures([]) == {"median_ms": None, "p95_ms": None, "max_ms": None}


def test_goals_are_at_most_not_below() -> None:
    at_goal = {"idle_cpu_s_per_s": GOAL_IDLE_CPU_S_PER_S, "summary_cpu_ms_per_call": 5.0}
    assert goals_met(at_goal) == {"idle_cpu": True, "summary_cpu": True}
    over = {"idle_cpu_s_per_s": 0.246, "summary_cpu_ms_per_call": 2397.0}
    assert goals_met(over) == {"idle_cpu": False, "summary_cpu": False}
    assert goals_met({}) == {"idle_cpu": None, "summary_cpu": None}
    assert GOAL_SUMMARY_CPU_MS == 5.0


def test_the_cost_table_shows_each_run_beside_the_goals() -> None:
    run = {
        "store": "rocksdb://",
        "customers": 100_000,
        "idle_cpu_s_per_s": 0.0123,
        "summary_cpu_ms_per_call": 0.5,
        "summary_latency": {"median_ms": 1.0, "p95_ms": 1.3, "max_ms": 2.0},
        "rss_mib_after_summary_calls": 118.4,
        "idle_window_s": 25.0,
        "summary_calls": 20,
    }
    lines: list[str] = []
    print_costs({"runs": [run, {**run, "idle_cpu_s_per_s": 0.3}]}, lines.append)
    rows = [line for line in lines if line.startswith("rocksdb://")]
    assert "0.0123" in rows[0] and rows[0].count("MET") == 2
    assert "NOT" in rows[1]
    assert "<= 0.05 CPU-s/s" in lines[-1] and "<= 5.0 CPU ms" in lines[-1]
