"""The exposition carries every name the dashboard is built on."""

from __future__ import annotations

from migration_app import metrics

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


def test_every_dashboard_metric_is_exposed() -> None:
    metrics.MIGRATIONS.labels(status="COMPLETED").inc()
    metrics.SALESFORCE_API_CALLS.labels(org="v1", endpoint="query", status="200").inc()
    metrics.SALESFORCE_API_REMAINING.labels(org="v2").set(14000)
    metrics.DLQ_MESSAGES.labels(reason="bad_avro").inc()
    metrics.RETRIES.labels(kind="salesforce").inc()
    metrics.HEALTH_CHECK_UP.labels(dependency="kafka").set(1)
    metrics.MIGRATION_DURATION.observe(1.5)
    metrics.RUNTIME.bind(lag=lambda: 0.004, consumer_lag=lambda: {("customer", 3): 42})
    try:
        text = metrics.generate_latest().decode()
    finally:
        metrics.RUNTIME.unbind()
    samples = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    assert [n for n in NAMES if n not in samples] == []
    assert 'migration_app_consumer_lag{partition="3",topic="customer"} 42.0' in text
    assert "migration_app_loop_lag_seconds 0.004" in text
    assert metrics.REGISTRY is not __import__("prometheus_client").REGISTRY
