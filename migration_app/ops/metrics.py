"""Prometheus metrics on the app's own registry (never the global default).

The pipeline updates the objects exported here, e.g.
``metrics.MIGRATIONS.labels(status="COMPLETED").inc()``. Process gauges (tasks, threads, fds,
RSS, loop lag) and consumer lag are computed at scrape time by ``RuntimeCollector``, so they are
never stale and cost nothing between scrapes. The names are a contract with the Grafana
dashboard: do not rename.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from migration_app.ops.process import process_stats

log = logging.getLogger(__name__)

PREFIX = "migration_app"
REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_CONSUMED = Counter(
    f"{PREFIX}_events_consumed", "Customer events consumed from Kafka", registry=REGISTRY
)
MIGRATIONS = Counter(
    f"{PREFIX}_migrations",
    "Customer migrations finished, by final status",
    ["status"],
    registry=REGISTRY,
)
DUPLICATE_EVENTS = Counter(
    f"{PREFIX}_duplicate_events",
    "Customer events skipped because the customer is already COMPLETED (replays; no state change)",
    registry=REGISTRY,
)
MIGRATION_DURATION = Histogram(
    f"{PREFIX}_migration_duration_seconds",
    "Wall time of one customer's migration",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
BATCH_STAGE_SECONDS = Histogram(
    f"{PREFIX}_batch_stage_seconds",
    "Wall time of one stage of one batch (decode, extract, transform, load, audit, finish): "
    "where a batch's time goes",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
SALESFORCE_API_CALLS = Counter(
    f"{PREFIX}_salesforce_api_calls",
    "Salesforce REST calls",
    ["org", "endpoint", "status"],
    registry=REGISTRY,
)
SALESFORCE_API_REMAINING = Gauge(
    f"{PREFIX}_salesforce_api_remaining",
    "Remaining daily API calls (Sforce-Limit-Info)",
    ["org"],
    registry=REGISTRY,
)
TABLE_CHANGELOG_REPLAYED = Counter(
    f"{PREFIX}_table_changelog_replayed",
    "Changelog records replayed into migration_state at recovery (active: this worker's own "
    "partitions; standby: warm copies of other workers' partitions)",
    ["role"],
    registry=REGISTRY,
)
DLQ_MESSAGES = Counter(
    f"{PREFIX}_dlq_messages",
    "Messages routed to the dead-letter topic",
    ["reason"],
    registry=REGISTRY,
)
FILES = Counter(
    f"{PREFIX}_files",
    "Files of migrated customers, by result: uploaded (sent to V2), found (already in V2 by its "
    "external id: a replay), failed",
    ["result", "mode"],
    registry=REGISTRY,
)
FILE_BYTES_UPLOADED = Counter(
    f"{PREFIX}_file_bytes_uploaded", "Bytes of files uploaded to V2", registry=REGISTRY
)
FILE_BYTES_IN_FLIGHT = Gauge(
    f"{PREFIX}_file_bytes_in_flight",
    "Bytes of the files being copied V1 -> V2 now (bounded by MIGRATION_FILE_BYTES_IN_FLIGHT, "
    "or one larger file alone)",
    registry=REGISTRY,
)
FILE_API_CALLS = Counter(
    f"{PREFIX}_file_api_calls",
    "Salesforce calls made for files (download, upload, query, link); divided by "
    "migration_app_files: calls per file",
    ["kind"],
    registry=REGISTRY,
)
REQUEST_LIMIT_EXCEEDED = Counter(
    f"{PREFIX}_request_limit_exceeded",
    "Salesforce calls the org refused with REQUEST_LIMIT_EXCEEDED (concurrent long-running "
    "requests or the daily allocation); each is retried after a backoff, never failing a customer",
    ["org"],
    registry=REGISTRY,
)
RETRIES = Counter(f"{PREFIX}_retries", "Retries of transient failures", ["kind"], registry=REGISTRY)
VERIFICATIONS = Counter(
    f"{PREFIX}_verifications",
    "Sampled verifications of completed customers by verdict (DROPPED: queue full, ERROR)",
    ["verdict"],
    registry=REGISTRY,
)
HEALTH_CHECK_UP = Gauge(
    f"{PREFIX}_health_check_up",
    "1 if the dependency's last health check passed",
    ["dependency"],
    registry=REGISTRY,
)
LEAK_SUSPECT = Gauge(
    f"{PREFIX}_leak_suspect", "1 while the leak watchdog sees steady growth", registry=REGISTRY
)

ConsumerLag = Callable[[], Mapping[tuple[str, int], int]]
#: customers per status in the table partitions this worker owns (``state_counts``: O(partitions))
CustomerCounts = Callable[[], Mapping[str, int]]
#: each org's concurrency budget on this worker: {org: {limit, held, in_use, waiting, waits}}
Concurrency = Callable[[], Mapping[str, Mapping[str, int]]]


class RuntimeCollector(Collector):
    """Scrape-time gauges; ``bind`` tells it which loop, lag monitor and consumer to read."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lag: Callable[[], float | None] = lambda: None
        self._consumer_lag: ConsumerLag = dict
        self._customers: CustomerCounts = dict
        self._concurrency: Concurrency = dict

    def bind(
        self,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        lag: Callable[[], float | None] | None = None,
        consumer_lag: ConsumerLag | None = None,
        customers: CustomerCounts | None = None,
        concurrency: Concurrency | None = None,
    ) -> None:
        self._loop = loop
        self._lag = lag or (lambda: None)
        self._consumer_lag = consumer_lag or dict
        self._customers = customers or dict
        self._concurrency = concurrency or dict

    def unbind(self) -> None:
        self.bind()

    def describe(self) -> Iterable[Metric]:
        return []  # dynamic: do not let auto_describe call collect() at registration

    def collect(self) -> Iterable[Metric]:
        stats = process_stats(self._loop)
        for name, doc, value in (
            ("asyncio_tasks", "Asyncio tasks of the event loop", stats.tasks),
            ("threads", "OS threads of the process", stats.threads),
            ("open_fds", "Open file descriptors", stats.open_fds),
            ("rss_bytes", "Resident set size", stats.rss_bytes),
        ):
            yield GaugeMetricFamily(f"{PREFIX}_{name}", doc, value=value)
        lag = self._lag()
        if lag is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_loop_lag_seconds", "Event loop lag (late wake-up of a timer)", value=lag
            )
        family = GaugeMetricFamily(
            f"{PREFIX}_consumer_lag",
            "Highwater minus committed offset",
            labels=["topic", "partition"],
        )
        try:
            for (topic, partition), value in sorted(self._consumer_lag().items()):
                family.add_metric([topic, str(partition)], value)
        except Exception:  # a scrape must not fail because the consumer is mid-rebalance
            log.debug("consumer lag unavailable", exc_info=True)
        yield family
        customers = GaugeMetricFamily(
            f"{PREFIX}_customers",
            "Customers per migration status in the table partitions this worker owns",
            labels=["status"],
        )
        for status, value in sorted(self._customers().items()):
            customers.add_metric([status], value)
        yield customers
        yield from self._collect_concurrency()

    def _collect_concurrency(self) -> Iterable[Metric]:
        """Each org's concurrency budget (salesforce/budget.py) as this worker holds and uses it;
        sum ``in_use`` over the workers for the org's total (always <= ``limit``)."""
        families = {
            "limit": GaugeMetricFamily(
                f"{PREFIX}_org_concurrency_limit",
                "The org's concurrency budget: requests in flight across all workers",
                labels=["org"],
            ),
            "held": GaugeMetricFamily(
                f"{PREFIX}_org_concurrency_held",
                "Slots of the org's budget this worker leases",
                labels=["org"],
            ),
            "in_use": GaugeMetricFamily(
                f"{PREFIX}_org_concurrency_in_use",
                "Requests to the org this worker has in flight (each holds a slot)",
                labels=["org"],
            ),
            "waiting": GaugeMetricFamily(
                f"{PREFIX}_org_concurrency_waiting",
                "Calls of this worker waiting for a slot of the org's budget",
                labels=["org"],
            ),
        }
        waits = CounterMetricFamily(
            f"{PREFIX}_org_concurrency_waits",
            "Calls that found no free slot of the org's budget and waited",
            labels=["org"],
        )
        for org, snapshot in sorted(self._concurrency().items()):
            for key, family in families.items():
                family.add_metric([org], snapshot.get(key, 0))
            waits.add_metric([org], snapshot.get("waits", 0))
        yield from families.values()
        yield waits


RUNTIME = RuntimeCollector()
REGISTRY.register(RUNTIME)


def generate_latest() -> bytes:
    return _generate_latest(REGISTRY)


__all__ = [
    "CONTENT_TYPE_LATEST",
    "DLQ_MESSAGES",
    "DUPLICATE_EVENTS",
    "EVENTS_CONSUMED",
    "HEALTH_CHECK_UP",
    "LEAK_SUSPECT",
    "MIGRATIONS",
    "MIGRATION_DURATION",
    "REGISTRY",
    "REQUEST_LIMIT_EXCEEDED",
    "RETRIES",
    "RUNTIME",
    "SALESFORCE_API_CALLS",
    "SALESFORCE_API_REMAINING",
    "generate_latest",
]
