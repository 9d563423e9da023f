"""aiokafka (0.14.x): the private API the rewinding consumer relies on at shutdown.

``AIOKafkaConsumer.stop()`` closes its fetcher before its client; when the fetcher's close
raises, the client (its broker connections) stays open. We close it ourselves then.
"""

from __future__ import annotations

import inspect
from typing import Any

from aiokafka import AIOKafkaConsumer


def missing_attributes() -> list[str]:
    source = inspect.getsource(AIOKafkaConsumer.__init__)
    return (
        []
        if "self._client" in source
        else [
            "aiokafka.AIOKafkaConsumer._client (used for: closing connections after a failed stop)"
        ]
    )


async def close_client(consumer: AIOKafkaConsumer) -> None:
    client: Any = getattr(consumer, "_client", None)
    if client is not None:
        await client.close()
