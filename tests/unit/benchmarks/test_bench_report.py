"""The benchmark's own arithmetic: which run is reported, and the stage breakdown it reads."""

from __future__ import annotations

from typing import Any

from benchmarks.report import batch_stages, median_runs, strategies_report


def run(strategy: str, per_s: float, *, valid: bool = True, profile: str = "flat") -> dict:
    figures: dict[str, Any] = {
        "strategy": strategy,
        "profile": profile,
        "batch_size": 200,
        "customers_per_s": per_s,
        "valid": valid,
        "api_calls_per_customer": 0.02,
    }
    return figures


def test_the_median_run_is_reported_with_every_repeat_kept() -> None:
    runs = [run("graph", 865.5), run("graph", 773.6), run("graph", 847.3), run("collections", 807)]

    report = strategies_report(runs)

    assert report["graph"]["flat"]["customers_per_s"] == 847.3  # not the best (865.5)
    assert report["graph"]["flat"]["customers_per_s_repeats"] == [865.5, 773.6, 847.3]
    assert report["collections"]["flat"]["customers_per_s"] == 807


def test_an_even_count_reports_the_lower_middle_and_invalid_runs_do_not_count() -> None:
    runs = [run("graph", 900, valid=False), run("graph", 700), run("graph", 800)]
    assert [r["customers_per_s"] for r in median_runs(runs)] == [700]
    assert median_runs(runs)[0]["customers_per_s_repeats"] == [900, 700, 800]


def test_stage_seconds_are_read_from_the_prometheus_text() -> None:
    text = "\n".join(
        [
            "# HELP migration_app_batch_stage_seconds Wall time of one stage",
            'migration_app_batch_stage_seconds_bucket{le="0.1",stage="load"} 3.0',
            'migration_app_batch_stage_seconds_count{stage="load"} 10.0',
            'migration_app_batch_stage_seconds_sum{stage="load"} 2.3321',
            'migration_app_batch_stage_seconds_sum{stage="extract"} 1.5',
            'migration_app_batch_stage_seconds_count{stage="extract"} 10.0',
            'migration_app_migrations_total{status="COMPLETED"} 2000.0',
        ]
    )
    assert batch_stages(text) == {
        "load": {"batches": 10.0, "seconds": 2.332},
        "extract": {"seconds": 1.5, "batches": 10.0},
    }
