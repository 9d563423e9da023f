"""The composition root: ``build(settings)`` makes the faust.App, its topics and table, the
runtime and the observability, and registers the agent and the web views on them.

Nothing here reads the environment or a file at import; ``migration_app.main`` holds the
module-level app that ``faust -A migration_app.main worker`` and ``migration-app worker`` load.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import faust
from faust.types import TableT, TopicT

from migration_app.contracts.schemas import CUSTOMER_TOPIC, DLQ_TOPIC, RESULT_TOPIC
from migration_app.ops.health import CheckRegistry
from migration_app.ops.observability import Observability
from migration_app.ops.observability import install as install_observability
from migration_app.ops.shutdown import guarded_worker
from migration_app.ops.table_recovery import ReplayCounter
from migration_app.settings import Settings
from migration_app.web import console, routes
from migration_app.web import server as web_server
from migration_app.worker import agents
from migration_app.worker.kafka_consumer import Transport as RewindingTransport
from migration_app.worker.migration_state import MigrationState
from migration_app.worker.runtime import Runtime
from migration_app.worker.state_counts import StateCounts
from migration_app.worker.state_counts_keeper import StateCountsKeeper

APP_ID = "migration-app"
TABLE_NAME = "migration_state"
#: Bounds of the client Faust uses to forward a table-routed request to the owning worker.
ROUTING_TIMEOUT = aiohttp.ClientTimeout(total=5.0, connect=2.0)


class MigrationApp(faust.App):
    """faust.App on our kafka_consumer transport, so no event is skipped across restarts and
    rebalances (see that module for the two Faust/aiokafka gaps it closes), and on our web
    server (no built-in views: personal data stays behind the console's tokens)."""

    #: seconds a consumer fetch waits at the broker (None: Faust's 1.5 s); see kafka_consumer
    consumer_fetch_max_wait: float | None = None

    def _new_transport(self) -> RewindingTransport:  # faust: the one transport factory hook
        return RewindingTransport(self.conf.broker_consumer, self)

    def _new_web(self) -> web_server.Web:  # faust: the web driver factory hook
        """Faust's aiohttp driver without its built-in views (``/table`` serves any table key
        to anyone) and with security headers on every response: see ``web_server``."""
        return web_server.Web(self)


@dataclass(frozen=True)
class Components:
    """Everything ``build`` made, for the worker module, the tests and the benchmark."""

    settings: Settings
    app: faust.App
    customer_topic: TopicT
    dlq_topic: TopicT
    result_topic: TopicT
    migration_state: TableT
    runtime: Runtime
    checks: CheckRegistry
    observability: Observability


def routing_http_client() -> aiohttp.ClientSession:
    """Faust's ``HttpClient``: forwards table-routed views with timeouts (Faust's default session
    waits up to aiohttp's 5 minutes). Faust closes it when the app stops."""
    return aiohttp.ClientSession(timeout=ROUTING_TIMEOUT)


def create_app(settings: Settings) -> faust.App:
    app = MigrationApp(
        APP_ID,
        broker=settings.faust_broker(),
        store=settings.store,
        datadir=settings.data_dir,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        table_standby_replicas=settings.table_standby_replicas,
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
        **web_server.BUILT_IN_VIEWS_OFF,
        autodiscover=False,
        HttpClient=routing_http_client,
        # SIGTERM: exit within MIGRATION_SHUTDOWN_TIMEOUT even if a stop path hangs.
        Worker=guarded_worker(settings.shutdown_timeout),
    )
    app.consumer_fetch_max_wait = settings.consumer_fetch_max_wait
    return app


def build(settings: Settings) -> Components:
    """The whole worker, wired; starting it is Faust's job (``app.main()`` / ``faust worker``)."""
    app = create_app(settings)
    # Keys are the customer id as plain UTF-8 (Kafka StringSerializer); values are Avro in the
    # Confluent wire format, decoded by the agent itself so bad bytes can be routed to the DLQ.
    customer_topic = app.topic(CUSTOMER_TOPIC, key_serializer="raw", value_serializer="raw")
    dlq_topic = app.topic(DLQ_TOPIC, key_serializer="raw", value_serializer="raw")
    result_topic = app.topic(RESULT_TOPIC, key_serializer="raw", value_serializer="raw")
    # Keys are the customer id as UTF-8 bytes, exactly the topic's key bytes: Faust serializes a
    # bytes-keyed table's keys raw (a str key type would be JSON, '"001..."', and hash to another
    # partition), so @app.table_route sends a lookup to the worker that owns the customer. A
    # write goes to the changelog partition of the current event: the processor sets the
    # customer's own event as current before each write (a batch mixes partitions).
    # rocksdb://: one RocksDB per partition under MIGRATION_DATA_DIR, holding the last changelog
    # offset it applied, so a restart with its volume replays only the tail; memory:// replays
    # the whole changelog. `replays` counts what a start replayed (metrics, /health/ready).
    replays = ReplayCounter()
    migration_state = app.Table(
        TABLE_NAME,
        key_type=bytes,
        value_type=MigrationState,
        partitions=settings.topic_partitions,
        options=settings.table_options(),
        on_changelog_event=replays,
    )
    replays.app = app
    # Customers per status per partition, kept at each write and rebuilt once per assignment:
    # the summary view, the console heartbeat and /metrics read these, never walk the table.
    counts = StateCounts()
    app.service(StateCountsKeeper(app, migration_state, counts))
    runtime = Runtime(settings)
    app.service(runtime)  # started after table recovery, stopped with the app

    # /health, /metrics, /debug/pprof/*, the leak watchdog and aiomonitor; each dependency check
    # runs under its own timeout (MIGRATION_HEALTH_CHECK_TIMEOUT) through its long-lived client.
    checks = CheckRegistry()
    checks.register("sf1", runtime.sf1.ping, critical=True)
    checks.register("sf2", runtime.sf2.ping, critical=True)
    checks.register("database", runtime.audit.ping, critical=True)
    checks.register("registry", runtime.registry.ping, critical=True)
    observability = install_observability(
        app,
        settings,
        checks,
        audit_lookup=runtime.audit.customer_report,  # aiomonitor's `migration <id>` shows the audit
        events_topics=(CUSTOMER_TOPIC,),
        table_name=TABLE_NAME,
        replays=replays,
        customer_counts=counts.by_status,
        concurrency=runtime.concurrency,  # each org's budget (salesforce/budget.py)
        live_secrets=runtime.access_tokens,  # the orgs' current sessions, scrubbed from /health
    )
    components = Components(
        settings=settings,
        app=app,
        customer_topic=customer_topic,
        dlq_topic=dlq_topic,
        result_topic=result_topic,
        migration_state=migration_state,
        runtime=runtime,
        checks=checks,
        observability=observability,
    )

    @app.task
    async def declare_output_topics() -> None:
        """Create the result and DLQ topics at start with our partition count (not at the first
        send with the broker's defaults), so their consumers can subscribe before any result."""
        for topic in (result_topic, dlq_topic):
            await topic.maybe_declare()

    agents.register(
        app,
        settings,
        runtime,
        source=customer_topic,
        table=migration_state,
        dlq_topic=dlq_topic,
        result_topic=result_topic,
        counts=counts,
    )
    # What the views share (and its services); then every view, in web.routes.BLUEPRINTS order.
    operator_console = console.Console(
        app, settings, migration_state, runtime, observability.health, counts
    )
    console.install(operator_console)
    routes.register(app, operator_console)
    return components
