"""aiokafka (0.14.x): the private API the rewinding consumer relies on.

* ``AIOKafkaConsumer._client``: ``stop()`` closes its fetcher before its client; when the
  fetcher's close raises, the client (its broker connections) stays open. We close it then.
* ``AIOKafkaConsumer._fetch_max_wait_ms``: Faust builds its consumer with a fixed 1.5 s long
  poll; we set ours (``MIGRATION_CONSUMER_FETCH_MAX_WAIT``) before the consumer starts.
"""

from __future__ import annotations

import inspect
from typing import Any

from aiokafka import AIOKafkaConsumer

_INSTANCE_STATE = {
    "_client": "closing connections after a failed stop",
    "_fetch_max_wait_ms": "the consumer's long-poll wait (MIGRATION_CONSUMER_FETCH_MAX_WAIT)",
}


def missing_attributes() -> list[str]:
    source = inspect.getsource(AIOKafkaConsumer.__init__)
    return [
        f"aiokafka.AIOKafkaConsumer.{name} (used for: {why})"
        for name, why in _INSTANCE_STATE.items()
        if f"self.{name}" not in source
    ]


def set_fetch_max_wait(consumer: AIOKafkaConsumer, seconds: float) -> None:
    """How long a fetch waits at the broker for data; read by the fetcher at ``start()``.

    Why: aiokafka sends one fetch per broker for every fetchable partition and adds none to it
    while it waits, so a partition that becomes fetchable (its queued records were consumed) waits
    out the whole long poll of the others: Faust's 1.5 s showed as a 1.5 s stall at a run's end.
    """
    consumer._fetch_max_wait_ms = max(1, int(seconds * 1000))  # type: ignore[attr-defined]


async def close_client(consumer: AIOKafkaConsumer) -> None:
    client: Any = getattr(consumer, "_client", None)
    if client is not None:
        await client.close()
