"""Counts of the ``migration_state`` table, kept per partition at every write (pure, no I/O).

Why: the summary view, the console heartbeat and ``/metrics`` used to walk the whole table on
every call: at 70,000 customers in RocksDB the heartbeat alone took 43 % of the worker's CPU and
one summary call held the event loop for seconds. Here each write moves one customer from its old
status to its new one (O(1)), and a read sums a few partitions (O(partitions)), so they cost the
same at a million customers as at a thousand.

A partition's counts are rebuilt from the table once when it is assigned or recovered (the only
walk, by ``state_counts_keeper``). Writes may go on while it is being rebuilt: the rebuild reads a
point-in-time snapshot taken when it begins, and the writes after that point are kept aside as a
delta and added when it ends, so none is counted twice or lost. A write to a partition whose
rebuild has not begun is not counted here: the rebuild will read it from the table.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from migration_app.contracts.customer_status import TERMINAL_STATUSES

THROUGHPUT_WINDOW_S = 60.0
_TERMINAL = frozenset(s.value for s in TERMINAL_STATUSES)


@dataclass(frozen=True)
class Counted:
    """What the counts need of one table value."""

    status: str
    warnings: int = 0
    errors: int = 0
    finished_at: float | None = None

    @classmethod
    def of(cls, state: Any) -> Counted:
        """From a ``MigrationState`` (or anything with its attributes)."""
        return cls(state.status, state.warnings or 0, state.errors or 0, state.finished_at)

    @classmethod
    def from_json(cls, raw: bytes) -> Counted:
        """From the table's stored JSON (RocksDB keeps the serialized value): a plain
        ``json.loads``, several times cheaper than building the Faust record."""
        doc = json.loads(raw)
        return cls(
            doc.get("status") or "PENDING",
            doc.get("warnings") or 0,
            doc.get("errors") or 0,
            doc.get("finished_at"),
        )


@dataclass
class Tally:
    """Customers by status plus warning and error totals of one partition (or a delta)."""

    by_status: Counter[str] = field(default_factory=Counter)
    warnings: int = 0
    errors: int = 0

    def add(self, value: Counted, sign: int = 1) -> None:
        self.by_status[value.status] += sign
        self.warnings += sign * value.warnings
        self.errors += sign * value.errors

    def merge(self, other: Tally) -> None:
        self.by_status.update(other.by_status)
        self.warnings += other.warnings
        self.errors += other.errors


class StateCounts:
    """The table's counts per partition; every method is O(1) or O(partitions)."""

    def __init__(self, window_s: float = THROUGHPUT_WINDOW_S) -> None:
        self.window_s = window_s
        self._partitions: dict[int, Tally] = {}
        self._rebuilding: dict[int, Tally] = {}  # partition -> writes since its snapshot
        self._finished_per_second: Counter[int] = Counter()

    # writes -----------------------------------------------------------------------------------
    def record(self, partition: int, old: Counted | None, new: Counted) -> None:
        """One table write on ``partition``: ``old`` is the value it replaced (None: new key).

        A write to a partition that is neither counted nor being rebuilt is left to its rebuild,
        which reads it from the table: a batch still in flight when a rebalance revoked the
        partition used to start a tally of just its own writes here, the partition then looked
        counted, its rebuild was skipped, and the summary stayed wrong (seen after a kill -9)."""
        tally = self._rebuilding.get(partition)
        if tally is None:
            tally = self._partitions.get(partition)
        if tally is None:
            return
        if old is not None:
            tally.add(old, -1)
        tally.add(new)
        if new.status in _TERMINAL and new.finished_at:
            if old is None or old.finished_at != new.finished_at:
                self._note_finished(new.finished_at)

    # rebuilds ---------------------------------------------------------------------------------
    def begin_rebuild(self, partition: int) -> None:
        """Call when the snapshot of ``partition`` is taken; later writes become its delta
        (the partition's counts so far are replaced by the snapshot's)."""
        self._partitions.pop(partition, None)
        self._rebuilding[partition] = Tally()

    def finish_rebuild(self, partition: int, snapshot: Tally, recent: Counter[int]) -> None:
        """The snapshot's tally plus the writes since; ``recent``: its finishes per second in
        the throughput window (a restarted worker shows the rate it had; at most ~61 keys)."""
        delta = self._rebuilding.pop(partition, None)
        if delta is not None:
            snapshot.merge(delta)
        self._partitions[partition] = snapshot
        self._finished_per_second.update(recent)

    def forget(self, partitions: set[int] | None = None) -> None:
        """Partitions this worker no longer owns (None: all of them)."""
        for partition in list(self._partitions) if partitions is None else partitions:
            self._partitions.pop(partition, None)
            self._rebuilding.pop(partition, None)
        if partitions is None:
            self._rebuilding.clear()

    @property
    def partitions(self) -> list[int]:
        """Partitions whose counts are complete."""
        return sorted(self._partitions)

    @property
    def counting(self) -> list[int]:
        """Partitions whose rebuild has not ended (their counts are not shown yet)."""
        return sorted(self._rebuilding)

    # reads ------------------------------------------------------------------------------------
    def by_status(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for tally in self._partitions.values():
            total.update(tally.by_status)
        return {status: n for status, n in sorted(total.items()) if n}

    def summary(self, now: float) -> dict[str, Any]:
        """The JSON of ``/migrations/summary`` (same keys as before, plus ``counting``)."""
        counts = self.by_status()
        self._prune(now)
        recent = sum(
            n for second, n in self._finished_per_second.items() if second >= now - self.window_s
        )
        return {
            "total": sum(counts.values()),
            "by_status": counts,
            "warnings": sum(t.warnings for t in self._partitions.values()),
            "errors": sum(t.errors for t in self._partitions.values()),
            "throughput_per_s": round(recent / self.window_s, 2),
            "partitions": sorted(self._partitions),
            "counting": self.counting,
        }

    def _note_finished(self, finished_at: float) -> None:
        self._finished_per_second[math.floor(finished_at)] += 1
        if len(self._finished_per_second) > 4 * self.window_s:  # nobody reads: stay bounded
            self._prune(max(self._finished_per_second))

    def _prune(self, now: float) -> None:
        horizon = now - self.window_s - 1
        for second in [s for s in self._finished_per_second if s < horizon]:
            del self._finished_per_second[second]


def tally_of(values: list[Counted], now: float, window_s: float) -> tuple[Tally, Counter[int]]:
    """One chunk of a rebuild: its tally and its finishes per second inside the throughput
    window."""
    tally = Tally()
    recent: Counter[int] = Counter()
    for value in values:
        tally.add(value)
        if value.finished_at and now - value.finished_at <= window_s:
            recent[math.floor(value.finished_at)] += 1
    return tally, recent
