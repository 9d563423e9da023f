"""Fault injection and API limits, seen through simple-salesforce's exceptions."""

from __future__ import annotations

import socket
import time

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceGeneralError, SalesforceRefusedRequest

from devstack.sandbox import SandboxConfig, SandboxThread
from migration_app.salesforce.http import HttpSettings
from tests.integration.sandbox.support import admin, login
from tests.support.polling import wait_for

Q = "SELECT Id FROM Account LIMIT 1"


HANG_GUARD_S = 30.0  # deadlines against hangs only, never a performance claim


def test_error_rate_500_and_503(sf2: Salesforce, v2: SandboxThread) -> None:
    admin(v2, "POST", "faults", {"error_rates": {"500": 1.0}})
    with pytest.raises(SalesforceGeneralError) as err:
        sf2.query(Q)
    assert err.value.status == 500
    assert err.value.content[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    admin(v2, "POST", "faults", {"error_rates": {"503": 1.0}})
    with pytest.raises(SalesforceGeneralError) as err:
        sf2.query(Q)
    assert err.value.status == 503
    admin(v2, "POST", "faults", {"error_rates": {"500": 0.5}})
    outcomes = []
    for _ in range(40):
        try:
            sf2.query(Q)
            outcomes.append(True)
        except SalesforceGeneralError:
            outcomes.append(False)
    assert 5 < outcomes.count(False) < 35  # seeded rng: roughly half fail
    admin(v2, "POST", "faults", {"error_rates": {}})
    assert sf2.query(Q)["totalSize"] == 0


def test_bad_fault_settings_are_rejected(v2: SandboxThread) -> None:
    resp = requests.post(f"{v2.url}/__admin/faults", json={"hang_rate": 2}, timeout=5)
    assert resp.status_code == 400
    assert admin(v2, "GET", "faults")["hang_rate"] == 0


def test_latency_is_injected(sf2: Salesforce, v2: SandboxThread) -> None:
    admin(v2, "POST", "faults", {"latency_ms": 150, "jitter_ms": 10})
    start = time.perf_counter()
    sf2.query(Q)
    # A lower bound is the behaviour itself (the server sleeps latency + [0, jitter] first) and
    # load can only make it longer: not a speed claim.
    assert time.perf_counter() - start >= 0.15


def test_hang_times_out_client_and_stops_cleanly() -> None:
    sandbox = SandboxThread(SandboxConfig(org="v2", port=0)).start()
    try:
        sf = login(sandbox, HttpSettings(connect_timeout=1.0, read_timeout=0.3))
        admin(sandbox, "POST", "faults", {"hang_rate": 1.0})
        with pytest.raises(requests.exceptions.ReadTimeout):  # the client's 0.3 s read timeout
            sf.query(Q)
        assert admin(sandbox, "GET", "ready")["status"] == "ready"  # admin is never faulted
        with pytest.raises(requests.exceptions.ReadTimeout):
            sf.query(Q)
        # hung requests end with their client
        wait_for(lambda: admin(sandbox, "GET", "stats")["hanging"] == 0, HANG_GUARD_S)
        # A hang still open at shutdown: the connection stays up, the stop must still be quick.
        port = int(sandbox.url.rsplit(":", 1)[1])
        held = socket.create_connection(("127.0.0.1", port), timeout=5)
        held.sendall(
            f"GET /services/data/v59.0/limits/ HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {sf.session_id}\r\n\r\n".encode()
        )
        wait_for(lambda: admin(sandbox, "GET", "stats")["hanging"] == 1, HANG_GUARD_S)
    finally:
        # The open hang must not keep the server up: stop() returns (it raises TimeoutError if
        # the thread is still alive after its deadline, the hang guard).
        sandbox.stop()
    held.close()


def test_limit_after_gives_request_limit_exceeded(sf2: Salesforce, v2: SandboxThread) -> None:
    sf2.query(Q)
    used = sf2.api_usage["api-usage"].used
    assert used >= 1
    admin(v2, "POST", "faults", {"limit_after": 2})
    sf2.query(Q)
    sf2.query(Q)
    assert sf2.api_usage["api-usage"].used == used + 2
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf2.query(Q)
    assert err.value.status == 403
    assert err.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    login(v2)  # logins are not API calls
    admin(v2, "POST", "faults", {"limit_after": None})
    assert sf2.limits()["DailyApiRequests"]["Remaining"] == 100_000 - (used + 3)


def test_daily_max_is_settable(sf2: Salesforce, v2: SandboxThread) -> None:
    admin(v2, "POST", "faults", {"api_daily_max": 1})
    sf2.query(Q)  # the one allowed call
    with pytest.raises(SalesforceRefusedRequest):
        sf2.query(Q)
