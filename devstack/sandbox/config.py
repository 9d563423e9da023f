"""SandboxConfig: everything one sandbox org needs to start, with the per-org defaults."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .cost_model import CostModel
from .seed import SeedOptions

DEFAULTS = {
    "v1": {
        "port": 8101,
        "customers": 200,
        "username": "migration@v1.sandbox",
        "password": "sandbox-v1-password",
        "security_token": "sandbox-v1-token",
        "org_code": "1S",
    },
    "v2": {
        "port": 8102,
        "customers": 0,
        "username": "migration@v2.sandbox",
        "password": "sandbox-v2-password",
        "security_token": "sandbox-v2-token",
        "org_code": "2S",
    },
}


@dataclass(frozen=True)
class SandboxConfig:
    """Settings of one org. None means "the org's default" (see DEFAULTS and docs/orgs.md)."""

    org: str = "v1"
    host: str = "127.0.0.1"
    port: int | None = None  # 0 = pick a free port
    customers: int | None = None
    seed: int = 42
    username: str | None = None
    password: str | None = None
    security_token: str | None = None
    client_id: str = "sandbox-client-id"
    client_secret: str = "sandbox-client-secret"
    #: PEM certificate or public key of the External Client App (JWT bearer flow); None: no JWT.
    jwt_cert: str | None = None
    #: SOAP login(): orgs created since Winter '26 have it disabled (and it is gone from API 65.0).
    soap_login: bool = True
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    #: server time per record saved (every write path), on top of latency_ms
    per_record_ms: float = 0.0
    #: record faults, "Contact=0.1:FIELD_CUSTOM_VALIDATION_EXCEPTION:Email" (see faults.py)
    fail_records: tuple[str, ...] = ()
    #: duplicate rules, "Contact.Email": a second record with that value (any case) is refused
    #: with DUPLICATES_DETECTED unless the request says Sforce-Duplicate-Rule-Header: allowSave=true
    duplicate_rules: tuple[str, ...] = ()
    dirty_rate: float = 0.05
    #: V1 seed: share of customers that are sites of another customer (Account.ParentId)
    site_rate: float = 0.05
    #: V1 seed: share of customers with Tasks, share of Cases with an e-mail thread
    task_rate: float = 0.6
    email_rate: float = 0.35
    #: V1 seed: share of customers with files, files per such customer (min, max), a file's size
    #: in KB (min, max, log-uniform), and the total MB all files are scaled to (None: unscaled)
    file_rate: float = 0.2
    files_per_customer: tuple[int, int] = (1, 3)
    file_kb: tuple[float, float] = (4.0, 4096.0)
    files_total_mb: float | None = None
    api_daily_max: int = 100_000
    session_ttl_s: float | None = None
    extra_external_ids: tuple[str, ...] = ()  # "Object.Field": non-unique external ids (tests)
    #: "Set Audit Fields upon Record Creation" granted: CreatedDate, CreatedById,
    #: LastModifiedDate and LastModifiedById createable on a POST create (never on an upsert)
    #: (None: the org's default, v2 yes, v1 no)
    set_audit_fields: bool | None = None
    #: "Update Records with Inactive Owners": an inactive OwnerId is accepted
    allow_inactive_owners: bool = False
    #: where the org keeps what is not in memory (the files' bytes under `files/`); None: a
    #: temporary directory, removed when the sandbox stops
    state_dir: str | None = None
    #: sandbox only: accept Account.ParentId loops (A -> B -> A), which Salesforce refuses
    allow_hierarchy_loops: bool = False
    #: the org cost model (cost_model.py, docs/orgs.md "Org cost model"): off by default
    #: (except its concurrent long-running request limit, which always applies)
    cost_model: CostModel = field(default_factory=CostModel)

    def __post_init__(self) -> None:
        if self.org not in DEFAULTS:
            raise ValueError(f"org must be v1 or v2, not {self.org!r}")
        if not 0.0 <= self.dirty_rate <= 1.0:
            raise ValueError("dirty_rate must be within [0, 1]")
        if self.per_record_ms < 0:
            raise ValueError("per_record_ms must be >= 0")

    def resolved(self) -> SandboxConfig:
        """A copy with every None replaced by the org's default."""
        d = DEFAULTS[self.org]
        resolved = replace(
            self,
            **{
                k: d[k]
                for k in ("port", "customers", "username", "password", "security_token")
                if getattr(self, k) is None
            },
        )
        if resolved.set_audit_fields is None:
            resolved = replace(resolved, set_audit_fields=self.org == "v2")
        return resolved

    def seed_options(self) -> SeedOptions:
        """What the V1 seed adds to each customer (sites, and see SeedOptions)."""
        return SeedOptions(
            site_rate=self.site_rate,
            task_rate=self.task_rate,
            email_rate=self.email_rate,
            file_rate=self.file_rate,
            files_per_customer=self.files_per_customer,
            file_kb=self.file_kb,
            files_total_mb=self.files_total_mb,
        )

    @property
    def org_code(self) -> str:
        return str(DEFAULTS[self.org]["org_code"])
