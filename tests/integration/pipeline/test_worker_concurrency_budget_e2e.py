"""Four workers never exceed the org's concurrency limit (issue 28): V2 charges 1 s per request
and refuses a request arriving while 4 have run 0.2 s or more; four workers of load concurrency
8 (up to 32 writes at once, 8 x the org's limit) share a budget of 4 leased in PostgreSQL. The
sandbox counts the peak of requests in flight, and the test asserts it. (The same run with the
budget off, MIGRATION_SF2_CONCURRENT_REQUESTS=0, peaked at 9 in flight and 2 refusals.)

Named to run after the other pipeline modules: it takes 12 customers from the shared pool, and
the tests before it expect the customers they have always been given."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devstack.stack import DevStack
from tests.integration.pipeline.expectations import assert_v2_matches
from tests.integration.pipeline.orgs import admin
from tests.integration.pipeline.worker_pool import READY_PATH
from tests.integration.pipeline.worker_probes import get_json, metric
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration

ORG_LIMIT = 4
WORKERS = 4
LOAD_CONCURRENCY = 8


@pytest.fixture
def busy_v2(devstack: DevStack) -> Iterator[str]:
    """The session's V2 with the cost model on, every request 1 s, and the concurrent
    long-running limit lowered to ORG_LIMIT requests of 0.2 s; restored afterwards."""
    assert devstack.sf2 is not None
    url = devstack.sf2.url
    before = admin(url, "cost-model")
    admin(
        url,
        "cost-model",
        {
            "enabled": True,
            "request_overhead_ms": 1000,
            "long_request_limit": ORG_LIMIT,
            "long_request_s": 0.2,
        },
    )
    try:
        yield url
    finally:
        admin(url, "cost-model", before)
        admin(url, "concurrency/reset", {})


def _ready(worker: Any) -> tuple[int, dict[str, Any]]:
    return get_json(f"{worker.url}{READY_PATH}")


def test_four_workers_never_exceed_the_orgs_concurrency_limit(
    harness, customer_pool, exclusive_worker, busy_v2
):
    env = {
        "MIGRATION_SF2_CONCURRENT_REQUESTS": str(ORG_LIMIT),
        "MIGRATION_LOAD_CONCURRENCY": str(LOAD_CONCURRENCY),
        "MIGRATION_BATCH_SIZE": "1",
    }
    workers = [exclusive_worker(ready_path="/health/live", **env) for _ in range(WORKERS)]

    def settled() -> list[int] | None:
        """Partitions per worker once every worker is ready or idle (Faust's assignor may give
        a newcomer none: it still holds a budget, and its health probes take slots)."""
        answers = [_ready(w) for w in workers]
        if any(body.get("rebalancing") or body.get("recovering") for _, body in answers):
            return None
        counts = [body.get("assigned_partitions") or 0 for _, body in answers]
        return counts if sum(1 for n in counts if n) >= 2 else None

    counts = wait_for(settled, timeout=120, interval=0.5)
    loading = sum(1 for n in counts if n)
    assert loading * LOAD_CONCURRENCY > ORG_LIMIT  # without the budget the org would refuse

    ids = customer_pool.take(12)
    admin(busy_v2, "concurrency/reset", {})
    before = harness.attempts(ids)
    harness.enqueue(ids)
    states = harness.wait_terminal(workers[0], ids, before, timeout=180)
    peaks = admin(busy_v2, "concurrency")

    assert {cid: s["status"] for cid, s in states.items()} == dict.fromkeys(ids, "COMPLETED")
    assert peaks["peak_in_flight"] <= ORG_LIMIT, peaks
    assert peaks["peak_long_running"] <= ORG_LIMIT, peaks
    assert peaks["rejected"] == 0, peaks
    assert peaks["peak_in_flight"] >= 2, peaks  # the workers did share the org
    # every worker holds its part of the same budget, and some had to wait for a slot
    for w in workers:
        assert metric(w, "migration_app_org_concurrency_limit", org="sf2") == ORG_LIMIT
        assert metric(w, "migration_app_org_concurrency_held", org="sf2") <= ORG_LIMIT
    waits = sum(metric(w, "migration_app_org_concurrency_waits_total", org="sf2") for w in workers)
    assert waits > 0
    assert_v2_matches(harness, ids, states)
