"""The exposition carries every name the dashboard is built on."""

from __future__ import annotations

import prometheus_client
from prometheus_client.parser import text_string_to_metric_families

from migration_app.ops import metrics

NAMES = [
    "migration_app_asyncio_tasks",
    "migration_app_threads",
    "migration_app_open_fds",
    "migration_app_rss_bytes",
    "migration_app_loop_lag_seconds",
    "migration_app_events_consumed_total",
    "migration_app_migrations_total",
    "migration_app_migration_duration_seconds_bucket",
    "migration_app_salesforce_api_calls_total",
    "migration_app_salesforce_api_remaining",
    "migration_app_dlq_messages_total",
    "migration_app_retries_total",
    "migration_app_health_check_up",
    "migration_app_leak_suspect",
    "migration_app_consumer_lag",
]


def scrape() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of our exposition, parsed back from the text a Prometheus server reads."""
    text = metrics.generate_latest().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float:  # type: ignore[no-untyped-def]
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_every_dashboard_metric_is_exposed() -> None:
    # other tests share these module-level metrics: compare before/after, never absolute counts
    before = scrape()
    metrics.MIGRATIONS.labels(status="COMPLETED").inc()
    metrics.SALESFORCE_API_CALLS.labels(org="v1", endpoint="query", status="200").inc()
    metrics.SALESFORCE_API_REMAINING.labels(org="v2").set(14000)
    metrics.DLQ_MESSAGES.labels(reason="bad_avro").inc()
    metrics.RETRIES.labels(kind="salesforce").inc(2)
    metrics.HEALTH_CHECK_UP.labels(dependency="kafka").set(1)
    metrics.MIGRATION_DURATION.observe(1.5)
    metrics.EVENTS_CONSUMED.inc(3)
    metrics.LEAK_SUSPECT.set(1)
    metrics.RUNTIME.bind(lag=lambda: 0.004, consumer_lag=lambda: {("customer", 3): 42})
    try:
        after = scrape()
    finally:
        metrics.RUNTIME.unbind()
        metrics.LEAK_SUSPECT.set(0)
    assert [n for n in NAMES if n not in {name for name, _ in after}] == []

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("migration_app_migrations_total", status="COMPLETED") == 1
    assert (
        delta("migration_app_salesforce_api_calls_total", org="v1", endpoint="query", status="200")
        == 1
    )
    assert delta("migration_app_dlq_messages_total", reason="bad_avro") == 1
    assert delta("migration_app_retries_total", kind="salesforce") == 2
    assert delta("migration_app_events_consumed_total") == 3
    assert delta("migration_app_migration_duration_seconds_count") == 1
    assert delta("migration_app_migration_duration_seconds_sum") == 1.5
    assert delta("migration_app_migration_duration_seconds_bucket", le="2.5") == 1
    assert delta("migration_app_migration_duration_seconds_bucket", le="1.0") == 0
    assert value(after, "migration_app_salesforce_api_remaining", org="v2") == 14000
    assert value(after, "migration_app_health_check_up", dependency="kafka") == 1
    assert value(after, "migration_app_leak_suspect") == 1
    assert value(after, "migration_app_consumer_lag", topic="customer", partition="3") == 42
    assert value(after, "migration_app_loop_lag_seconds") == 0.004
    # the process gauges are read at scrape time from this process
    assert value(after, "migration_app_threads") >= 1
    assert value(after, "migration_app_open_fds") >= 3  # stdin, stdout, stderr at least


def test_unbound_runtime_collector_drops_loop_lag_and_consumer_lag() -> None:
    metrics.RUNTIME.unbind()
    samples = scrape()
    assert ("migration_app_loop_lag_seconds", frozenset()) not in samples
    assert not [name for name, _ in samples if name == "migration_app_consumer_lag"]


def test_our_metrics_stay_off_the_global_registry() -> None:
    metrics.MIGRATIONS.labels(status="COMPLETED").inc()
    text = prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()
    assert "migration_app_" not in text
