"""What the health, readiness and metrics code needs to know about the Faust app, read through
its public-ish state (rebalancing, recovery, assignment, producer client) and never raising."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import faust
from faust.types import TP, Message

from migration_app.compat import faust_internals
from migration_app.ops import metrics, table_recovery
from migration_app.ops.health import AppState
from migration_app.ops.table_recovery import ReplayCounter

log = logging.getLogger(__name__)


def assignment(app: faust.App) -> set[TP] | None:
    """The consumer's assigned partitions; None if the consumer is not running yet."""
    try:
        return set(app.consumer.assignment())
    except Exception:  # not started / stopping: the consumer raises NotReady and friends
        return None


def app_state(app: faust.App, replays: ReplayCounter | None = None) -> AppState:
    recovery = faust_internals.recovery(app)
    assigned = assignment(app)
    recovering = bool(getattr(recovery, "in_recovery", False) or getattr(app, "in_recovery", False))
    try:
        progress = table_recovery.progress(app) if recovering else None
    except Exception:  # a recovery being torn down mid-read: report no progress, never raise
        progress = None
    return AppState(
        rebalancing=bool(getattr(app, "rebalancing", False)),
        recovering=recovering,
        assigned_partitions=None if assigned is None else len(assigned),
        recovery=progress,
        replayed=None if replays is None else replays.asdict(),
    )


def kafka_check(app: faust.App):  # type: ignore[no-untyped-def]
    """A metadata request through the app's own producer client (no new connection per probe);
    the aggregator's timeout cancels it if the brokers do not answer."""

    async def check() -> Mapping[str, Any]:
        producer = faust_internals.kafka_producer(app)  # raises NotReady before start
        cluster = await producer.client.fetch_all_metadata()
        assigned = assignment(app)
        return {
            "brokers": len(cluster.brokers()),
            "assigned_partitions": None if assigned is None else len(assigned),
        }

    return check


def consumer_lag(app: faust.App) -> dict[tuple[str, int], int]:
    """Highwater minus committed offset per assigned partition (read offset if never committed)."""
    tps = assignment(app) or set()
    committed = app.monitor.tp_committed_offsets or {}
    read = app.monitor.tp_read_offsets or {}
    out = {}
    for tp in tps:
        high = app.consumer.highwater(tp)
        position = committed.get(tp, read.get(tp))
        if high is None or position is None:
            continue
        out[(tp.topic, tp.partition)] = max(0, high - position)
    return out


class EventsSensor(faust.Sensor):
    """Counts consumed messages of the given topics into ``migration_app_events_consumed_total``."""

    def __init__(self, topics: Iterable[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.topics = frozenset(topics)

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        if tp.topic in self.topics:
            metrics.EVENTS_CONSUMED.inc()
