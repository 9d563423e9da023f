"""A probe storm from another process (like real uptime checkers).

``python -m tests.integration.observability.loadgen URL REQUESTS CONCURRENCY`` prints JSON with
each request's latency, the status counts and each dependency's reported status and error.
Keeps the client's CPU off the server's event loop."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

import aiohttp


async def storm(url: str, requests: int, concurrency: int) -> dict[str, object]:
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()  # "dependency STATUS error" over every answer
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def prober(count: int) -> None:
            for _ in range(count):
                start = time.perf_counter()
                async with http.get(url) as resp:
                    doc = await resp.json()
                latencies.append(time.perf_counter() - start)
                statuses[f"{resp.status} {doc['status']}"] += 1
                for name, part in doc.items():
                    if isinstance(part, dict) and "status" in part:
                        reasons[f"{name} {part['status']} {part.get('error', '')}"] += 1

        started = time.perf_counter()
        await asyncio.gather(*(prober(requests // concurrency) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"latencies": latencies, "statuses": statuses, "reasons": reasons, "elapsed": elapsed}


def main() -> None:
    url, requests, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(asyncio.run(storm(url, requests, concurrency))))


if __name__ == "__main__":
    main()
