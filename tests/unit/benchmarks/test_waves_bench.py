"""`make bench-waves`: its options (100,000 customers by default, every strategy and worker
count) and the row it prints."""

from __future__ import annotations

from benchmarks.waves import parse_args, print_row


def test_defaults_are_the_issue_28_wave() -> None:
    opts = parse_args([])
    assert opts.customers == 100_000
    assert opts.workers == (1, 2, 4)
    assert opts.strategies == ("graph", "collections", "bulk")
    small = parse_args(["--customers", "3000", "--workers", "1", "--strategies", "bulk"])
    assert (small.customers, small.workers, small.strategies) == (3000, (1,), ("bulk",))


def test_a_row_shows_the_share_of_capacity(capsys) -> None:
    print_row(
        {
            "strategy": "bulk",
            "workers": 2,
            "customers_per_s": 40.0,
            "records_per_s": 400.0,
            "capacity_records_per_s": 458.0,
            "share_of_capacity": 0.873,
            "api_calls_per_customer": 0.01,
            "compensations": 0,
            "worker_cpu_s_per_1000_customers": 3.0,
            "peak_rss_bytes_per_worker": [150 * 2**20, 160 * 2**20],
        }
    )
    out = capsys.readouterr().out
    assert "87.3 %" in out and "160 MiB" in out
