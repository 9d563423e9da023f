"""The org cost model over HTTP: server time charged, the concurrent long-running request limit
(REQUEST_LIMIT_EXCEEDED ConcurrentPerOrgLongTxn) and the peaks /__admin/concurrency reports."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from devstack.sandbox import SandboxConfig, SandboxThread
from devstack.sandbox.cost_model import CostModel
from tests.integration.sandbox.support import admin, login

Q = "SELECT Id FROM Account LIMIT 1"


def _query(sandbox: SandboxThread, token: str) -> requests.Response:
    return requests.get(
        f"{sandbox.url}/services/data/v62.0/query",
        params={"q": Q},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_long_running_limit_refuses_and_peaks_are_counted() -> None:
    cost = CostModel(long_request_limit=3, long_request_s=0.2)
    with SandboxThread(SandboxConfig(org="v2", port=0, cost_model=cost)) as sb:
        token = login(sb).session_id
        admin(sb, "POST", "faults", {"latency_ms": 1500})
        with ThreadPoolExecutor(8) as pool:
            slow = [pool.submit(_query, sb, token) for _ in range(5)]
            deadline = time.monotonic() + 10
            while admin(sb, "GET", "concurrency")["long_running"] < 5:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            refused = _query(sb, token)
            results = [f.result() for f in slow]
        assert all(r.status_code == 200 for r in results)
        assert refused.status_code == 403
        assert refused.json() == [
            {
                "message": "ConcurrentPerOrgLongTxn Limit exceeded.",
                "errorCode": "REQUEST_LIMIT_EXCEEDED",
                "fields": [],
            }
        ]
        stats = admin(sb, "GET", "concurrency")
        assert stats["peak_in_flight"] == 5
        assert stats["peak_long_running"] == 5
        assert stats["rejected"] == 1
        assert (stats["in_flight"], stats["long_running"]) == (0, 0)
        # once they ended, requests go through again; peaks reset on demand
        admin(sb, "POST", "faults", {"latency_ms": 0})
        assert _query(sb, token).status_code == 200
        reset = admin(sb, "POST", "concurrency/reset")
        assert reset["peak_long_running"] == 0 and reset["rejected"] == 0


def test_cost_model_charges_overhead_and_records() -> None:
    with SandboxThread(SandboxConfig(org="v2", port=0)) as sb:
        sf = login(sb)
        assert admin(sb, "GET", "cost-model")["enabled"] is False
        admin(
            sb,
            "POST",
            "cost-model",
            {"enabled": True, "request_overhead_ms": 50, "record_ms": {"Account": 100}},
        )
        start = time.perf_counter()
        sf.Account.create({"Name": "Acme"})
        # a lower bound only: 50 ms overhead + 100 ms for the Account, as asyncio sleeps
        assert time.perf_counter() - start >= 0.15
        bad = requests.post(f"{sb.url}/__admin/cost-model", json={"nope": 1}, timeout=5)
        assert bad.status_code == 400
        limits = sf.restful("limits")
        assert limits["DailyApiRequests"]["Remaining"] < limits["DailyApiRequests"]["Max"]
