"""One typed settings object, read from ``MIGRATION_*`` environment variables.

Everything the worker needs is validated once at start, with messages that name the variable, so a
typo in a Kubernetes ConfigMap fails the pod at boot rather than at the first customer.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from migration_app import tokens
from migration_app.worker import fault_points

ENV_PREFIX = "MIGRATION_"


class SettingsError(ValueError):
    """Raised with every problem found, each naming its environment variable."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


class Secret(str):
    """A string whose repr and str-in-containers never show the value.

    ``str(secret)`` still returns the value for the client that needs it; ``repr`` (used by
    dataclass reprs, logging of settings, tracebacks with locals) is masked.
    """

    def __repr__(self) -> str:
        return "Secret('****')" if self else "Secret('')"

    def reveal(self) -> str:
        return str.__str__(self)


AUTH_FLOWS = ("jwt", "client_credentials", "password")
AUTH_HELP = (
    "Login flow: jwt, client_credentials or password (legacy SOAP login); "
    "unset: jwt (dev mode: password)"
)
#: Spring '26: the latest version public docs confirm; SOAP login() is gone from 65.0 on, and
#: every call the worker makes (query, sObject Collections, composite/graph, limits, describe)
#: is there.
DEFAULT_API_VERSION = "66.0"
#: The sandbox orgs' External Client App and the key `make dev` generates (dev mode defaults).
DEV_CLIENT_ID = "sandbox-client-id"
DEV_CLIENT_SECRET = "sandbox-client-secret"
DEV_STATE_DIR = ".devstack"  # `make dev`'s state directory (logs, pgdata, keys)
DEV_JWT_KEY = f"{DEV_STATE_DIR}/keys/sf2-jwt.key"
DEV_PGDATA = f"{DEV_STATE_DIR}/pgdata"
#: Salesforce Help 005132110: SOAP API login() retires for all API versions in Summer '27.
SOAP_LOGIN_RETIREMENT = "Summer '27 (June 2027)"


def _env(*parts: str) -> str:
    """``MIGRATION_`` + the parts, upper case: ``_env("sf2", "auth")`` is ``MIGRATION_SF2_AUTH``."""
    return ENV_PREFIX + "_".join(parts).upper()


def setting(default: Any, help: str, *, secret: bool = False) -> Any:
    """A settings field with its documentation, used by the README table and `known_env_vars`."""
    return field(default=default, metadata={"help": help, "secret": secret})


ORGS = ("sf1", "sf2")


@dataclass(frozen=True)
class OrgSettings:
    """One Salesforce org's login. Field ``foo`` of ``Settings.sf2`` reads ``MIGRATION_SF2_FOO``;
    ``{org}`` in a help text is the org's label (V1, V2)."""

    url: str = setting(
        "",
        "{org} login URL: https://login.salesforce.com, or the My Domain URL (client_credentials)",
    )
    auth: str = setting("", AUTH_HELP)
    client_id: str = setting("", "{org} External Client App consumer key (jwt, client_credentials)")
    client_secret: Secret = setting(
        Secret(""), "{org} consumer secret (client_credentials)", secret=True
    )
    private_key_file: str = setting(
        "", "{org} path of the PEM private key that signs the JWT (jwt; mount it from a Secret)"
    )
    username: str = setting("", "{org} integration user (jwt: the JWT subject; password)")
    password: Secret = setting(Secret(""), "{org} org password (password auth)", secret=True)
    security_token: Secret = setting(
        Secret(""), "{org} org security token (password auth)", secret=True
    )
    concurrent_requests: int = setting(
        20,
        "{org} requests in flight at once across all workers (the org's concurrency budget, "
        "leased in PostgreSQL; Salesforce allows 25 long-running requests per org, keep room "
        "for other integrations; 0: no shared budget, each worker only bounded by its threads)",
    )

    @property
    def flow(self) -> str:
        """The login flow: the setting, else jwt (dev mode fills in password)."""
        return self.auth.strip().lower() or "jwt"

    def problems(self, org: str, *, dev_mode: bool) -> list[str]:
        """What the login flow needs, each problem naming its variable (never a value)."""
        problems: list[str] = []
        if self.concurrent_requests < 0:
            problems.append(f"{_env(org, 'concurrent_requests')}: must not be negative")
        url = urlsplit(self.url)
        if url.scheme not in ("http", "https") or not url.netloc:
            problems.append(f"{_env(org, 'url')}: expected an http(s) URL, got {self.url!r}")
        flow = self.flow
        if flow not in AUTH_FLOWS:
            problems.append(f"{_env(org, 'auth')}: one of {', '.join(AUTH_FLOWS)}, got {flow!r}")
            return problems
        needs = {
            "jwt": ("client_id", "username", "private_key_file"),
            "client_credentials": ("client_id", "client_secret"),
            "password": ("username", "password"),
        }[flow]
        problems += [
            f"{_env(org, part)}: required for {_env(org, 'auth')}={flow}"
            + ("" if dev_mode else " (or MIGRATION_DEV_MODE=true for the sandbox)")
            for part in needs
            if not getattr(self, part)
        ]
        if flow == "jwt" and self.private_key_file:
            problems += _private_key_problems(
                _env(org, "private_key_file"), str(self.private_key_file)
            )
        host = (url.hostname or "").lower()
        if (
            flow == "client_credentials"
            and url.scheme == "https"
            and not host.endswith(".my.salesforce.com")
        ):
            problems.append(
                f"{_env(org, 'url')}: the client credentials flow needs the org's My Domain "
                f"login URL (https://<domain>.my.salesforce.com), got {url.geturl()!r}"
            )
        return problems


def org_setting(label: str, url: str) -> Any:
    """A Salesforce org's block of settings (``MIGRATION_<ORG>_*``), ``label`` naming it in help."""
    return field(default=OrgSettings(url=url), metadata={"org": label})


@dataclass(frozen=True)
class Variable:
    """One environment variable the settings read: ``field`` of ``Settings`` (``org`` None) or
    of the org block ``org`` (``sf1``, ``sf2``)."""

    name: str
    org: str | None
    field: dataclasses.Field[Any]
    default: Any
    help: str

    @property
    def secret(self) -> bool:
        return bool(self.field.metadata.get("secret"))

    def value(self, settings: Settings) -> Any:
        holder = settings if self.org is None else settings.org(self.org)
        return getattr(holder, self.field.name)


def variables() -> list[Variable]:
    """Every variable the settings read, in declaration order (org blocks expanded in place)."""
    out = []
    for f in fields(Settings):
        if "org" not in f.metadata:
            out.append(Variable(_env(f.name), None, f, f.default, f.metadata.get("help", "")))
            continue
        for sub in fields(OrgSettings):
            help = sub.metadata.get("help", "").format(org=f.metadata["org"])
            out.append(
                Variable(_env(f.name, sub.name), f.name, sub, getattr(f.default, sub.name), help)
            )
    return out


@dataclass(frozen=True)
class Settings:
    """All configuration of a worker. Field ``foo_bar`` reads ``MIGRATION_FOO_BAR``; the org
    blocks ``sf1`` and ``sf2`` (:class:`OrgSettings`) read ``MIGRATION_SF1_*`` and
    ``MIGRATION_SF2_*`` (see :func:`variables`)."""

    # Kafka / Faust
    broker_url: str = setting(
        "kafka://127.0.0.1:9092", "Kafka bootstrap servers (kafka://h:p;h2:p)"
    )
    store: str = setting(
        "memory://",
        "Faust table store: memory:// (rebuilt from the changelog at every start) or rocksdb:// "
        "(kept under MIGRATION_DATA_DIR; a restart replays only the changelog tail)",
    )
    data_dir: str = setting(".faust-data", "Faust data directory (table state)")
    table_standby_replicas: int = setting(
        1, "Standby copies of each table partition kept warm by other workers (Faust)"
    )
    rocksdb_write_buffer_mb: int = setting(
        8, "RocksDB memtable size per table partition (MiB; rocksdb:// only)"
    )
    rocksdb_block_cache_mb: int = setting(
        16, "RocksDB read cache per table partition (MiB; rocksdb:// only)"
    )
    topic_partitions: int = setting(4, "Partitions of the app's topics and tables")
    topic_replication_factor: int = setting(1, "Replication factor of topics Faust creates")
    broker_session_timeout: float = setting(10.0, "Consumer group session timeout (s)")
    broker_heartbeat_interval: float = setting(3.0, "Consumer heartbeat interval (s)")
    broker_rebalance_timeout: float = setting(60.0, "Consumer group rebalance timeout (s)")
    broker_request_timeout: float = setting(40.0, "Kafka request timeout (s)")
    consumer_fetch_max_wait: float = setting(
        0.1, "Longest wait of a consumer fetch at the broker (s; Faust's own is 1.5)"
    )
    producer_max_batch_size: int = setting(
        16384, "Producer batch size in bytes (the dev broker needs 16: one record per batch)"
    )
    recovery_consistency_check: bool = setting(
        True, "Check table changelog offsets on recovery (false for the dev broker)"
    )
    # Web and monitor
    web_host: str = setting("127.0.0.1", "Host name the web views advertise")
    web_port: int = setting(6066, "Port of the Faust web views (/health, /metrics, ...)")
    web_bind: str = setting("0.0.0.0", "Address the web server binds")
    debug_token: Secret = setting(
        Secret(""),
        "Bearer token for /debug/pprof/* (unset: debug views disabled); at least 32 characters, "
        "different from every console token",
        secret=True,
    )
    operator_token: Secret = setting(
        Secret(""),
        "Operator console tokens that may act (re-migrate, dry run, verify, rollback): `token` or "
        "`name:token,name2:token2`, each secret at least 32 characters without `,` or `:` "
        "(unset: the console is read-only)",
        secret=True,
    )
    console_read_token: Secret = setting(
        Secret(""),
        "Read-only console tokens (customer pages and JSON): `token` or `name:token,...`, each "
        "secret at least 32 characters without `,` or `:`",
        secret=True,
    )
    console_public: bool = setting(
        False,
        "Serve customer pages without a token (only behind an auth proxy; `dev` sets it)",
    )
    monitor_enabled: bool = setting(True, "Start aiomonitor (telnet console) with the worker")
    monitor_host: str = setting("127.0.0.1", "Address aiomonitor binds (keep it local)")
    monitor_port: int = setting(50101, "aiomonitor telnet UI port")
    monitor_console_port: int = setting(50102, "aiomonitor Python console port")
    monitor_webui_port: int = setting(50201, "aiomonitor web UI port")
    monitor_hook_task_factory: bool = setting(
        False, "Let aiomonitor record task creation chains (costs throughput)"
    )
    # PostgreSQL
    database_url: Secret = setting(
        Secret(""), "PostgreSQL DSN for audit rows (unset: embedded pgserver in dev)", secret=True
    )
    database_pool_size: int = setting(5, "Max connections in the audit pool")
    database_timeout: float = setting(5.0, "Connect and statement timeout for PostgreSQL (s)")
    # Schema registry
    registry_url: str = setting("http://127.0.0.1:8081", "Confluent schema registry URL")
    registry_username: str = setting("", "Schema registry basic-auth user")
    registry_password: Secret = setting(
        Secret(""), "Schema registry basic-auth password", secret=True
    )
    registry_timeout: float = setting(5.0, "Total timeout of one registry call (s)")
    # Salesforce (one block per org: sf1 = V1, the source; sf2 = V2, the target)
    sf1: OrgSettings = org_setting("V1", "http://127.0.0.1:8101")
    sf2: OrgSettings = org_setting("V2", "http://127.0.0.1:8102")
    sf_api_version: str = setting(
        DEFAULT_API_VERSION, "Salesforce REST API version (README: why this one)"
    )
    sf_connect_timeout: float = setting(3.0, "Salesforce connect timeout (s)")
    sf_read_timeout: float = setting(30.0, "Salesforce read timeout (s)")
    sf_max_workers: int = setting(8, "Threads for Salesforce calls (bounded executor), per org")
    sf_max_retries: int = setting(5, "Retries of a transient Salesforce failure")
    sf_api_floor: int = setting(1000, "Pause new work while V2 remaining daily API calls < this")
    # Pipeline
    batch_size: int = setting(200, "Customer events taken per batch (stream.take)")
    batch_within: float = setting(0.5, "Max seconds to wait filling a batch")
    concurrency: int = setting(1, "Agent concurrency (actors per worker; keep 1: order)")
    load_concurrency: int = setting(
        8,
        "V2 write requests in flight at once, all batches together (keep <= "
        "MIGRATION_SF_MAX_WORKERS; Salesforce caps long-running requests per org)",
    )
    pipeline_depth: int = setting(
        3, "Batches migrating at once per actor (order per customer kept; 1: one at a time)"
    )
    mapping_file: str = setting("", "Path of the V1->V2 mapping YAML (unset: packaged mapping)")
    load_strategy: str = setting(
        "graph",
        "graph (one atomic Composite Graph per customer), collections, bulk (Bulk API 2.0, "
        "per customer all or nothing by compensation) or auto (README)",
    )
    bulk_threshold: int = setting(
        2000, "auto: a batch with more records than this is loaded with bulk, else with graph"
    )
    bulk_deadline: float = setting(
        600.0, "Seconds a Bulk API job may take before it is aborted (its records then fail)"
    )
    require_atomic: bool = setting(
        False, "Fail a customer too large for one graph instead of loading it with collections"
    )
    verify_sample: float = setting(
        0.0, "Share of completed customers the worker verifies against V2 (0.01 = 1 %)"
    )
    file_bytes_in_flight: int = setting(
        64 * 1024 * 1024,
        "Bytes of files being copied V1 -> V2 at once, all batches together (a file larger than "
        "this still goes, alone); bounds the worker's memory whatever the files' total size",
    )
    file_concurrency: int = setting(
        4, "Files copied at once, all batches together (keep < MIGRATION_SF_MAX_WORKERS)"
    )
    file_base64_max_bytes: int = setting(
        256 * 1024,
        "Files up to this size are sent base64 in JSON (held in memory, one call); larger ones "
        "are streamed as multipart",
    )
    allow_duplicate_save: bool = setting(
        False, "Send Sforce-Duplicate-Rule-Header allowSave=true (duplicate rules let data in)"
    )
    # Health and leak watchdog
    health_check_timeout: float = setting(2.0, "Timeout of each dependency health check (s)")
    health_cache_ttl: float = setting(5.0, "Seconds a health result is reused")
    watchdog_interval: float = setting(10.0, "Leak watchdog sampling interval (s)")
    watchdog_window: int = setting(6, "Samples in one window of the leak watchdog")
    watchdog_windows: int = setting(
        2,
        "Consecutive windows of steady growth before a leak is suspected (a warm-up grows "
        "for about one, then plateaus)",
    )
    # Mode
    dev_mode: bool = setting(False, "Dev mode: sandbox defaults for missing credentials")
    log_level: str = setting("info", "Log level of the worker")
    shutdown_timeout: float = setting(
        90.0,
        "Seconds from SIGTERM until the worker forces its exit, logging what was still pending "
        "(keep it below the pod's terminationGracePeriodSeconds, 120)",
    )
    fault_kill_at: str = setting(
        "",
        "Tests only: the worker kills itself (SIGKILL) at this named point, e.g. "
        "`between-result-and-state@2` (unset: never)",
    )

    def __repr__(self) -> str:  # dataclass repr is fine but be explicit that secrets stay masked
        parts = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)]
        return f"Settings({', '.join(parts)})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate; raise SettingsError listing every problem."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        orgs: dict[str, dict[str, Any]] = {org: {} for org in ORGS}
        problems: list[str] = []
        for variable in variables():
            raw = env.get(variable.name)
            if raw is None:
                continue
            try:
                value = _PARSERS[_type_name(variable.field)](raw.strip())
            except ValueError as exc:
                problems.append(f"{variable.name}: {exc}")
                continue
            (values if variable.org is None else orgs[variable.org])[variable.field.name] = value
        if problems:
            raise SettingsError(problems)
        defaults = cls()
        for org, changes in orgs.items():
            if changes:
                values[org] = dataclasses.replace(defaults.org(org), **changes)
        settings = cls(**values)
        if settings.dev_mode:
            settings = settings.with_dev_defaults()
        settings.validate()
        return settings

    def with_dev_defaults(self) -> Settings:
        """Sandbox credentials for whatever is unset (dev mode only), matching what `make dev`
        starts: V1 through its External Client App (client credentials), V2 with JWT when the
        dev stack's key pair is there (V2 has SOAP login() disabled, as new orgs do), else the
        sandbox's legacy password."""
        sf1, sf2 = self.sf1, self.sf2
        if not sf1.auth:
            sf1 = dataclasses.replace(
                sf1,
                auth="client_credentials",
                client_id=sf1.client_id or DEV_CLIENT_ID,
                client_secret=sf1.client_secret or Secret(DEV_CLIENT_SECRET),
            )
        if not sf2.auth and Path(DEV_JWT_KEY).is_file():
            sf2 = dataclasses.replace(
                sf2,
                auth="jwt",
                client_id=sf2.client_id or DEV_CLIENT_ID,
                private_key_file=sf2.private_key_file or str(Path(DEV_JWT_KEY).resolve()),
            )
        updates: dict[str, Any] = {"sf1": _dev_password_login(sf1, "1")}
        updates["sf2"] = _dev_password_login(sf2, "2")
        pgdata = Path(DEV_PGDATA)
        if not self.database_url and pgdata.is_dir():  # the embedded PostgreSQL of `make dev`
            updates["database_url"] = Secret(embedded_database_url(pgdata))
        return dataclasses.replace(self, **updates)

    def validate(self) -> None:
        problems: list[str] = []
        for server in self.broker_url.replace("kafka://", "").split(";"):
            host, _, port = server.strip().rpartition(":")
            if not self.broker_url.startswith("kafka://") or not host or not port.isdigit():
                problems.append(
                    f"{_env('broker_url')}: expected kafka://host:port[;host:port], "
                    f"got {self.broker_url!r}"
                )
                break
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                continue
            if isinstance(value, int | float) and value < 0:
                problems.append(f"{_env(f.name)}: must not be negative, got {value}")
            if f.name.endswith(("_timeout", "_interval", "_ttl", "_wait")) and value == 0:
                problems.append(f"{_env(f.name)}: must be greater than 0")
            if f.name.endswith("_port") and not 0 < value < 65536:
                problems.append(f"{_env(f.name)}: must be a TCP port (1-65535), got {value}")
        for name in (
            "topic_partitions",
            "batch_size",
            "concurrency",
            "pipeline_depth",
            "load_concurrency",
            "sf_max_workers",
            "file_bytes_in_flight",
            "file_concurrency",
            "watchdog_windows",
        ):
            if getattr(self, name) < 1:
                problems.append(f"{_env(name)}: must be at least 1")
        if self.watchdog_window < 2:
            problems.append(f"{_env('watchdog_window')}: must be at least 2 (samples)")
        if self.load_concurrency > self.sf_max_workers:
            problems.append(
                f"{_env('load_concurrency')} ({self.load_concurrency}) is more than "
                f"{_env('sf_max_workers')} ({self.sf_max_workers}): the extra requests would only "
                "wait for a thread"
            )
        if self.file_concurrency >= self.sf_max_workers:
            problems.append(
                f"{_env('file_concurrency')} ({self.file_concurrency}) must be less than "
                f"{_env('sf_max_workers')} ({self.sf_max_workers}): a file holds a V2 thread for "
                "its whole upload, and the records' calls need threads too"
            )
        parts = urlsplit(self.registry_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(
                f"{_env('registry_url')}: expected an http(s) URL, got {self.registry_url!r}"
            )
        if self.database_url and not self.database_url.reveal().startswith(
            ("postgresql://", "postgres://")
        ):
            problems.append(f"{_env('database_url')}: expected postgresql://... (value hidden)")
        for org in ORGS:
            problems += self.org(org).problems(org, dev_mode=self.dev_mode)
        if self.store.split("://")[0] not in ("memory", "rocksdb") or "://" not in self.store:
            problems.append(f"{_env('store')}: memory:// or rocksdb://, got {self.store!r}")
        for name in ("rocksdb_write_buffer_mb", "rocksdb_block_cache_mb"):
            if getattr(self, name) < 1:
                problems.append(f"{_env(name)}: must be at least 1")
        if not 0.0 <= self.verify_sample <= 1.0:
            problems.append(f"{_env('verify_sample')}: a share within [0, 1]")
        if self.load_strategy not in ("graph", "collections", "bulk", "auto"):
            problems.append(
                f"{_env('load_strategy')}: graph, collections, bulk or auto, "
                f"got {self.load_strategy!r}"
            )
        if not self.dev_mode:
            if not self.database_url:
                problems.append(f"{_env('database_url')}: required outside dev mode")
        if self.fault_kill_at:
            try:
                fault_points.parse(self.fault_kill_at)
            except ValueError as exc:
                problems.append(f"{_env('fault_kill_at')}: {exc}")
        problems += tokens.problems(
            [
                (_env("operator_token"), str(self.operator_token), "operator"),
                (_env("console_read_token"), str(self.console_read_token), "reader"),
            ],
            (_env("debug_token"), str(self.debug_token)),
        )
        if self.log_level.lower() not in ("debug", "info", "warning", "error", "critical"):
            problems.append(f"{_env('log_level')}: one of debug, info, warning, error, critical")
        if problems:
            raise SettingsError(problems)

    @property
    def uses_rocksdb(self) -> bool:
        return self.store.startswith("rocksdb://")

    def table_options(self) -> dict[str, Any] | None:
        """RocksDB options of the table (None for memory://). Faust's defaults (64 MiB x 3
        memtables and a 2 GiB block cache per partition) would let RSS grow far past the pod's
        memory limit; the table's values are small, so a few MiB per partition suffice."""
        if not self.uses_rocksdb:
            return None
        mib = 1024 * 1024
        return {
            "driver": "rocksdict",
            "write_buffer_size": self.rocksdb_write_buffer_mb * mib,
            "max_write_buffer_number": 2,
            "block_cache_size": self.rocksdb_block_cache_mb * mib,
            "target_file_size_base": self.rocksdb_write_buffer_mb * mib,
        }

    def org(self, name: str) -> OrgSettings:
        """The settings of org ``sf1`` (V1, the source) or ``sf2`` (V2, the target)."""
        if name == "sf1":
            return self.sf1
        if name == "sf2":
            return self.sf2
        raise ValueError(f"no org {name!r}: one of {', '.join(ORGS)}")

    def faust_broker(self) -> list[str]:
        return [s.strip() for s in self.broker_url.split(";") if s.strip()]


def _dev_password_login(org: OrgSettings, n: str) -> OrgSettings:
    """The sandbox org ``n``'s password login for whatever is still unset (dev mode)."""
    return dataclasses.replace(
        org,
        auth=org.auth or "password",
        username=org.username or f"migration@v{n}.sandbox",
        password=org.password or Secret(f"sandbox-v{n}-password"),
        security_token=org.security_token or Secret(f"sandbox-v{n}-token"),
    )


def _private_key_problems(variable: str, path: str) -> list[str]:
    """A readable PEM private key (RSA, as the JWT bearer flow's RS256 needs); never its bytes."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return [f"{variable}: cannot read the private key file {path!r} ({exc.strerror})"]
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        return [f"{variable}: {path!r} is not an unencrypted PEM private key"]
    if not isinstance(key, RSAPrivateKey):
        return [f"{variable}: {path!r} is not an RSA key (the JWT bearer flow signs with RS256)"]
    return []


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _parse_int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"expected an integer, got {raw!r}") from None


def _parse_float(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"expected a number, got {raw!r}") from None


_PARSERS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "int": _parse_int,
    "float": _parse_float,
    "bool": _parse_bool,
    "Secret": Secret,
}


def _type_name(f: dataclasses.Field[Any]) -> str:
    return f.type if isinstance(f.type, str) else f.type.__name__


def known_env_vars() -> set[str]:
    """Every environment variable the settings object reads (manifests are checked against it)."""
    return {variable.name for variable in variables()}


def embedded_database_url(pgdata: Path) -> str:
    """The URL of the dev stack's embedded PostgreSQL (pgserver) on its data directory."""
    return f"postgresql://postgres:@/postgres?host={pgdata.resolve()}"


def documentation() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) rows for the README configuration table."""
    rows = []
    for variable in variables():
        default = "(secret, unset)" if variable.secret else repr(variable.default)
        rows.append((variable.name, default, variable.help))
    return rows
