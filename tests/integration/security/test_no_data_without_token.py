"""Rule 11 and 12 in the production configuration: two workers, tokens set, under both stores.

A customer is migrated, then every route that could show its state is asked on both workers
without a token (and with wrong ones): none may answer with its data. Before issue 24, with
``rocksdb://`` Faust's ``/table/migration_state/{id}/`` answered 200 with the customer's state to
anyone (``memory://`` happened to miss the key, which is why the dev stack never showed it).
With a token, both workers answer (one of them through Faust's table router) and both answers
keep the security headers (finding 5: a forwarded page lost them).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest

from migration_app.settings import Settings
from migration_app.worker.publisher import publish
from tests.support.polling import wait_for
from tests.support.workers import DEBUG_TOKEN

OPERATOR = ("ops-sec", "operator-secret-of-the-security-test-01")
READER = ("reader-sec", "reader-secret-of-the-security-test-0002")
WORKER_ENV = {
    "MIGRATION_DEV_MODE": "false",  # the dev stack's env names every credential itself
    "MIGRATION_CONSOLE_PUBLIC": "false",
    "MIGRATION_OPERATOR_TOKEN": f"{OPERATOR[0]}:{OPERATOR[1]}",
    "MIGRATION_CONSOLE_READ_TOKEN": f"{READER[0]}:{READER[1]}",
    "MIGRATION_BATCH_WITHIN": "0.2",
    "MIGRATION_MONITOR_ENABLED": "false",
    "MIGRATION_TABLE_STANDBY_REPLICAS": "1",
}
TERMINAL = ("COMPLETED", "FAILED")


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode(errors="replace")


def data_paths(customer_id: str) -> list[str]:
    """Every path that could show a customer's state: Faust's built-in views (each a 404 now)
    and the product's own (each behind a token)."""
    c = customer_id
    return [
        "/table/",
        "/table/migration_state/",
        f"/table/migration_state/{c}/",
        "/router/",
        "/router/topics",
        "/router/migration_state/",
        f"/router/migration_state/{c}/",
        "/graph/",
        "/assignment/",
        "/performance/",
        f"/migrations/{c}",
        "/migrations/customers",
        "/migrations/customers?format=json",
        f"/migrations/customers?q={c}&format=json",
        f"/migrations/customers/{c}",
        f"/migrations/customers/{c}?format=json",
        f"/migrations/customers/{c}/actions/rollback",
        "/debug/pprof/",
        "/debug/pprof/tasks?debug=2",
        "/debug/pprof/heap",
    ]


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_no_route_serves_customer_data_without_a_token(  # type: ignore[no-untyped-def]
    store, devstack, start_worker, customer_pool
) -> None:
    env = {**WORKER_ENV, "MIGRATION_STORE": store}
    workers = [start_worker(**env), start_worker(**env)]
    (customer_id,) = customer_pool.take(1)
    asyncio.run(publish(Settings.from_env(devstack.env()), [customer_id], requested_by="test"))
    read = {"Authorization": f"Bearer {READER[1]}"}

    def state_on_both() -> list[dict] | None:
        states = []
        for worker in workers:
            status, _, body = get(f"{worker.url}/migrations/{customer_id}", read)
            if status != 200 or json.loads(body).get("status") not in TERMINAL:
                return None
            states.append(json.loads(body))
        return states

    states = wait_for(state_on_both, timeout=90)
    assert isinstance(states, list) and states[0] == states[1]
    secrets_of_the_state = [states[0]["correlation_id"]]
    if states[0].get("v2_account_id"):
        secrets_of_the_state.append(states[0]["v2_account_id"])

    # With a token both workers answer, one of them forwarding to the owner: headers kept.
    for worker in workers:
        for path, accept, shows in (
            (f"/migrations/{customer_id}", "application/json", secrets_of_the_state),
            (f"/migrations/customers/{customer_id}", "text/html", secrets_of_the_state[1:]),
        ):
            status, headers, body = get(worker.url + path, {**read, "Accept": accept})
            assert status == 200, (worker.name, path, status, body[:300])
            assert all(value in body for value in shows), (worker.name, path, shows)
            assert "frame-ancestors 'none'" in headers.get("Content-Security-Policy", "")
            assert headers.get("X-Content-Type-Options") == "nosniff", (worker.name, path)
            assert headers.get("Cache-Control") == "no-store", (worker.name, path)

    # Without a token, with a wrong one, with the debug token, with a forged cookie: nothing.
    # (Last: the wrong tokens get this address throttled, as any guesser's.)
    attempts = {
        "no token": {},
        "wrong bearer": {"Authorization": "Bearer " + "x" * 40},
        "debug token": {"Authorization": f"Bearer {DEBUG_TOKEN}"},
        "forged cookie": {"Cookie": f"migration_console={READER[0]}.{'0' * 64}"},
    }
    leaks = []
    for worker in workers:
        for path in data_paths(customer_id):
            for attempt, headers in attempts.items():
                if attempt == "debug token" and path.startswith("/debug/"):
                    continue  # that is what the debug token is for: tasks and heap, no state
                status, _, body = get(worker.url + path, {**headers, "Accept": "text/html"})
                shown = [value for value in secrets_of_the_state if value in body]
                if status < 300 or shown:
                    leaks.append((worker.name, path, attempt, status, shown))
    assert leaks == []
