"""A real worker against the real dev broker: events reach the agent and its table."""

from __future__ import annotations

import asyncio
import json
import urllib.request

from aiokafka import AIOKafkaProducer

from tests.conftest import wait_for


def _get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, {}  # not ready yet (e.g. partitions not assigned)
    except OSError:
        return 0, {}


async def _produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def test_event_updates_table_and_web_views_answer(devstack, start_worker) -> None:
    worker = start_worker(ready_path="/")
    customer_id = "001000000000001AAA"
    bootstrap = devstack.broker.url.removeprefix("kafka://")
    asyncio.run(_produce(bootstrap, "customer", customer_id.encode(), b"\x00\x00\x00\x00\x01"))

    def state_seen():
        status, body = _get_json(f"{worker.url}/migrations/{customer_id}")
        return body if status == 200 else None

    body = wait_for(state_seen, timeout=60)
    assert body["customer_id"] == customer_id
    with urllib.request.urlopen(f"{worker.url}/", timeout=2) as response:
        assert response.status == 200
