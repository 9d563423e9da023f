"""bench-resync's arithmetic: who is changed where, and the API calls per customer."""

from __future__ import annotations

from benchmarks.resync import Options, per, pick, stats_delta, work_calls


def test_the_changed_sets_are_disjoint_in_v1_and_the_v2_edits_among_the_v1_changes() -> None:
    ids = [f"0011S{n:010d}AAA" for n in range(20_000)]
    chosen = pick(ids, Options())
    modified, deleted, edited = (set(chosen[k]) for k in ("modified", "deleted", "edited_v2"))
    assert (len(modified), len(deleted), len(edited)) == (200, 20, 40)
    assert not modified & deleted and edited <= modified
    assert pick(ids, Options()) == chosen  # the seed makes it repeatable


def test_calls_are_counted_per_endpoint_and_health_checks_apart() -> None:
    before = {"by_endpoint": {"query": 10, "limits": 3, "login": 1}}
    after = {"by_endpoint": {"query": 14, "limits": 5, "login": 1, "composite_graph": 2}}
    delta = stats_delta(before, after)
    assert delta == {"query": 4, "limits": 2, "composite_graph": 2}
    assert work_calls(delta, {"queryAll": 4}) == (10, 2)
    assert per(9, 20_000) == 0.00045 and per(1, 0) is None
