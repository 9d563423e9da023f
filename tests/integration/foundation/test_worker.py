"""A real worker against the real dev stack: an event reaches the agent and its table."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

from migration_app.enqueue import publish
from migration_app.settings import Settings
from tests.conftest import wait_for


def _get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, {}  # not ready yet (e.g. partitions not assigned)
    except OSError:
        return 0, {}


def test_event_updates_table_and_web_views_answer(devstack, start_worker) -> None:
    worker = start_worker(MIGRATION_BATCH_WITHIN="0.2")
    with urllib.request.urlopen(f"{devstack.sf1.url}/__admin/customers", timeout=5) as response:
        customer_id = json.loads(response.read())[-2]  # see RESERVED_FOR_SMALL_TESTS
    asyncio.run(publish(Settings.from_env(devstack.env()), [customer_id], requested_by="test"))

    def state_seen():
        status, body = _get_json(f"{worker.url}/migrations/{customer_id}")
        return body if status == 200 and body.get("attempt", 0) >= 1 else None

    body = wait_for(state_seen, timeout=60)
    assert body["customer_id"] == customer_id
    with urllib.request.urlopen(f"{worker.url}/", timeout=2) as response:
        assert response.status == 200
    unknown = wait_for(
        lambda: _get_json(f"{worker.url}/migrations/001000000000000ZZZ")[0] in (404,) or None,
        timeout=10,
    )
    assert unknown
