"""Per-customer migration state, kept in the ``migration_state`` Faust table.

PENDING -> IN_PROGRESS -> COMPLETED | FAILED (DRY_RUN for previews). The transitions live here so
the agent stays a loop over a stream and the rules can be unit-tested without Kafka.
"""

from __future__ import annotations

import time

import faust

from migration_app.contracts.customer_status import TERMINAL_STATUSES, CustomerStatus


class MigrationState(faust.Record, serializer="json"):
    """What operators see at /migrations/{customer_id}."""

    customer_id: str
    status: str = CustomerStatus.PENDING.value
    attempt: int = 0
    correlation_id: str = ""
    updated_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    v2_account_id: str | None = None
    counts: dict[str, int] | None = None
    warnings: int = 0
    errors: int = 0
    #: no longer written (a duplicate changes no state; see migration_app_duplicate_events_total);
    #: kept so entries written by earlier versions still decode
    skipped_duplicates: int = 0
    last_error: str | None = None


def new_state(customer_id: str) -> MigrationState:
    return MigrationState(customer_id=customer_id, updated_at=time.time())


def should_skip(state: MigrationState | None, *, force: bool) -> bool:
    """A replayed or duplicated event for a COMPLETED customer is skipped unless forced."""
    return state is not None and state.status == CustomerStatus.COMPLETED and not force


def started(state: MigrationState, correlation_id: str, now: float | None = None) -> MigrationState:
    now = time.time() if now is None else now
    return state.derive(
        status=CustomerStatus.IN_PROGRESS.value,
        attempt=state.attempt + 1,
        correlation_id=correlation_id,
        started_at=now,
        finished_at=None,
        updated_at=now,
        last_error=None,
    )


def finished(
    state: MigrationState,
    status: CustomerStatus,
    *,
    counts: dict[str, int],
    warnings: int,
    errors: int,
    v2_account_id: str | None = None,
    last_error: str | None = None,
    now: float | None = None,
) -> MigrationState:
    if status not in TERMINAL_STATUSES:
        raise ValueError(f"{status} is not a terminal status")
    now = time.time() if now is None else now
    return state.derive(
        status=status.value,
        counts=counts,
        warnings=warnings,
        errors=errors,
        v2_account_id=v2_account_id,
        last_error=last_error,
        finished_at=now,
        updated_at=now,
    )
