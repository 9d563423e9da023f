"""Capped exponential backoff with jitter, shared by every retry loop in the worker."""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff_delays(base: float = 0.5, cap: float = 10.0) -> Iterator[float]:
    """Endless delays: base, 2*base, ... capped at cap, each jittered to [d/2, d]."""
    delay = base
    while True:
        yield random.uniform(delay / 2, delay)
        delay = min(delay * 2, cap)
