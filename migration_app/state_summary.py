"""Counts and throughput over the migration_state table (pure: takes the table's values)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from migration_app.migration_state import MigrationState

THROUGHPUT_WINDOW_S = 60.0


def summarize(states: Iterable[MigrationState], now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    counts: Counter[str] = Counter()
    recent = 0
    warnings = errors = 0
    for state in states:
        counts[state.status] += 1
        warnings += state.warnings
        errors += state.errors
        if state.finished_at and now - state.finished_at <= THROUGHPUT_WINDOW_S:
            recent += 1
    return {
        "total": sum(counts.values()),
        "by_status": dict(sorted(counts.items())),
        "warnings": warnings,
        "errors": errors,
        "throughput_per_s": round(recent / THROUGHPUT_WINDOW_S, 2),
    }
