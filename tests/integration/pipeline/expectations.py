"""Assertions several pipeline test modules share: what V2 and the audit must hold after a run."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.integration.pipeline.harness import StackHarness
from tests.integration.pipeline.orgs import OBJECTS


def run_of(runs: list[dict[str, Any]], customer_id: str, attempt: int) -> dict[str, Any]:
    """The audit row of one attempt (exactly one: the (customer, attempt) key is unique)."""
    rows = [r for r in runs if r["customer_id"] == customer_id and r["attempt"] == attempt]
    assert len(rows) == 1, f"{customer_id} attempt {attempt}: {len(rows)} audit rows"
    return rows[0]


def expected_v2_counts(
    harness: StackHarness, ids: list[str], runs: dict[str, dict[str, Any]]
) -> dict[str, int]:
    """V1 records of the customers less the records the transform rejected (audit rows)."""
    v1 = harness.v1_counts(ids)
    rejected = Counter()
    for cid in ids:
        rejected.update(runs[cid]["rejected"])
    return {target: v1[source] - rejected[source] for source, (target, _, _) in OBJECTS.items()}


def assert_v2_matches(
    harness: StackHarness, ids: list[str], states: dict[str, dict[str, Any]]
) -> None:
    """V2 holds exactly V1 less rejected records, each Account once, as the states count them."""
    runs = harness.audit_runs(ids)
    latest = {cid: run_of(runs, cid, states[cid]["attempt"]) for cid in ids}
    v2 = harness.v2_counts(ids)
    assert v2 == expected_v2_counts(harness, ids, latest)
    counted = Counter()
    for cid in ids:
        counted.update(states[cid]["counts"] or {})
    assert v2 == {target: counted[target] for target in v2}
    assert sorted(harness.v2_ids("Account", ids)) == sorted(ids)
