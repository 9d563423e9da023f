"""The Grafana dashboard: valid JSON over exactly the metric names the app exports."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.deploy.support import DEPLOY

DASHBOARD = DEPLOY / "grafana" / "migration-app.json"
# The contract with migration_app.ops.metrics (its docstring says: do not rename).
METRICS = {
    "migration_app_asyncio_tasks",
    "migration_app_threads",
    "migration_app_open_fds",
    "migration_app_rss_bytes",
    "migration_app_loop_lag_seconds",
    "migration_app_events_consumed_total",
    "migration_app_migrations_total",
    "migration_app_migration_duration_seconds",
    "migration_app_batch_stage_seconds",
    "migration_app_salesforce_api_calls_total",
    "migration_app_salesforce_api_remaining",
    "migration_app_dlq_messages_total",
    "migration_app_retries_total",
    "migration_app_verifications_total",
    "migration_app_health_check_up",
    "migration_app_leak_suspect",
    "migration_app_consumer_lag",
    "migration_app_table_changelog_replayed_total",
    "migration_app_duplicate_events_total",
    "migration_app_customers",
    "migration_app_files_total",
    "migration_app_file_bytes_uploaded_total",
    "migration_app_file_bytes_in_flight",
    "migration_app_file_api_calls_total",
    "migration_app_request_limit_exceeded_total",
    "migration_app_org_concurrency_limit",
    "migration_app_org_concurrency_held",
    "migration_app_org_concurrency_in_use",
    "migration_app_org_concurrency_waiting",
    "migration_app_org_concurrency_waits_total",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Computed at scrape time by RuntimeCollector (only once bound to a running worker).
RUNTIME_GAUGES = {
    "migration_app_asyncio_tasks",
    "migration_app_threads",
    "migration_app_open_fds",
    "migration_app_rss_bytes",
    "migration_app_loop_lag_seconds",
    "migration_app_consumer_lag",
    "migration_app_customers",
    "migration_app_org_concurrency_limit",
    "migration_app_org_concurrency_held",
    "migration_app_org_concurrency_in_use",
    "migration_app_org_concurrency_waiting",
    "migration_app_org_concurrency_waits_total",
}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def family(name: str) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and base in METRICS:
            return base
    return name


def used_metrics() -> set[str]:
    exprs = [t["expr"] for p in panels() for t in p["targets"]]
    return {family(m) for e in exprs for m in re.findall(r"\bmigration_app_\w+", e)}


def test_every_metric_has_a_panel_and_no_unknown_metric_is_queried() -> None:
    used = used_metrics()
    assert used - METRICS == set(), "dashboard queries metrics nobody exports"
    assert METRICS - used == set(), "metrics without a panel"


def test_panels_are_well_formed() -> None:
    board = dashboard()
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    assert board["uid"] and board["title"]
    for panel in panels():
        assert panel["title"] and panel["targets"], panel["id"]
        assert panel["datasource"]["uid"] == "${datasource}", "no hard-coded data source"
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        for target in panel["targets"]:
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


def test_leak_and_health_panels_exist() -> None:
    titles = " ".join(p["title"].lower() for p in panels())
    for word in ("asyncio tasks", "file descriptors", "threads", "memory", "loop lag", "health"):
        assert word in titles, word


def test_names_match_the_app_registry() -> None:
    metrics = pytest.importorskip("migration_app.ops.metrics")
    from prometheus_client.metrics import MetricWrapperBase

    declared = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for described in value.describe():
                suffix = "_total" if described.type == "counter" else ""
                declared.add(described.name + suffix)
    assert declared, "migration_app.ops.metrics declares no metrics"
    assert declared <= METRICS, f"exported but not on the dashboard: {declared - METRICS}"
    missing = METRICS - RUNTIME_GAUGES - declared
    assert not missing, f"on the dashboard but not declared: {missing}"
