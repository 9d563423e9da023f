"""StateCounts: counts kept per partition at each write, rebuilt from a snapshot while writes
go on, forgotten on revocation; every read is O(partitions)."""

from __future__ import annotations

import json
from collections import Counter

from migration_app.worker.migration_state import MigrationState
from migration_app.worker.state_counts import Counted, StateCounts, Tally, tally_of

NOW = 1_000_000.0


def c(status: str, warnings: int = 0, errors: int = 0, finished_at: float | None = None) -> Counted:
    return Counted(status, warnings, errors, finished_at)


def counted(*partitions: int, window_s: float = 60) -> StateCounts:
    """Counts whose ``partitions`` have been rebuilt from an empty table."""
    counts = StateCounts(window_s=window_s)
    for partition in partitions:
        counts.begin_rebuild(partition)
        counts.finish_rebuild(partition, Tally(), Counter())
    return counts


def test_a_write_moves_one_customer_from_its_old_status_to_its_new_one() -> None:
    counts = counted(0, 1)
    counts.record(0, None, c("IN_PROGRESS"))
    counts.record(1, None, c("IN_PROGRESS"))
    counts.record(0, c("IN_PROGRESS"), c("COMPLETED", warnings=2, finished_at=NOW - 1))

    summary = counts.summary(NOW)
    assert summary["by_status"] == {"COMPLETED": 1, "IN_PROGRESS": 1}
    assert (summary["total"], summary["warnings"], summary["errors"]) == (2, 2, 0)
    assert summary["throughput_per_s"] == round(1 / 60, 2)


def test_a_rewrite_of_a_finished_customer_replaces_its_warnings_instead_of_adding() -> None:
    counts = counted(0)
    counts.record(0, None, c("FAILED", warnings=3, errors=1, finished_at=NOW))
    counts.record(0, c("FAILED", warnings=3, errors=1, finished_at=NOW), c("IN_PROGRESS"))
    counts.record(0, c("IN_PROGRESS"), c("COMPLETED", warnings=1, finished_at=NOW + 1))

    assert counts.summary(NOW + 1)["warnings"] == 1
    assert counts.summary(NOW + 1)["errors"] == 0
    assert counts.by_status() == {"COMPLETED": 1}


def test_throughput_counts_only_the_last_minutes_finishes() -> None:
    counts = counted(0, window_s=60)
    counts.record(0, None, c("COMPLETED", finished_at=NOW - 120))
    counts.record(0, None, c("COMPLETED", finished_at=NOW - 30))
    assert counts.summary(NOW)["throughput_per_s"] == round(1 / 60, 2)


def test_writes_during_a_rebuild_are_added_to_its_snapshot_not_lost_or_doubled() -> None:
    counts = counted(0)
    counts.record(0, None, c("PENDING"))  # before the rebuild: replaced by the snapshot
    counts.begin_rebuild(0)
    snapshot = [c("COMPLETED"), c("IN_PROGRESS")]  # the table when the rebuild began
    counts.record(0, c("IN_PROGRESS"), c("FAILED", errors=1))  # meanwhile
    counts.record(0, None, c("IN_PROGRESS"))  # a new customer meanwhile
    assert counts.counting == [0]
    assert counts.by_status() == {}  # not shown while counting

    tally, recent = tally_of(snapshot, NOW, 60)
    counts.finish_rebuild(0, tally, recent)

    assert counts.by_status() == {"COMPLETED": 1, "FAILED": 1, "IN_PROGRESS": 1}
    assert counts.summary(NOW)["errors"] == 1
    assert counts.counting == []


def test_revoked_partitions_are_forgotten_and_the_others_kept() -> None:
    counts = counted(0, 1, 2)
    for partition in (0, 1, 2):
        counts.record(partition, None, c("COMPLETED"))
    counts.begin_rebuild(3)
    counts.forget({1, 3})
    assert counts.partitions == [0, 2]
    assert counts.counting == []
    assert counts.by_status() == {"COMPLETED": 2}
    counts.forget()
    assert counts.summary(NOW)["total"] == 0


def test_a_write_to_a_partition_not_counted_yet_is_left_to_its_rebuild() -> None:
    """A batch in flight across a rebalance writes after the revocation forgot its partition
    and before the recovery counts it again: that write alone must not pass for the
    partition's counts (the rebuild would then be skipped and the summary stay wrong)."""
    counts = counted(0, 1)
    counts.record(1, None, c("IN_PROGRESS"))
    counts.forget({0, 1})  # the rebalance revokes both
    counts.record(1, c("IN_PROGRESS"), c("COMPLETED", finished_at=NOW))  # the batch ends
    assert counts.partitions == [] and counts.by_status() == {}
    assert counts.summary(NOW)["throughput_per_s"] == 0  # the rebuild counts that finish

    counts.begin_rebuild(1)  # after the recovery: the table holds the write
    tally, recent = tally_of([c("COMPLETED", finished_at=NOW)], NOW, 60)
    counts.finish_rebuild(1, tally, recent)
    assert counts.by_status() == {"COMPLETED": 1}
    assert counts.summary(NOW)["throughput_per_s"] == round(1 / 60, 2)


def test_counted_reads_the_stored_json_as_the_record_would() -> None:
    state = MigrationState(
        customer_id="001", status="COMPLETED", warnings=4, errors=1, finished_at=NOW
    )
    raw = json.dumps(state.to_representation()).encode()
    assert Counted.from_json(raw) == Counted.of(state) == c("COMPLETED", 4, 1, NOW)


def test_the_finish_buckets_stay_bounded_when_nobody_reads() -> None:
    counts = counted(0, window_s=60)
    for second in range(10_000):
        counts.record(0, None, c("COMPLETED", finished_at=NOW + second))
    assert len(counts._finished_per_second) <= 4 * 60 + 1


def test_tally_merge_adds_counts_and_totals() -> None:
    a, b = Tally(), Tally()
    a.add(c("COMPLETED", 1, 0))
    b.add(c("COMPLETED", 2, 1))
    b.add(c("FAILED"), -1)
    a.merge(b)
    assert (dict(a.by_status), a.warnings, a.errors) == ({"COMPLETED": 2, "FAILED": -1}, 3, 1)
