"""Fault injection and the daily API limit, both settable at run time through /__admin/faults.

Why: the worker's retry, timeout and back-off paths must be exercised against the same failures
production gives (latency, 500/503, hanging connections, REQUEST_LIMIT_EXCEEDED). Latency is an
`asyncio.sleep` and a hang waits on the shutdown event, so neither blocks the loop nor the stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import SfError

_ERROR_BODIES = {
    500: (
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if you "
        "contact support: 1234567890-12345 (-1234567890)",
    ),
    502: ("SERVER_UNAVAILABLE", "Bad gateway"),
    503: ("SERVER_UNAVAILABLE", "Service temporarily unavailable, please retry"),
    504: ("SERVER_UNAVAILABLE", "Gateway timeout"),
}


HANG_POLL_S = 0.2


class HangInterrupted(Exception):
    """A hung request was released by server shutdown."""


@dataclass
class Faults:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rates: dict[str, float] = field(default_factory=dict)
    hang_rate: float = 0.0
    hanging: int = 0  # requests hanging right now
    rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    def update(self, data: dict) -> None:
        """Apply a partial JSON update; raise ValueError on bad input (nothing changes then)."""
        latency = float(data.get("latency_ms", self.latency_ms))
        jitter = float(data.get("jitter_ms", self.jitter_ms))
        hang = float(data.get("hang_rate", self.hang_rate))
        rates = data.get("error_rates", self.error_rates)
        if not isinstance(rates, dict):
            raise ValueError('error_rates must be an object like {"500": 0.2}')
        rates = {str(int(k)): float(v) for k, v in rates.items()}
        if latency < 0 or jitter < 0 or not 0 <= hang <= 1:
            raise ValueError("latency_ms/jitter_ms must be >= 0 and hang_rate within [0, 1]")
        if any(not 0 <= v <= 1 for v in rates.values()) or sum(rates.values()) > 1:
            raise ValueError("error rates must be within [0, 1] and sum to at most 1")
        self.latency_ms, self.jitter_ms, self.hang_rate, self.error_rates = (
            latency,
            jitter,
            hang,
            rates,
        )

    def to_json(self) -> dict:
        return {
            "latency_ms": self.latency_ms,
            "jitter_ms": self.jitter_ms,
            "error_rates": dict(self.error_rates),
            "hang_rate": self.hang_rate,
        }

    async def apply(self, shutdown: asyncio.Event, client_gone: Callable[[], bool]) -> None:
        """Sleep, hang or raise an injected error, as configured.

        A hang answers nothing until the server shuts down or the client gives up (checked every
        0.2 s), so hung requests never outlive their connection.
        """
        delay = self.latency_ms + (self.rng.uniform(0, self.jitter_ms) if self.jitter_ms else 0)
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        if self.hang_rate and self.rng.random() < self.hang_rate:
            self.hanging += 1
            try:
                while not shutdown.is_set() and not client_gone():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(shutdown.wait(), HANG_POLL_S)
            finally:
                self.hanging -= 1
            raise HangInterrupted
        if self.error_rates:
            draw = self.rng.random()
            for status, rate in self.error_rates.items():
                if draw < rate:
                    code, message = _ERROR_BODIES.get(int(status), ("UNKNOWN_EXCEPTION", "error"))
                    raise SfError(int(status), code, message)
                draw -= rate


@dataclass
class ApiUsage:
    """DailyApiRequests: calls to /services/data count, login and admin calls do not."""

    daily_max: int
    used: int = 0
    limit_after: int | None = None
    _cutoff: int | None = None

    def set_limit_after(self, n: int | None) -> None:
        self.limit_after = n
        self._cutoff = None if n is None else self.used + n

    def check(self) -> None:
        ceiling = self.daily_max if self._cutoff is None else min(self.daily_max, self._cutoff)
        if self.used >= ceiling:
            raise SfError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")

    def consume(self) -> None:
        self.used += 1

    def header(self) -> str:
        return f"api-usage={self.used}/{self.daily_max}"

    def limits_body(self) -> dict:
        return {
            "DailyApiRequests": {
                "Max": self.daily_max,
                "Remaining": max(0, self.daily_max - self.used),
            },
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
        }
