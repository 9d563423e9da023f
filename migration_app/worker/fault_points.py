"""Named points where a test may have the worker kill itself (``MIGRATION_FAULT_KILL_AT``).

Why: the order of durable writes is this worker's correctness argument (``processor``), and a
kill from outside lands wherever a timer happens to put it. A test arms one point
(``between-load-and-audit``, ``between-result-and-state``, ``during-file-upload``: half-way
through a streamed file upload, or ``during-bulk-job``: a Bulk API job uploaded and closed,
its results not read; optionally ``@N`` for the N-th time
it is reached) and the worker sends itself SIGKILL exactly there: no handler runs, no buffer is
flushed, as with an OOM kill or a node loss. Unarmed (the default, and always in production)
``reached`` is a no-op.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)

#: the points the code defines (a setting naming another one is refused at start)
POINTS = frozenset(
    {"between-load-and-audit", "between-result-and-state", "during-file-upload", "during-bulk-job"}
)


def parse(spec: str) -> tuple[str, int]:
    """``name`` or ``name@N`` -> (name, N); ValueError naming what is wrong."""
    name, _, nth = spec.strip().partition("@")
    if name not in POINTS:
        raise ValueError(f"unknown fault point {name!r} (known: {', '.join(sorted(POINTS))})")
    if nth and (not nth.isdigit() or int(nth) < 1):
        raise ValueError(f"expected name@N with N >= 1, got {spec!r}")
    return name, int(nth or 1)


class FaultPoints:
    """The armed point of this process, if any."""

    def __init__(self, spec: str = "") -> None:
        self._armed: tuple[str, int] | None = parse(spec) if spec else None
        self._seen = 0

    def reached(self, name: str) -> None:
        if self._armed is None or self._armed[0] != name:
            return
        self._seen += 1
        if self._seen == self._armed[1]:
            log.critical("fault point %s reached (%d): killing this process", name, self._seen)
            for handler in logging.getLogger().handlers:
                handler.flush()
            os.kill(os.getpid(), signal.SIGKILL)
