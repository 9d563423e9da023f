"""The replay storm's arithmetic: what was consumed, how fast, what the worker's /metrics say."""

from __future__ import annotations

import pytest

from benchmarks.replay_storm import (
    GOAL_DUPLICATES_PER_S,
    crossing_time,
    end_offsets,
    metric_total,
    progress,
    replay_order,
    steady_rate,
    storm_figures,
)


def test_replays_go_round_robin_over_the_customers() -> None:
    assert replay_order(3, 7) == [0, 1, 2, 0, 1, 2, 0]
    with pytest.raises(ValueError):
        replay_order(0, 5)


def test_end_offsets_are_one_past_the_last_delivery_per_partition() -> None:
    assert end_offsets([(0, 4), (1, 0), (0, 9), (0, 7)]) == {0: 10, 1: 1}
    assert end_offsets([]) == {}


def test_progress_counts_commits_past_the_start_and_a_missing_commit_as_none_yet() -> None:
    start = {0: 100, 1: 50, 2: 0}
    assert progress(start, {0: 100, 1: 50, 2: None}) == 0
    assert progress(start, {0: 160, 1: 70, 2: 5}) == 85
    assert progress(start, {0: 90}) == 0  # never negative, absent partitions not yet moved
    assert progress({0: 10}, {0: 10, 3: 4}) == 4  # a partition first committed in the storm


def test_crossing_time_interpolates_between_the_samples_around_the_target() -> None:
    samples = [(0.0, 0), (1.0, 0), (2.0, 1000), (3.0, 2000)]
    assert crossing_time(samples, 500) == pytest.approx(1.5)
    assert crossing_time(samples, 2000) == pytest.approx(3.0)
    assert crossing_time(samples, 2001) is None
    assert crossing_time([(0.4, 300)], 100) == 0.4  # reached at the first sample


def test_steady_rate_leaves_out_the_start_and_the_tail() -> None:
    # 0.5 s before anything commits, then 1,000/s, then a last commit 0.7 s late
    samples = [(0.0, 0), (0.5, 0), (1.5, 1000), (2.3, 1800), (3.0, 2000)]
    assert steady_rate(samples, 2000) == pytest.approx(1000.0)
    assert steady_rate([(0.0, 0), (1.0, 100)], 2000) is None  # 90% never reached


def test_storm_figures_report_the_rate_against_the_goal_and_what_was_left_behind() -> None:
    done = storm_figures(20_000, 20_000, wall_s=4.0, produce_s=1.0, worker_cpu_s=3.0)
    assert done["duplicates_per_s"] == 5000.0
    assert done["ratio_to_goal"] == pytest.approx(5000 / GOAL_DUPLICATES_PER_S)
    assert done["left_behind"] == 0
    assert done["tail_after_produce_s"] == 3.0
    assert done["worker_cpu_ms_per_1000_duplicates"] == 150.0
    assert done["worker_cpu_share_of_one_core"] == 0.75
    assert done["goal_met"] is False

    fast = storm_figures(20_000, 20_000, wall_s=1.6, produce_s=1.5, worker_cpu_s=1.0)
    assert fast["goal_met"] is True  # 12,500/s

    late = storm_figures(20_000, 19_256, wall_s=302.0, produce_s=2.5, worker_cpu_s=290.0)
    assert late["left_behind"] == 744
    assert late["duplicates_per_s"] == pytest.approx(63.8, abs=0.05)
    assert late["goal_met"] is False


def test_metric_total_sums_every_labelled_sample_of_that_name_only() -> None:
    text = "\n".join(
        [
            "# HELP migration_app_duplicate_events_total Customer events skipped",
            "# TYPE migration_app_duplicate_events_total counter",
            "migration_app_duplicate_events_total 3780.0",
            "migration_app_duplicate_events_created 1.7e9",
            'migration_app_migrations_total{status="COMPLETED"} 200.0',
            'migration_app_migrations_total{status="FAILED"} 3.0',
            "migration_app_migrations_totally_other 9.0",
        ]
    )
    assert metric_total(text, "migration_app_duplicate_events_total") == 3780.0
    assert metric_total(text, "migration_app_migrations_total") == 203.0
    assert metric_total(text, "migration_app_events_consumed_total") is None
