"""Faust records mirroring the Avro contracts in ``migration_app/contracts/schemas``.

The wire format is Avro (see ``avro.py``); these records are what agents and tables hold. The
``to_avro``/``from_avro`` helpers convert to and from the plain dicts fastavro reads and writes,
so the field names here must stay equal to the .avsc field names (a unit test checks that).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import faust


class ResultStatus(enum.StrEnum):
    """Status of a customer-migrations result event: the symbols of its Avro enum (named
    ``MigrationStatus`` in the schema; reader default UNKNOWN). A superset of `CustomerStatus`."""

    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    DRY_RUN = "DRY_RUN"
    SKIPPED = "SKIPPED"
    UNKNOWN = "UNKNOWN"
    ROLLED_BACK = "ROLLED_BACK"  # appended: a compatible change (older readers see UNKNOWN)


#: What a CustomerReadyForMigration asks for (the Avro enum CustomerAction).
MIGRATE = "MIGRATE"
ROLLBACK = "ROLLBACK"


def _utc(value: datetime) -> datetime:
    """Avro timestamp-millis needs an aware datetime; naive ones are taken as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _millis(value: datetime) -> datetime:
    """Drop sub-millisecond precision so a round trip through Avro compares equal."""
    value = _utc(value)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


class CustomerReadyForMigration(faust.Record, serializer="json", isodates=True):
    """Topic ``customer``: a customer is ready to move from V1 to V2."""

    customer_id: str
    occurred_at: datetime
    correlation_id: str
    requested_by: str = "unknown"
    dry_run: bool = False
    force: bool = False
    action: str = MIGRATE

    def to_avro(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "occurred_at": _millis(self.occurred_at),
            "correlation_id": self.correlation_id,
            "requested_by": self.requested_by,
            "dry_run": self.dry_run,
            "force": self.force,
            "action": self.action,
        }

    @classmethod
    def from_avro(cls, data: dict[str, Any]) -> CustomerReadyForMigration:
        return cls(
            customer_id=data["customer_id"],
            occurred_at=_utc(data["occurred_at"]),
            correlation_id=data["correlation_id"],
            requested_by=data.get("requested_by", "unknown"),
            dry_run=bool(data.get("dry_run", False)),
            force=bool(data.get("force", False)),
            action=str(data.get("action") or MIGRATE),
        )


class MigrationIssue(faust.Record, serializer="json"):
    """One warning or error about one V1 record."""

    object: str
    legacy_id: str
    code: str
    message: str
    field: str | None = None

    def to_avro(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "legacy_id": self.legacy_id,
            "field": self.field,
            "code": self.code,
            "message": self.message,
        }

    @classmethod
    def from_avro(cls, data: dict[str, Any]) -> MigrationIssue:
        return cls(
            object=data["object"],
            legacy_id=data["legacy_id"],
            field=data.get("field"),
            code=data["code"],
            message=data["message"],
        )


class CustomerMigrationResult(faust.Record, serializer="json", isodates=True):
    """Topic ``customer-migrations``: the outcome of one attempt for one customer."""

    customer_id: str
    status: str
    started_at: datetime
    finished_at: datetime
    attempt: int = 1
    correlation_id: str | None = None
    v2_account_id: str | None = None
    counts: dict[str, int] = {}
    warnings: list[MigrationIssue] = []
    errors: list[MigrationIssue] = []

    def __post_init__(self) -> None:
        # Faust shares a mutable default between instances: give each instance its own.
        self.counts = dict(self.counts)
        self.warnings = [_issue(i) for i in self.warnings]
        self.errors = [_issue(i) for i in self.errors]

    def to_avro(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "status": ResultStatus(self.status).value,
            "attempt": self.attempt,
            "correlation_id": self.correlation_id,
            "v2_account_id": self.v2_account_id,
            "counts": dict(self.counts),
            "warnings": [i.to_avro() for i in self.warnings],
            "errors": [i.to_avro() for i in self.errors],
            "started_at": _millis(self.started_at),
            "finished_at": _millis(self.finished_at),
        }

    @classmethod
    def from_avro(cls, data: dict[str, Any]) -> CustomerMigrationResult:
        return cls(
            customer_id=data["customer_id"],
            status=data.get("status", ResultStatus.UNKNOWN.value),
            attempt=data.get("attempt", 1),
            correlation_id=data.get("correlation_id"),
            v2_account_id=data.get("v2_account_id"),
            counts=dict(data.get("counts") or {}),
            warnings=[MigrationIssue.from_avro(i) for i in data.get("warnings") or []],
            errors=[MigrationIssue.from_avro(i) for i in data.get("errors") or []],
            started_at=_utc(data["started_at"]),
            finished_at=_utc(data["finished_at"]),
        )


def _issue(value: MigrationIssue | dict[str, Any]) -> MigrationIssue:
    """Faust leaves nested records as dicts after JSON round trips; accept both."""
    if isinstance(value, MigrationIssue):
        return value
    return MigrationIssue.from_avro({k: v for k, v in value.items() if k != "__faust"})
