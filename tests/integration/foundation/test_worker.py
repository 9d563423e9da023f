"""A real worker against the real dev stack: an event reaches the agent and its table."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

from migration_app.settings import Settings
from migration_app.worker.publisher import publish
from tests.support.polling import wait_for


def _get_json(url: str) -> tuple[int, dict]:
    """(status, JSON body), also for error statuses; (0, {}) while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.loads(err.read())
        except ValueError:
            return err.code, {}
    except OSError:
        return 0, {}


def test_event_updates_table_and_web_views_answer(devstack, start_worker) -> None:
    worker = start_worker(MIGRATION_BATCH_WITHIN="0.2", MIGRATION_CONSOLE_PUBLIC="true")
    with urllib.request.urlopen(f"{devstack.sf1.url}/__admin/customers", timeout=5) as response:
        customer_id = json.loads(response.read())[-2]  # see RESERVED_FOR_SMALL_TESTS
    unknown = "001000000000000ZZZ"
    # before the event: the table does not know the customer (same answer as any unknown id)
    assert _get_json(f"{worker.url}/migrations/{customer_id}") == (
        404,
        {"customer_id": customer_id, "error": "unknown customer"},
    )
    published_at = time.time()
    asyncio.run(publish(Settings.from_env(devstack.env()), [customer_id], requested_by="test"))

    def finished():
        status, body = _get_json(f"{worker.url}/migrations/{customer_id}")
        done = status == 200 and body.get("status") in ("COMPLETED", "FAILED")
        return body if done else None

    body = wait_for(finished, timeout=60)
    # the agent processed this event: one attempt, started after it was published
    assert body["attempt"] == 1, body
    assert body["correlation_id"], body
    assert published_at <= body["started_at"] <= body["finished_at"], body
    status, summary = _get_json(f"{worker.url}/migrations/summary")
    assert status == 200 and summary["by_status"].get(body["status"], 0) >= 1, summary
    assert (summary["rebalancing"], summary["recovering"]) == (False, False), summary
    assert _get_json(f"{worker.url}/migrations/{unknown}") == (
        404,
        {"customer_id": unknown, "error": "unknown customer"},
    )
