"""The composition root: the faust.App, its topics and table, configured from Settings.

`faust -A migration_app.app worker` and `migration-app worker` both load this module. Agents, web
views and CLI commands register themselves on ``app`` when imported at the bottom.
"""

from __future__ import annotations

import faust

from migration_app.debug.monitor import set_migration_lookup
from migration_app.health import register_check
from migration_app.kafka_consumer import Transport as RewindingTransport
from migration_app.observability import install as install_observability
from migration_app.runtime import Runtime
from migration_app.settings import Settings
from migration_app.state import MigrationState

settings = Settings.from_env()


class MigrationApp(faust.App):
    """faust.App on our kafka_consumer transport, so no event is skipped across restarts and
    rebalances (see that module for the two Faust/aiokafka gaps it closes)."""

    def _new_transport(self) -> RewindingTransport:
        return RewindingTransport(self.conf.broker_consumer, self)


def create_app(settings: Settings) -> faust.App:
    return MigrationApp(
        "migration-app",
        broker=settings.faust_broker(),
        store=settings.store,
        datadir=settings.data_dir,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        broker_session_timeout=settings.broker_session_timeout,
        broker_heartbeat_interval=settings.broker_heartbeat_interval,
        broker_rebalance_timeout=settings.broker_rebalance_timeout,
        broker_request_timeout=settings.broker_request_timeout,
        recovery_consistency_check=settings.recovery_consistency_check,
        producer_max_batch_size=settings.producer_max_batch_size,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        table_cleanup_interval=60.0,
        web_enabled=True,
        autodiscover=False,
    )


app = create_app(settings)

# Keys are the customer id as plain UTF-8 (Kafka StringSerializer); values are Avro in the
# Confluent wire format, decoded by the agent itself so bad bytes can be routed to the DLQ.
customer_topic = app.topic("customer", key_serializer="raw", value_serializer="raw")
dlq_topic = app.topic("customer-dlq", key_serializer="raw", value_serializer="raw")
result_topic = app.topic("customer-migrations", key_serializer="raw", value_serializer="raw")

# Keys are the customer id as UTF-8 bytes, exactly the topic's key bytes: Faust serializes a
# bytes-keyed table's keys raw (a str key type would be JSON, '"001..."', and hash to another
# partition), so @app.table_route sends a lookup to the worker that owns the customer. A write
# goes to the changelog partition of the current event: the processor sets the customer's own
# event as current before each write (a batch mixes partitions).
migration_state = app.Table(
    "migration_state",
    key_type=bytes,
    value_type=MigrationState,
    partitions=settings.topic_partitions,
)

runtime = Runtime(settings)
app.service(runtime)  # started after table recovery, stopped with the app

# /health, /metrics, /debug/pprof/*, the leak watchdog and aiomonitor; the dependency checks each
# run under their own timeout (MIGRATION_HEALTH_CHECK_TIMEOUT) through one long-lived client.
observability = install_observability(app, settings)
register_check("sf1", runtime.sf1.ping, critical=True)
register_check("sf2", runtime.sf2.ping, critical=True)
register_check("database", runtime.audit.ping, critical=True)
register_check("registry", runtime.registry.ping, critical=True)
set_migration_lookup(runtime.audit.last_run)  # aiomonitor's `migration <id>` shows the audit too

from migration_app import agents, commands, web  # noqa: E402,F401  (register on app)
