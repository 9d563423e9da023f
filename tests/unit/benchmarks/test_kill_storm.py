"""The kill storm's counting: when to kill, the changelog's latest state, the outside verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.kill_storm import (
    batches_in_flight,
    check_outcome,
    due,
    kill_thresholds,
    latest_states,
    log_lines_naming,
    parse_args,
    parse_kills,
    passed,
)


def _result(cid: str, attempt: int, status: str = "COMPLETED", **extra: object) -> dict:
    return {"customer_id": cid, "attempt": attempt, "status": status, **extra}


def _state(status: str, attempt: int) -> dict:
    return {"status": status, "attempt": attempt}


def test_thresholds_are_the_first_count_at_or_past_each_percentage_sorted() -> None:
    assert kill_thresholds(3000, [75, 15, 35, 55]) == [450, 1050, 1650, 2250]
    assert kill_thresholds(7, [10, 50]) == [1, 4]  # ceil, at least one result
    assert kill_thresholds(3, [99.9]) == [2]  # never at the last result: nothing left in flight


@pytest.mark.parametrize("bad", [0, 100, -5, 120])
def test_thresholds_refuse_percentages_outside_the_open_interval(bad: float) -> None:
    with pytest.raises(ValueError):
        kill_thresholds(100, [bad])
    with pytest.raises(ValueError):
        kill_thresholds(1, [50])


def test_parse_kills() -> None:
    assert parse_kills("15,35, 55,75") == (15.0, 35.0, 55.0, 75.0)
    for bad in ("", "0", "15,100", "x"):
        with pytest.raises(ValueError):
            parse_kills(bad)


def test_a_kill_is_due_past_the_threshold_once_the_current_worker_publishes() -> None:
    assert due(450, 450, 0)
    assert not due(449, 450, 0)
    # the killed worker's last results were read after the restart: not this worker's batch
    assert not due(500, 450, 500)
    assert due(501, 450, 500)


def test_latest_state_per_key_in_offset_order_with_tombstones_and_json_keys() -> None:
    records = [
        (b"A", json.dumps(_state("IN_PROGRESS", 1)).encode()),
        (b'"B"', json.dumps(_state("COMPLETED", 1)).encode()),  # an older worker's JSON key
        (b"A", json.dumps(_state("COMPLETED", 2)).encode()),
        (b"C", json.dumps(_state("FAILED", 1)).encode()),
        (b"C", None),  # tombstone
        (None, b"{}"),
    ]
    assert latest_states(records) == {"A": _state("COMPLETED", 2), "B": _state("COMPLETED", 1)}


def test_a_clean_storm_passes_and_counts_the_re_migrated() -> None:
    results = [_result("A", 1), _result("B", 1), _result("B", 2), _result("C", 1, "FAILED")]
    states = {"A": _state("COMPLETED", 1), "B": _state("COMPLETED", 2), "C": _state("FAILED", 1)}
    outcome = check_outcome(["A", "B", "C"], results, states)
    assert outcome["final_attempt_without_result"] == 0
    assert outcome["duplicate_result_pairs"] == 0
    assert outcome["not_terminal"] == 0
    assert outcome["migrated_more_than_once"] == 1
    assert outcome["final_attempts"] == {"1": 2, "2": 1}
    assert outcome["by_status"] == {"COMPLETED": 2, "FAILED": 1}
    assert outcome["results_by_attempt"] == {"1 COMPLETED": 2, "1 FAILED": 1, "2 COMPLETED": 1}
    assert passed(outcome)


def test_issue_23s_loss_a_final_attempt_without_its_result_event_fails_the_storm() -> None:
    # COMPLETED at attempt 2 in the table; only attempt 1's result was published
    results = [_result("A", 1, "FAILED"), _result("B", 1)]
    states = {"A": _state("COMPLETED", 2), "B": _state("COMPLETED", 1)}
    outcome = check_outcome(["A", "B"], results, states)
    assert outcome["final_attempt_without_result"] == 1
    assert outcome["missing_customers"] == ["A"]
    assert outcome["attempts_seen"] == {"A": [1]}
    assert not passed(outcome)


def test_duplicates_are_counted_per_customer_and_attempt_identical_or_not() -> None:
    same = _result("A", 1, correlation_id="x", offset=3, partition=0)
    again = _result("A", 1, correlation_id="x", offset=9, partition=0)  # a resend: identical
    other = _result("B", 1, correlation_id="y")
    differs = _result("B", 1, "FAILED", correlation_id="y")
    states = {"A": _state("COMPLETED", 1), "B": _state("COMPLETED", 1)}
    outcome = check_outcome(["A", "B"], [same, again, other, differs], states)
    assert outcome["duplicate_result_pairs"] == 2
    assert outcome["duplicate_result_pairs_differing"] == 1
    assert outcome["duplicate_pairs"] == [["A", 1], ["B", 1]]
    assert outcome["status_mismatch"] == 1  # B's table says COMPLETED, one result FAILED
    assert not passed(outcome)
    ok = check_outcome(["A"], [same, again], {"A": _state("COMPLETED", 1)})
    assert ok["duplicate_result_pairs"] == 1 and passed(ok)  # tolerated: README, dedupe


def test_not_terminal_past_final_attempt_and_unknown_customers() -> None:
    results = [_result("A", 3), _result("B", 1), _result("Z", 1)]
    states = {"A": _state("COMPLETED", 2), "B": _state("IN_PROGRESS", 2)}
    outcome = check_outcome(["A", "B", "C"], results, states)
    assert outcome["not_terminal_customers"] == ["B", "C"]
    assert outcome["final_attempt_without_result"] == 1  # A: attempt 2 has none
    assert outcome["past_final_attempt_customers"] == ["A"]  # the table lost attempt 3
    assert outcome["results_for_unknown_customers"] == 1
    assert outcome["customers"] == 3 and outcome["customers_with_a_result"] == 2
    assert not passed(outcome)


def test_batches_in_flight_from_the_stage_histogram_counts() -> None:
    text = "\n".join(
        [
            "# HELP migration_app_batch_stage_seconds ...",
            'migration_app_batch_stage_seconds_bucket{le="0.1",stage="decode"} 3.0',
            'migration_app_batch_stage_seconds_count{stage="decode"} 5.0',
            'migration_app_batch_stage_seconds_count{stage="extract"} 4.0',
            'migration_app_batch_stage_seconds_count{stage="finish"} 2.0',
            'migration_app_batch_stage_seconds_sum{stage="finish"} 0.7',
        ]
    )
    assert batches_in_flight(text) == {
        "started": 5,
        "past_extract": 4,
        "finished": 2,
        "started_not_finished": 3,
        "past_extract_not_finished": 2,
    }
    assert batches_in_flight("")["started_not_finished"] == 0


def test_log_lines_naming_a_customer_are_kept_per_file_and_bounded(tmp_path: Path) -> None:
    (tmp_path / "worker-0.log").write_text("a A1 b\nnothing\nA1 again\n")
    (tmp_path / "worker-1.log").write_text("A1 third\n")
    found = log_lines_naming(
        [tmp_path / "worker-0.log", tmp_path / "worker-1.log", tmp_path / "gone.log"], ["A1"], 2
    )
    assert found == {"A1": ["worker-0.log: a A1 b", "worker-0.log: A1 again"]}
    assert log_lines_naming([tmp_path / "worker-0.log"], [], 5) == {}


def test_command_line_defaults_help_and_refusals(capsys: pytest.CaptureFixture[str]) -> None:
    opts = parse_args([])
    assert (opts.customers, opts.latency_ms, opts.kills) == (3000, 50, (15, 35, 55, 75))
    assert opts.stores == ("rocksdb://", "memory://")
    assert parse_args(["--stores", "memory://", "--kills", "50"]).stores == ("memory://",)
    with pytest.raises(SystemExit) as shown:
        parse_args(["--help"])
    assert shown.value.code == 0 and "--kills" in capsys.readouterr().out
    for bad in (["--stores", "redis://"], ["--kills", "100"], ["--customers", "1"]):
        with pytest.raises(SystemExit) as refused:
            parse_args(bad)
        assert refused.value.code == 2
