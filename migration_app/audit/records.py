"""What the audit database records: one :class:`RunRecord` per customer attempt, with its issues
and its :class:`LedgerEntry` rows (the V2 records the run wrote), and the JSON that
``AuditStore.record_runs`` sends in one statement (``runs_payload``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from migration_app.contracts.customer_status import TERMINAL_STATUSES

SEVERITIES = frozenset({"warning", "error"})


class IssueLike(Protocol):
    """What record_runs needs of an issue (``migration.issues.Issue`` fits)."""

    @property
    def severity(self) -> str: ...
    @property
    def object(self) -> str: ...
    @property
    def legacy_id(self) -> str | None: ...
    @property
    def field(self) -> str | None: ...
    @property
    def code(self) -> str: ...
    @property
    def message(self) -> str: ...


Timestamp = datetime | float
#: uncertain: found in V2 right after an interrupted attempt (maybe ours; rollback keeps it)
LEDGER_ACTIONS = frozenset({"created", "updated", "uncertain", "deleted"})
VERDICTS = ("MATCH", "DRIFT", "MISSING", "UNEXPECTED", "EDITED_IN_V2")


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One V2 record a run wrote or a rollback deleted: the basis of idmap, verify, rollback."""

    object: str  # V2 object
    legacy_id: str
    v2_id: str
    action: str  # created | updated | deleted

    def __post_init__(self) -> None:
        if self.action not in LEDGER_ACTIONS:
            raise ValueError(f"ledger action must be one of {sorted(LEDGER_ACTIONS)}")


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One migration attempt of one customer; ``(customer_id, attempt)`` is its identity."""

    customer_id: str
    attempt: int
    status: str  # COMPLETED | FAILED | DRY_RUN
    correlation_id: str | None
    started_at: Timestamp  # aware datetime, naive datetime (taken as UTC) or epoch seconds
    finished_at: Timestamp
    worker: str | None
    counts: Mapping[str, Any] = field(default_factory=dict)  # {object: {created, updated}}
    rejected: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    issues: Sequence[IssueLike] = ()
    records: Sequence[LedgerEntry] = ()

    def __post_init__(self) -> None:
        if self.status not in TERMINAL_STATUSES:
            raise ValueError(
                f"status must be one of {sorted(TERMINAL_STATUSES)}, got {self.status!r}"
            )
        for issue in self.issues:
            if issue.severity not in SEVERITIES:
                raise ValueError(f"issue severity must be warning or error: {issue.severity!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "attempt": self.attempt,
            "status": self.status,
            "correlation_id": self.correlation_id,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "worker": self.worker,
            "counts": dict(self.counts),
            "rejected": dict(self.rejected),
            "error": self.error,
            "issues": [
                {
                    "severity": i.severity,
                    "object": i.object,
                    "legacy_id": i.legacy_id,
                    "field": i.field,
                    "code": i.code,
                    "message": i.message,
                }
                for i in self.issues
            ],
            "records": [
                {"object": r.object, "legacy_id": r.legacy_id, "v2_id": r.v2_id, "action": r.action}
                for r in self.records
            ],
        }


def _iso(value: Timestamp) -> str:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return datetime.fromtimestamp(float(value), UTC).isoformat()


def _without_nul(value: Any) -> Any:
    """PostgreSQL text and jsonb cannot hold NUL; dirty legacy data sometimes does."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def runs_payload(runs: Iterable[RunRecord]) -> str:
    """JSON array of runs for record_runs; the last record of a repeated key wins."""
    latest: dict[tuple[str, int], RunRecord] = {}
    for run in runs:
        latest.pop((run.customer_id, run.attempt), None)
        latest[(run.customer_id, run.attempt)] = run
    payload = json.dumps([run.to_json() for run in latest.values()], separators=(",", ":"))
    if "\\u0000" in payload:
        payload = json.dumps(_without_nul(json.loads(payload)), separators=(",", ":"))
    return payload
