"""Connection settings of the audit pool: the DSN (never in reprs or logs), pool size and
timeouts, and the libpq DSN they make (``connection_dsn``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import psycopg2.extensions

from migration_app.ops.redaction import redact_dsn


@dataclass(frozen=True)
class AuditSettings:
    """Connection settings of the audit pool (the DSN never appears in reprs or logs)."""

    dsn: str = field(repr=False)
    pool_min: int = 1
    pool_max: int = 5
    timeout: float = 5.0  # connect, acquire and statement timeout (s)
    schema_change_timeout: float = 60.0  # statement timeout while applying schema changes (s)
    application_name: str = "migration_app"

    def __post_init__(self) -> None:
        if not 0 <= self.pool_min <= self.pool_max or self.pool_max < 1:
            raise ValueError(
                f"need 0 <= pool_min <= pool_max >= 1, got {self.pool_min}/{self.pool_max}"
            )
        if self.timeout <= 0 or self.schema_change_timeout <= 0:
            raise ValueError("timeouts must be greater than 0")

    def __repr__(self) -> str:
        return (
            f"AuditSettings(dsn={redact_dsn(self.dsn)!r}, pool_min={self.pool_min}, "
            f"pool_max={self.pool_max}, timeout={self.timeout}, "
            f"schema_change_timeout={self.schema_change_timeout})"
        )

    def connection_dsn(self) -> str:
        """The DSN with our timeouts, keepalives and application name merged into it."""
        params = psycopg2.extensions.parse_dsn(self.dsn)
        statement_ms = max(1, int(self.timeout * 1000))
        options = params.get("options", "")
        params["options"] = f"{options} -c statement_timeout={statement_ms}".strip()
        # libpq's connect_timeout is whole seconds and treats values below 2 as 2.
        params["connect_timeout"] = str(max(2, math.ceil(self.timeout)))
        params.setdefault("application_name", self.application_name)
        params.setdefault("keepalives", "1")
        params.setdefault("keepalives_idle", "30")
        params.setdefault("keepalives_interval", "10")
        params.setdefault("keepalives_count", "3")
        return psycopg2.extensions.make_dsn(**params)
