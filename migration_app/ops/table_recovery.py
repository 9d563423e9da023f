"""How much of the ``migration_state`` changelog a start replays, and how much is left.

With ``memory://`` every start replays the whole changelog; with ``rocksdb://`` on a kept volume
only the tail written since the last flush. The counter makes that visible (metrics, logs,
``/health/ready``) so the claim is measured, not assumed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import EventT

from migration_app.compat import faust_internals
from migration_app.ops import metrics

log = logging.getLogger(__name__)


@dataclass
class ReplayCounter:
    """The table's ``on_changelog_event`` callback: Faust calls it for every changelog record it
    replays during recovery (active partitions and standby copies), never for live writes."""

    app: faust.App | None = None
    active: int = 0
    standby: int = 0
    _children: dict[str, Any] = field(default_factory=dict, repr=False)

    async def __call__(self, event: EventT) -> None:
        app = self.app
        if app is not None and faust_internals.is_active_changelog_tp(app, event.message.tp):
            self.active += 1
            role = "active"
        else:
            self.standby += 1
            role = "standby"
        child = self._children.get(role)
        if child is None:
            child = self._children[role] = metrics.TABLE_CHANGELOG_REPLAYED.labels(role=role)
        child.inc()

    def asdict(self) -> dict[str, int]:
        return {"active": self.active, "standby": self.standby}


def progress(app: faust.App) -> dict[str, Any] | None:
    """Partitions and changelog offsets left to replay before this worker is ready (None when
    no recovery is running)."""
    remaining = faust_internals.recovery_remaining(app)
    if not remaining:
        return None
    return {
        "partitions_remaining": len(remaining),
        "offsets_remaining": sum(remaining.values()),
        "partitions": {f"{tp.topic}[{tp.partition}]": n for tp, n in sorted(remaining.items())},
    }
